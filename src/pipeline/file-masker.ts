import { extname } from 'node:path';
import type { Box, I420Frame, Logger } from '../core/index.js';
import type { MaskConfig } from '../config/index.js';
import type { DetectResult } from '../detect/index.js';
import { MaskPlanner, paintMask, SceneCutDetector, type MaskPlan } from '../mask/index.js';
import { checkFfmpeg, probe, VideoDecoder, VideoEncoder, type MediaInfo } from '../media/index.js';
import { createFrameDetector, detectWithDeadline, type FrameDetector } from './frame-detector.js';
import { StageTimer, type StageSummary } from './stage-timer.js';

export interface FileMaskerOptions {
  input: string;
  output: string;
  config: MaskConfig;
  logger: Logger;
  signal?: AbortSignal;
  /** Stop after this many frames (tests, previews). */
  maxFrames?: number;
  /** Replaces the BlazeFace detector; tests use it to inject faults. */
  createDetector?: (config: MaskConfig, logger: Logger) => Promise<FrameDetector>;
  onProgress?: (done: number, total: number | undefined) => void;
  /** Called once the input is probed. */
  onMedia?: (info: MediaInfo) => void;
}

export interface FrameReport {
  i: number;
  boxes: Box[];
  detectorMs: number;
  failsafe: boolean;
  reason?: string;
}

export interface PipelineEvent {
  frame: number;
  type: string;
  detail?: Record<string, unknown>;
}

export interface MaskReport {
  input: string;
  output: string;
  executionProvider: 'cpu' | 'cuda';
  config: MaskConfig;
  media: MediaInfo;
  totals: {
    frames: number;
    failsafeFrames: number;
    faces: number;
    detectorErrors: number;
    wallMs: number;
    realtimeFactor: number;
    stages: Record<string, StageSummary>;
  };
  events: PipelineEvent[];
  frames: FrameReport[];
}

interface Pending {
  frame: I420Frame;
  detectorMs: number;
}

/**
 * Masks every face of a video file: decode, detect, plan (tracker, look-ahead,
 * fail-closed policy), paint, encode. The audio is copied untouched.
 *
 * Frame n is painted once the detections of n..n+K are in (K = look-ahead).
 * The detection of the newest frame overlaps the painting and encoding of the
 * oldest one, so the detector and ffmpeg work at the same time.
 */
