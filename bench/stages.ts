// What each stage of the file masker costs, per frame, at one resolution:
// decode, detector pre-processing, inference per model, post-processing,
// mask (tracker, plan, paint) and encode. Each stage runs on its own over the
// same frames, so one stage's time is not hidden behind another's:
//   decode   ffmpeg to I420 through VideoDecoder, the wait for each frame
//            (the first, ffmpeg's start, left out);
//   detect   FaceDetector with the file defaults (`both`, tiles in turns),
//            its own timings of pre-processing, inference and post-processing;
//   mask     MaskPlanner (tracker, look-ahead plan) and paintMask per frame;
//   encode   VideoEncoder (libx264, the file masker's settings): the time for
//            write() to take each frame, which in steady state is the encoder's
//            pace; its throughput includes the final flush.
import { join } from 'node:path';
import { createLogger, type I420Frame, type Logger } from '../src/core/index.js';
import { parseMaskConfig, type MaskConfig } from '../src/config/index.js';
import { MaskPlanner, paintMask } from '../src/mask/index.js';
import { VideoDecoder, VideoEncoder } from '../src/media/index.js';
import { createFrameDetector, type FrameDetector } from '../src/pipeline/index.js';
import type { DetectResult } from '../src/detect/index.js';
import { ffmpeg } from './measure.js';
import type { PreparedClip } from './prepare-clip.js';
import { pct, round, type Pct } from './stats.js';

export const STAGES = ['decode', 'preprocess', 'inference.front128', 'inference.back256', 'postprocess', 'mask', 'encode'] as const;
export type StageName = (typeof STAGES)[number];

export interface StageStats extends Pct {
  /** Frames per second this stage alone sustains. */
  fps: number;
  count: number;
}

export interface ResolutionStages {
  resolution: string;
  clip: string;
  /** The clip's own size when it was scaled to this resolution; null when native. */
  scaledFrom: string | null;
  width: number;
  height: number;
  frames: number;
  detector: string;
  ep: 'cpu' | 'cuda';
  stages: Partial<Record<StageName, StageStats>>;
}

export interface StagesRun {
  row: ResolutionStages;
  /** The decoded frames (unpainted), for the detector bench. */
  frames: I420Frame[];
}

function stats(samples: number[], wallMs = samples.reduce((a, b) => a + b, 0)): StageStats {
  return { ...pct(samples), fps: round((1000 * samples.length) / Math.max(wallMs, 1e-6), 1), count: samples.length };
}

/** The clip that is natively `height` tall, else the first clip scaled to it (aspect kept). */
export function stageSource(clips: readonly PreparedClip[], height: number): PreparedClip {
  return clips.find((c) => c.media.height === height) ?? (clips[0] as PreparedClip);
}

async function decodeFrames(video: string, count: number): Promise<{ frames: I420Frame[]; waits: number[] }> {
  const decoder = new VideoDecoder({ input: video });
  const frames: I420Frame[] = [];
  const waits: number[] = [];
  try {
    let t = performance.now();
    for await (const f of decoder.frames()) {
      const waited = performance.now() - t;
      if (f.index > 0) {
        waits.push(waited);
      }
      frames.push({ ...f, data: Buffer.from(f.data) });
      if (frames.length >= count) {
        break;
      }
      t = performance.now();
    }
  } finally {
    await decoder.close();
  }
  return { frames, waits };
}

async function detectAll(detector: FrameDetector, frames: readonly I420Frame[]): Promise<{ results: DetectResult[]; t: Record<string, number[]> }> {
  const t: Record<string, number[]> = { preprocess: [], 'inference.front128': [], 'inference.back256': [], postprocess: [] };
  const results: DetectResult[] = [];
  for (const frame of frames) {
    const r = await detector.detect(frame);
    results.push(r);
    t.preprocess?.push(r.timings.preprocessMs);
    for (const [model, ms] of Object.entries(r.timings.inferenceMs)) {
      t[`inference.${model}`]?.push(ms);
    }
    t.postprocess?.push(r.timings.postprocessMs);
  }
  return { results, t };
}

