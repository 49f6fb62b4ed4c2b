// Detector latency per model on real frames: one whole-frame pass of
// front-128 alone and of back-256 alone (the detectorMs of the result), and
// in the full run also `both` with every tile every frame and with tiles in
// turns (the file default). Pre-processing, inference and post-processing are
// the detector's own timings; total is the detect() call. After a warm-up.
import { createLogger, type I420Frame } from '../src/core/index.js';
import { DEFAULT_TILE_EVERY } from '../src/config/index.js';
import { FaceDetector, type DetectorMode } from '../src/detect/index.js';
import { pct, round, type Pct } from './stats.js';

export interface DetectorRow {
  pass: string;
  resolution: string;
  preprocess: Pct;
  inference: Pct;
  postprocess: Pct;
  total: Pct;
  fps: number;
  facesPerFrame: number;
  ep: 'cpu' | 'cuda';
}

export interface DetectorBenchOptions {
  frames: readonly I420Frame[];
  resolution: string;
  ep: 'cpu' | 'cuda';
  runs: number;
  warmup?: number;
  /** Also the `both` passes (slow: every small-face tile). */
  both: boolean;
}

async function passRow(o: DetectorBenchOptions, mode: DetectorMode, tileEvery: number): Promise<DetectorRow> {
  const detector = await FaceDetector.create({ mode, ep: o.ep, tileEvery, lowLight: mode === 'both', logger: createLogger({ level: 'warn' }) });
  const pre: number[] = [];
  const inf: number[] = [];
  const post: number[] = [];
  const total: number[] = [];
  let faces = 0;
  const warmup = o.warmup ?? 20;
  try {
    for (let i = 0; i < warmup + o.runs; i++) {
      const frame = o.frames[i % o.frames.length] as I420Frame;
      const t0 = performance.now();
      const r = await detector.detect({ ...frame, index: i });
      if (i < warmup) {
        continue;
      }
      total.push(performance.now() - t0);
      pre.push(r.timings.preprocessMs);
      inf.push(Object.values(r.timings.inferenceMs).reduce((a, b) => a + b, 0));
      post.push(r.timings.postprocessMs);
      faces += r.faces.length;
    }
  } finally {
    await detector.close();
  }
  const name = { front: 'front128', back: 'back256', both: 'both' }[mode] + (mode === 'both' ? `, tileEvery ${tileEvery}` : '');
  return {
    pass: name,
    resolution: o.resolution,
    preprocess: pct(pre),
    inference: pct(inf),
    postprocess: pct(post),
    total: pct(total),
    fps: round((1000 * o.runs) / total.reduce((a, b) => a + b, 0), 1),
    facesPerFrame: round(faces / o.runs, 2),
    ep: detector.executionProvider,
  };
}

export async function benchDetector(o: DetectorBenchOptions): Promise<DetectorRow[]> {
  const rows = [await passRow(o, 'front', 1), await passRow(o, 'back', 1)];
  if (o.both) {
    rows.push(await passRow(o, 'both', 1), await passRow(o, 'both', DEFAULT_TILE_EVERY));
  }
  return rows;
}
