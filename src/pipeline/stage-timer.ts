export interface StageSummary {
  count: number;
  totalMs: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return 0;
  }
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** Collects per-stage durations and summarises them as p50/p95/p99. */
export class StageTimer {
  readonly #samples = new Map<string, number[]>();

  add(stage: string, ms: number): void {
    let list = this.#samples.get(stage);
    if (!list) {
      list = [];
      this.#samples.set(stage, list);
    }
    list.push(ms);
  }

  time<T>(stage: string, fn: () => T): T {
    const t = performance.now();
    try {
      return fn();
    } finally {
      this.add(stage, performance.now() - t);
    }
  }

  async timeAsync<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.add(stage, performance.now() - t);
    }
  }

  summary(): Record<string, StageSummary> {
    const out: Record<string, StageSummary> = {};
    const round = (v: number): number => Math.round(v * 100) / 100;
    for (const [stage, list] of this.#samples) {
      const sorted = [...list].sort((a, b) => a - b);
      out[stage] = {
        count: sorted.length,
        totalMs: round(sorted.reduce((a, b) => a + b, 0)),
        p50: round(percentile(sorted, 50)),
        p95: round(percentile(sorted, 95)),
        p99: round(percentile(sorted, 99)),
      };
    }
    return out;
  }
}