/** Tracker + plan + paint per frame, in the file masker's order (frame n painted when n+K is in). */
function maskAll(frames: readonly I420Frame[], results: readonly DetectResult[], config: MaskConfig, fps: number): number[] {
  const first = frames[0];
  if (!first) {
    return [];
  }
  const planner = new MaskPlanner({
    width: first.width,
    height: first.height,
    lookahead: config.lookahead,
    holdFrames: Math.max(1, Math.round((config.holdMs / 1000) * fps)),
    staleBudgetFrames: config.staleBudgetFrames,
    requireFace: config.requireFace,
    fps,
  });
  const paint = (n: number): void => {
    const frame = frames[n] as I420Frame;
    paintMask(frame, planner.plan(frame.index), config.style, { blocksAcross: config.blocksAcross, minBlockPx: config.minBlockPx });
  };
  const ms: number[] = [];
  frames.forEach((frame, n) => {
    const t = performance.now();
    planner.pushFrame(frame.index);
    planner.pushResult(frame.index, { faces: results[n]?.faces ?? [] });
    if (n - config.lookahead >= 0) {
      paint(n - config.lookahead);
    }
    ms.push(performance.now() - t);
  });
  for (let n = Math.max(0, frames.length - config.lookahead); n < frames.length; n++) {
    const t = performance.now();
    paint(n);
    (ms[n] as number) += performance.now() - t;
  }
  return ms;
}

async function encodeAll(frames: readonly I420Frame[], output: string, fps: number): Promise<{ writes: number[]; wallMs: number }> {
  const first = frames[0] as I420Frame;
  const encoder = new VideoEncoder({ output, width: first.width, height: first.height, fps, codec: 'h264' });
  const writes: number[] = [];
  const t0 = performance.now();
  try {
    for (const frame of frames) {
      const t = performance.now();
      await encoder.write(frame);
      writes.push(performance.now() - t);
    }
    await encoder.end();
  } catch (err) {
    await encoder.abort();
    throw err;
  }
  return { writes, wallMs: performance.now() - t0 };
}

export interface StagesOptions {
  source: PreparedClip;
  height: number;
  frames: number;
  ep: 'cpu' | 'cuda';
  work: string;
  logger?: Logger;
}

/** Runs every stage over `frames` frames of the source at `height` (scaled with ffmpeg when it is another size). */
export async function benchStages(o: StagesOptions): Promise<StagesRun> {
  const { source, height } = o;
  const native = source.media.height === height;
  const scaled = join(o.work, `stages-${height}.mp4`);
  await ffmpeg(['-i', source.video, '-map', '0:v:0', '-an', '-frames:v', String(o.frames + 1), '-fps_mode', 'passthrough',
    '-vf', `scale=-2:${height}:flags=bicubic`, '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-pix_fmt', 'yuv420p', '-y', scaled]);
  const { frames, waits } = await decodeFrames(scaled, o.frames);
  const first = frames[0];
  if (!first) {
    throw new Error(`no frames decoded from ${scaled}`);
  }
  const config = parseMaskConfig({ ep: o.ep });
  const detector = await createFrameDetector(config, o.logger ?? createLogger({ level: 'warn' }));
  let detected: Awaited<ReturnType<typeof detectAll>>;
  try {
    detected = await detectAll(detector, frames);
  } finally {
    await detector.close();
  }
  const painted = frames.map((f) => ({ ...f, data: Buffer.from(f.data) }));
  const mask = maskAll(painted, detected.results, config, source.media.fps);
  const encode = await encodeAll(painted, join(o.work, `stages-${height}-out.mp4`), source.media.fps);
  const stages: Partial<Record<StageName, StageStats>> = { decode: stats(waits) };
  for (const [name, samples] of Object.entries(detected.t)) {
    if (samples.length > 0) {
      stages[name as StageName] = stats(samples);
    }
  }
  stages.mask = stats(mask);
  stages.encode = stats(encode.writes, encode.wallMs);
  return {
    row: {
      resolution: `${height}p`,
      clip: source.name,
      scaledFrom: native ? null : `${source.media.width}x${source.media.height}`,
      width: first.width,
      height: first.height,
      frames: frames.length,
      detector: `${config.detector}, tileEvery ${config.tileEvery}`,
      ep: detector.executionProvider,
      stages,
    },
    frames,
  };
}
