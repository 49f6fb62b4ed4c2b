// Numbers and the Markdown of bench/fleet-soak.ts: the end-to-end latency
// histogram the workers export, memory slopes, the result tables.
import { cell, round } from './stats.js';

/** Cumulative bucket counts of `livemask_stage_latency_seconds{stage="end-to-end"}`, by upper bound (s; Infinity for +Inf). */
export type Buckets = Map<number, number>;

export function endToEndBuckets(metrics: string): Buckets {
  const out: Buckets = new Map();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('livemask_stage_latency_seconds_bucket{') || !line.includes('stage="end-to-end"')) {
      continue;
    }
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le !== undefined && Number.isFinite(value)) {
      out.set(le === '+Inf' ? Infinity : Number(le), value);
    }
  }
  return out;
}

/** Mean of the end-to-end histogram between two scrapes (its _sum over its _count), ms; NaN when no frame. */
export function meanDeltaMs(end: string, start: string): number {
  const pick = (text: string, suffix: string): number =>
    Number(text.split('\n').find((l) => l.startsWith(`livemask_stage_latency_seconds_${suffix}{`) && l.includes('stage="end-to-end"'))?.split(' ').pop() ?? NaN);
  const count = pick(end, 'count') - pick(start, 'count');
  return count > 0 ? (1000 * (pick(end, 'sum') - pick(start, 'sum'))) / count : NaN;
}

/** A counter's value (summed over its label sets), 0 when absent. */
export function counter(metrics: string, name: string): number {
  return metrics
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((a, l) => a + (Number(l.slice(l.lastIndexOf(' ') + 1)) || 0), 0);
}

export function bucketDelta(end: Buckets, start: Buckets): Buckets {
  return new Map([...end].map(([le, n]) => [le, n - (start.get(le) ?? 0)]));
}

export function bucketSum(all: readonly Buckets[]): Buckets {
  const out: Buckets = new Map();
  for (const b of all) {
    for (const [le, n] of b) {
      out.set(le, (out.get(le) ?? 0) + n);
    }
  }
  return out;
}

/**
 * Quantile `q` of a cumulative histogram, ms, interpolated linearly inside
 * its bucket (as Prometheus' histogram_quantile). Infinity when it lies past
 * the last finite bound, NaN when the histogram is empty.
 */
export function histogramQuantileMs(buckets: Buckets, q: number): number {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total <= 0) {
    return NaN;
  }
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const le of bounds) {
    const count = buckets.get(le) ?? 0;
    if (count >= rank) {
      if (!Number.isFinite(le)) {
        return Infinity;
      }
      const within = count - below;
      return 1000 * (within > 0 ? lower + ((le - lower) * (rank - below)) / within : le);
    }
    lower = le;
    below = count;
  }
  return Infinity;
}

/** Least-squares slope of y (bytes) over t (ms), in MB per minute; NaN with fewer than 2 points. */
export function slopeMbPerMin(points: readonly { t: number; y: number }[]): number {
  if (points.length < 2) {
    return NaN;
  }
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den > 0 ? ((num / den) * 60_000) / 2 ** 20 : NaN;
}

export const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);

/** A latency cell: "> 1280" past the histogram's last bound. */
export function msCell(ms: number, lastBoundMs: number): string {
  return ms === Infinity ? `> ${lastBoundMs}` : cell(ms, 0);
}

export interface RoomRow {
  room: string;
  worker: string;
  served: boolean;
  framesSent: number;
  framesReceived: number;
  droppedPct: number;
  firstPictureMs: number | null;
  evidence: string;
  error: string | null;
}

export interface WorkerRow {
  worker: string;
  rooms: number;
  latencyMs: { p50: number; p95: number; mean: number; frames: number };
  framesMasked: number;
  failsafeFrames: number;
  memoryMb: { idle: number; start: number; peak: number; end: number; peakWithFfmpeg: number };
  slopeMbPerMin: number;
}

export function markdown(title: string, notes: string[], rooms: readonly RoomRow[], workers: readonly WorkerRow[], lastBoundMs: number): string {
  const lines = [`## ${title}`, '', ...notes.map((n) => `- ${n}`), ''];
  lines.push('| room | worker | served | frames sent | frames received | dropped | first picture ms | evidence |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rooms) {
    lines.push(`| ${r.room} | ${r.worker} | ${r.served ? 'yes' : 'NO'} | ${r.framesSent} | ${r.framesReceived} | ${cell(r.droppedPct)}% | ${cell(r.firstPictureMs, 0)} | ${r.evidence}${r.error !== null ? ` (${r.error.slice(0, 80)})` : ''} |`);
  }
  lines.push('', '| worker | rooms | latency p50 / p95 / mean ms (frames) | masked / fail-safe frames | RSS MB idle / start / peak / end | peak with ffmpeg MB | slope, 2nd half MB/min |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const w of workers) {
    const m = w.memoryMb;
    lines.push(
      `| ${w.worker} | ${w.rooms} | ${msCell(w.latencyMs.p50, lastBoundMs)} / ${msCell(w.latencyMs.p95, lastBoundMs)} / ${cell(w.latencyMs.mean, 0)} (${w.latencyMs.frames}) | ${w.framesMasked} / ${w.failsafeFrames} | ${cell(m.idle)} / ${cell(m.start)} / ${cell(m.peak)} / ${cell(m.end)} | ${cell(m.peakWithFfmpeg)} | ${cell(w.slopeMbPerMin, 2)} |`,
    );
  }
  return lines.join('\n');
}
