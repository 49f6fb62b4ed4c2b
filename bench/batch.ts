// Several streams' detections at once: what a frame costs when 1, 4 or 16
// streams' frames are due together.
//
// The pinned BlazeFace models fix their batch at 1; setup derives batch-N
// variants from them (scripts/onnx-batch.mjs, pinned in models/manifest.json),
// so N frames can go in one inference call. Rows, by how the N frames run:
//   batched     one call of N frames on the batch-N model (what the shared
//               detector thread of LIVEMASK_DETECT_BATCH=N does when N
//               streams' frames are due together);
//   sequential  one batch-1 session, N calls one after the other (what
//               detectors sharing one session would do without batching);
//   in-flight   one batch-1 session, N calls started together (onnxruntime's
//               async run on its thread pool);
//   sessions    N batch-1 sessions, one call each, started together (the
//               default live layout: a detector thread per rendition).
import { createLogger, type Logger } from '../src/core/index.js';
import { batchedEntry, defaultModelsDir, loadVerifiedModel, ModelSession, readManifest, type ModelEntry } from '../src/detect/index.js';
import { pct, round, type Pct } from './stats.js';

export type BatchMode = 'batched' | 'sequential' | 'in-flight' | 'sessions';

export interface BatchRow {
  model: 'front128' | 'back256';
  batch: number;
  mode: BatchMode;
  /** Wall time of one round (N frames) divided by N, ms: p50 and p95 over the rounds. */
  perFrameMs: Pct;
  /** Frames per second over all rounds. */
  fps: number;
  rounds: number;
}

export interface BatchResult {
  /** The execution provider the sessions really ran on. */
  ep: 'cpu' | 'cuda';
  /** Per model, the batch dimension of its batch-N variant ("N": symbolic). */
  batchDimension: Record<string, number | string | null>;
  note: string;
  rows: BatchRow[];
}

export const BATCH_SIZES = [1, 4, 16] as const;

interface Models {
  entry: ModelEntry;
  bytes: Uint8Array;
  batchedBytes: Uint8Array;
}

async function loadModels(): Promise<Models[]> {
  const dir = defaultModelsDir();
  const manifest = await readManifest();
  return Promise.all(
    manifest.map(async (entry) => ({ entry, bytes: await loadVerifiedModel(dir, entry), batchedBytes: await loadVerifiedModel(dir, batchedEntry(entry)) })),
  );
}

/** Input tensors with a smooth pattern in [-1, 1] (the models' input range). */
function tensors(size: number, n: number): Float32Array[] {
  return Array.from({ length: n }, (_, k) => {
    const t = new Float32Array(size * size * 3);
    for (let i = 0; i < t.length; i++) {
      t[i] = Math.sin((i + k * 997) / 301);
    }
    return t;
  });
}

async function rounds(n: number, rounds: number, once: () => Promise<unknown>): Promise<{ perFrame: number[]; wallMs: number }> {
  await once(); // warm-up round
  const perFrame: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await once();
    perFrame.push((performance.now() - t) / n);
  }
  return { perFrame, wallMs: performance.now() - t0 };
}

async function measureModel(m: Models, ep: 'cpu' | 'cuda', totalFrames: number, sessionsUpTo: number, logger: Logger): Promise<{ rows: BatchRow[]; dim: number | string | undefined; ep: 'cpu' | 'cuda' }> {
  const create = (): Promise<ModelSession> => ModelSession.create({ entry: m.entry, bytes: m.bytes, ep, intraOpNumThreads: 2, logger });
  const main = await create();
  const batched = await ModelSession.create({ entry: batchedEntry(m.entry), bytes: m.batchedBytes, ep: main.executionProvider, intraOpNumThreads: 2, logger });
  const rows: BatchRow[] = [];
  const row = (batch: number, mode: BatchMode, r: { perFrame: number[]; wallMs: number }): BatchRow => ({
    model: m.entry.name,
    batch,
    mode,
    perFrameMs: pct(r.perFrame),
    fps: round((1000 * batch * r.perFrame.length) / r.wallMs, 1),
    rounds: r.perFrame.length,
  });
  try {
    for (const n of BATCH_SIZES) {
      const inputs = tensors(m.entry.inputSize, n);
      const count = Math.max(2, Math.round(totalFrames / n));
      rows.push(row(n, 'batched', await rounds(n, count, () => batched.runBatch(inputs))));
      rows.push(row(n, 'sequential', await rounds(n, count, async () => {
        for (const t of inputs) {
          await main.run(t);
        }
      })));
      if (n === 1) {
        continue; // in-flight and sessions are the same as sequential for one frame
      }
      rows.push(row(n, 'in-flight', await rounds(n, count, () => Promise.all(inputs.map((t) => main.run(t))))));
      if (n > sessionsUpTo) {
        continue;
      }
      const sessions = await Promise.all(inputs.map(() => create()));
      try {
        rows.push(row(n, 'sessions', await rounds(n, count, () => Promise.all(inputs.map((t, k) => (sessions[k] as ModelSession).run(t))))));
      } finally {
        await Promise.all(sessions.map((s) => s.release()));
      }
    }
    return { rows, dim: batched.batchDimension, ep: main.executionProvider };
  } finally {
    await Promise.all([main.release(), batched.release()]);
  }
}

/**
 * Measures batch sizes 1, 4 and 16 for both models, about `totalFrames`
 * frames per (size, mode); N sessions only up to N = `sessionsUpTo`. With --ep cuda the same runs happen on CUDA, or on
 * the CPU after the provider's one fallback warning.
 */
export async function benchBatch(
  ep: 'cpu' | 'cuda',
  totalFrames: number,
  sessionsUpTo: number = Infinity,
  logger: Logger = createLogger({ level: 'warn' }),
): Promise<BatchResult> {
  const rows: BatchRow[] = [];
  const batchDimension: Record<string, number | string | null> = {};
  let used: 'cpu' | 'cuda' = ep;
  for (const m of await loadModels()) {
    const r = await measureModel(m, used, totalFrames, sessionsUpTo, logger);
    used = r.ep; // after one CUDA fallback, the next model goes straight to CPU
    rows.push(...r.rows);
    batchDimension[m.entry.name] = r.dim ?? null;
  }
  const note =
    'batched: one call of N frames on the batch-N model (LIVEMASK_DETECT_BATCH); sequential / in-flight: N calls on one batch-1 session; ' +
    'sessions: N batch-1 sessions at once (the default: a detector thread per rendition)';
  return { ep: used, batchDimension, note, rows };
}
