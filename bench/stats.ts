// Percentiles for the bench's tables (nearest rank, as the pipeline's StageTimer).
import { percentile } from '../src/pipeline/index.js';

export interface Pct {
  p50: number;
  p95: number;
  p99: number;
}

const round = (v: number, digits = 2): number => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

/** p50/p95/p99 of the samples, rounded to 0.01; NaN each when there are none. */
export function pct(xs: readonly number[]): Pct {
  if (xs.length === 0) {
    return { p50: NaN, p95: NaN, p99: NaN };
  }
  const s = [...xs].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), p99: round(percentile(s, 99)) };
}

export function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export { round };

/** A number for a Markdown cell: fixed digits, or – when not finite. */
export function cell(x: number | null | undefined, digits = 1): string {
  return x !== null && x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : '–';
}