export async function maskFile(options: FileMaskerOptions): Promise<MaskReport> {
  const { config, logger, signal } = options;
  const started = performance.now();
  await checkFfmpeg();
  const media = await probe(options.input, signal ? { signal } : {});
  options.onMedia?.(media);
  const detector = await (options.createDetector ?? createFrameDetector)(config, logger);
  logger.info({ ep: detector.executionProvider, input: options.input, media }, 'masking file');
  const timer = new StageTimer();
  const frames: FrameReport[] = [];
  const events: PipelineEvent[] = [];
  const cuts = new SceneCutDetector();
  let detectorErrors = 0;
  const planner = createPlanner(config, media, events);
  const decoder = new VideoDecoder({ input: options.input, ...(signal ? { signal } : {}) });
  const encoder = new VideoEncoder({
    output: options.output,
    width: media.width,
    height: media.height,
    fps: media.fps,
    codec: extname(options.output).toLowerCase() === '.webm' ? 'vp8' : 'h264',
    ...(media.hasAudio ? { audioFrom: options.input } : {}),
    ...(signal ? { signal } : {}),
  });
  const line: Pending[] = [];
  const release = async (): Promise<void> => {
    const item = line.shift();
    if (!item) {
      return;
    }
    const plan = planner.plan(item.frame.index);
    timer.time('mask', () => paintMask(item.frame, plan, config.style, { blocksAcross: config.blocksAcross, minBlockPx: config.minBlockPx }));
    frames.push(frameReport(plan, item.detectorMs));
    await timer.timeAsync('encode', () => encoder.write(item.frame));
  };
  const detectOne = async (frame: I420Frame): Promise<Pending> => {
    const d0 = performance.now();
    try {
      const result = await detectWithDeadline(detector, frame, config.detectTimeoutMs, signal);
      recordTimings(timer, result);
      planner.pushResult(frame.index, { faces: result.faces });
    } catch (err) {
      if (signal?.aborted) {
        throw err;
      }
      detectorErrors += 1;
      logger.warn({ err, frame: frame.index }, 'detection failed; the frame is fully masked');
      planner.pushResult(frame.index, { error: err instanceof Error ? err : new Error(String(err)) });
    }
    return { frame, detectorMs: performance.now() - d0 };
  };
  try {
    let t = performance.now();
    for await (const frame of decoder.frames()) {
      timer.add('decode', performance.now() - t);
      if (options.maxFrames !== undefined && frame.index >= options.maxFrames) {
        break;
      }
      if (frame.width !== planner.width || frame.height !== planner.height) {
        planner.resize(frame.width, frame.height, frame.index);
      }
      const cut = cuts.push(frame);
      if (cut) {
        events.push({ frame: frame.index, type: 'shot-cut' });
      }
      planner.pushFrame(frame.index, { cut });
      const overlap = line.length > config.lookahead ? release() : Promise.resolve();
      const [pending] = await Promise.all([detectOne(frame), overlap]);
      line.push(pending);
      options.onProgress?.(frame.index + 1, options.maxFrames ?? media.frameCount);
      t = performance.now();
    }
    while (line.length > 0) {
      await release();
    }
    await encoder.end();
  } catch (err) {
    await encoder.abort();
    throw err;
  } finally {
    await decoder.close();
    await detector.close();
  }
  const wallMs = performance.now() - started;
  return {
    input: options.input,
    output: options.output,
    executionProvider: detector.executionProvider,
    config,
    media,
    totals: {
      frames: frames.length,
      failsafeFrames: frames.filter((f) => f.failsafe).length,
      faces: frames.reduce((n, f) => n + f.boxes.length, 0),
      detectorErrors,
      wallMs,
      realtimeFactor: frames.length / media.fps / (wallMs / 1000),
      stages: timer.summary(),
    },
    events,
    frames,
  };
}

function createPlanner(config: MaskConfig, media: MediaInfo, events: PipelineEvent[]): MaskPlanner {
  const planner = new MaskPlanner({
    width: media.width,
    height: media.height,
    lookahead: config.lookahead,
    holdFrames: Math.max(1, Math.round((config.holdMs / 1000) * media.fps)),
    staleBudgetFrames: config.staleBudgetFrames,
    requireFace: config.requireFace,
    fps: media.fps,
  });
  planner.on('face-present', (e) => events.push({ frame: e.index, type: 'face-present' }));
  planner.on('face-lost', (e) => events.push({ frame: e.index, type: 'face-lost', detail: { seconds: e.seconds } }));
  planner.on('face-back', (e) => events.push({ frame: e.index, type: 'face-back', detail: { afterSeconds: e.afterSeconds } }));
  planner.on('failsafe', (e) => events.push({ frame: e.index, type: `failsafe-${e.state}`, detail: { reason: e.reason } }));
  return planner;
}

function recordTimings(timer: StageTimer, result: DetectResult): void {
  timer.add('detect.preprocess', result.timings.preprocessMs);
  for (const [model, ms] of Object.entries(result.timings.inferenceMs)) {
    timer.add(`detect.inference.${model}`, ms);
  }
  timer.add('detect.postprocess', result.timings.postprocessMs);
}

function frameReport(plan: MaskPlan, detectorMs: number): FrameReport {
  const round = (v: number): number => Math.round(v * 10) / 10;
  return {
    i: plan.index,
    boxes: plan.boxes.map((b) => ({ x: round(b.x), y: round(b.y), w: round(b.w), h: round(b.h) })),
    detectorMs: round(detectorMs),
    failsafe: plan.fullFrame,
    ...(plan.reason !== undefined ? { reason: plan.reason } : {}),
  };
}
