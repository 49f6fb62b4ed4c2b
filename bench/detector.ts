// Detector latency on real frames: npx tsx bench/detector.ts [--runs 200] [--threads 2] [--only front,back,both]
// Per model and resolution: preprocess / inference / postprocess p50, p95, p99 and throughput,
// after a warm-up. Frames come from the shared clips (LIVEMASK_TEST_DATA, default ../shared/data).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, i420Size, type I420Frame } from '../src/core/index.js';
import { FaceDetector, type DetectorMode } from '../src/detect/index.js';
import { DEFAULT_TILE_EVERY } from '../src/config/index.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    threads: { type: 'string', default: '2' },
    only: { type: 'string', default: 'front,back,both' },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const threads = Number(values.threads);
const data = resolve(process.env.LIVEMASK_TEST_DATA ?? '../shared/data');

const CLIPS = [
  { label: '360p', clip: 'fr_short_hamilton_clip', width: 640, height: 360 },
  { label: '720p', clip: 'lp_source_s18', width: 1280, height: 720 },
  { label: '1080p', clip: 'fnp_crowd_video', width: 1920, height: 1080 },
] as const;

/** The first `count` frames of a clip, decoded as I420 by ffmpeg. */
function decode(clip: string, width: number, height: number, count: number): I420Frame[] {
  const path = resolve(data, 'videos', `${clip}.mp4`);
  const args = ['-v', 'error', '-i', path, '-fps_mode', 'passthrough', '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'];
  const out = spawnSync('ffmpeg', args, { maxBuffer: 1 << 30 });
  const size = i420Size(width, height);
  const frames: I420Frame[] = [];
  for (let i = 0; (i + 1) * size <= out.stdout.length; i++) {
    frames.push({ width, height, data: out.stdout.subarray(i * size, (i + 1) * size), index: i, ptsMs: 0 });
  }
  if (frames.length === 0) {
    throw new Error(`could not decode ${path}: ${String(out.stderr)}`);
  }
  return frames;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (xs: number[]): string => [50, 95, 99].map((p) => pct(xs, p).toFixed(2).padStart(7)).join(' ');

async function bench(mode: DetectorMode, frames: I420Frame[], label: string, tileEvery = 1): Promise<void> {
  // The per-model rows time the model alone; the low-light pass (dark frames only) is in the `both` rows.
  const detector = await FaceDetector.create({ mode, ep: 'cpu', intraOpNumThreads: threads, tileEvery, lowLight: mode === 'both', logger: createLogger({ level: 'warn' }) });
  const pre: number[] = [];
  const inf: number[] = [];
  const post: number[] = [];
  const total: number[] = [];
  let faces = 0;
  try {
    for (let i = 0; i < warmup + runs; i++) {
      const frame = frames[i % frames.length] as I420Frame;
      const t0 = performance.now();
      const r = await detector.detect(frame);
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
  const fps = (1000 * runs) / total.reduce((a, b) => a + b, 0);
  const name = { front: 'front128', back: 'back256', both: 'both+tiles' }[mode] + (tileEvery > 1 ? `/${tileEvery}` : '');
  console.log(
    `${name.padEnd(13)} ${label.padEnd(6)} | pre ${fmt(pre)} | inf ${fmt(inf)} | post ${fmt(post)} | total ${fmt(total)} | ${fps.toFixed(1).padStart(6)} fps | ${(faces / runs).toFixed(1)} faces/frame`,
  );
}

if (!existsSync(resolve(data, 'videos'))) {
  console.error(`no clips at ${data}/videos: set LIVEMASK_TEST_DATA`);
  process.exit(1);
}
console.log(`runs=${runs} warmup=${warmup} intraOpNumThreads=${threads}; columns are p50 p95 p99 in ms`);
for (const c of CLIPS) {
  const frames = decode(c.clip, c.width, c.height, 30);
  for (const mode of values.only.split(',') as DetectorMode[]) {
    await bench(mode, frames, c.label);
    if (mode === 'both') {
      // The file masker's default: each tile once every DEFAULT_TILE_EVERY frames.
      await bench(mode, frames, c.label, DEFAULT_TILE_EVERY);
    }
  }
}
