// Runs masked renditions (MaskedPipeline) fed by the paced replay of a
// pre-encoded clip, and measures each one: latency per output frame, output
// frame rate, drops, fail-safe frames, CPU.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from '../src/core/index.js';
import { parseMaskConfig, type MaskConfig } from '../src/config/index.js';
import { LIVE_MASK_DEFAULTS } from '../src/live/sessions.js';
import { MaskedPipeline } from '../src/live/masked-pipeline.js';
import { createWorkerFrameDetector } from '../src/pipeline/worker-detector.js';
import { percentile, type FrameDetector } from '../src/pipeline/index.js';
import { replayPaced, type RtpClip } from './live-source.js';

export interface StreamsOptions {
  count: number;
  lookahead: number;
  /** A detector that finds nothing, at no cost: the floor (decode, paint nothing, encode). */
  noop: boolean;
  /** Frames measured, replayed after the warm-up. */
  frames: number;
  /** Frames replayed before the measured ones (ffmpeg stages starting, first backlog). */
  warmupFrames: number;
  /** Overrides the live default detector mode. */
  detector?: MaskConfig['detector'];
  /** Execution provider of the detector (default cpu). */
  ep?: MaskConfig['ep'];
  /** LIVEMASK_DETECT_BATCH of the renditions (default 1). */
  detectBatch?: number;
  logger: Logger;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One stream, over the measured frames (those that arrived after the warm-up). */
export interface StreamStats {
  framesIn: number;
  framesOut: number;
  dropped: number;
  droppedPct: number;
  failsafePct: number;
  /** Frames delivered per second of input: fps x out / (in - look-ahead, held at the end). */
  outFps: number;
  latencyMs: Percentiles;
  /** Latency of the first output frame (includes starting ffmpeg). */
  firstFrameMs: number;
  /** p95 of the pacer's lateness, ms: how busy the event loop was. */
  paceLateP95Ms: number;
  /** CPU seconds of this stream's ffmpeg decoder and encoder. */
  ffmpegCpuS: number;
  errors: string[];
}

export interface StreamsResult {
  streams: StreamStats[];
  wallS: number;
  /** CPU seconds of this node process during the replay (detector, painting, pipelines of all streams). */
  nodeCpuS: number;
  /** Cores used by the streams (node + their ffmpeg), averaged over the replay. */
  cores: number;
  /** Share of the machine's CPU busy during the replay, any process (others' work included), %. */
  machineBusyPct: number;
}

const NOOP_DETECTOR: FrameDetector = {
  executionProvider: 'cpu',
  detect: () => Promise.resolve({ faces: [], timings: { preprocessMs: 0, inferenceMs: {}, postprocessMs: 0 } }),
  close: () => Promise.resolve(),
};

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process, seconds; 0 when it is gone. */
function processCpuS(pid: number | undefined): number {
  if (pid === undefined) {
    return 0;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0; // the process exited; its time is lost to us
  }
}

/** Busy and total jiffies of all CPUs, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

export function percentiles(xs: readonly number[]): Percentiles {
  if (xs.length === 0) {
    return { p50: NaN, p95: NaN, p99: NaN, max: NaN };
  }
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s[s.length - 1] ?? 0 };
}

async function until(test: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!test()) {
    if (performance.now() > deadline) {
      return false;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

interface Stream {
  pipeline: MaskedPipeline;
  out: { at: number; latencyMs: number; fullFrame: boolean }[];
  errors: string[];
  /** The pipeline's detector has loaded and done its warm-up. */
  detector: { ready: boolean };
  /** Sent after the warm-up, and the pipeline's drop count when the first of them was sent. */
  framesIn: number;
  droppedBefore: number;
  measureFrom: number;
}

function startStream(config: MaskConfig, options: StreamsOptions): Stream {
  const detector = { ready: false };
  // The pipeline's own warm-up detection is the first call: the stream is ready when it has settled.
  const createDetector = async (c: MaskConfig, log: Logger): Promise<FrameDetector> => {
    const inner = options.noop ? NOOP_DETECTOR : await createWorkerFrameDetector(c, log); // as the live renditions
    return {
      executionProvider: inner.executionProvider,
      close: () => inner.close(),
      detect: (frame, opts) => {
        const result = inner.detect(frame, opts);
        if (!detector.ready) {
          void result.then(
            () => (detector.ready = true),
            () => (detector.ready = true),
          );
        }
        return result;
      },
    };
  };
  const pipeline = new MaskedPipeline({ config, logger: options.logger, createDetector });
  const stream: Stream = { pipeline, out: [], errors: [], detector, framesIn: 0, droppedBefore: 0, measureFrom: Infinity };
  pipeline.on('frame', ({ latencyMs, fullFrame }) => stream.out.push({ at: performance.now(), latencyMs, fullFrame }));
  pipeline.on('event', (e) => {
    if (e.type === 'error' || e.type === 'pipeline-restarted') {
      stream.errors.push(`${e.type}: ${e.reason}`);
    }
  });
  return stream;
}

function statsOf(stream: Stream, fps: number, lookahead: number, lateMs: number[], ffmpegCpuS: number): StreamStats {
  const { pipeline, out, framesIn } = stream;
  // An output's input arrived `latencyMs` before it left; measure the frames that arrived after the warm-up.
  const measured = out.filter((o) => o.at - o.latencyMs >= stream.measureFrom - 1);
  const dropped = pipeline.droppedFrames - stream.droppedBefore;
  return {
    framesIn,
    framesOut: measured.length,
    dropped,
    droppedPct: framesIn > 0 ? (100 * dropped) / framesIn : 0,
    failsafePct: measured.length > 0 ? (100 * measured.filter((o) => o.fullFrame).length) / measured.length : 0,
    outFps: framesIn > lookahead ? (fps * measured.length) / (framesIn - lookahead) : 0,
    latencyMs: percentiles(measured.map((o) => o.latencyMs)),
    firstFrameMs: out[0]?.latencyMs ?? NaN,
    paceLateP95Ms: percentiles(lateMs).p95,
    ffmpegCpuS,
    errors: stream.errors,
  };
}

/**
 * Starts `count` masked renditions with look-ahead `lookahead`, waits for
 * their detectors, replays `warmupFrames + frames` frames of the clip into
 * each in real time (stream j a j/count frame interval after stream 0, as
 * independent publishers would be), lets them drain, and measures the
 * frames after the warm-up. CPU figures cover the whole replay.
 */
export async function runStreams(clip: RtpClip, options: StreamsOptions): Promise<StreamsResult> {
  const config = parseMaskConfig({
    ...LIVE_MASK_DEFAULTS,
    lookahead: options.lookahead,
    ...(options.detector ? { detector: options.detector } : {}),
    ...(options.ep ? { ep: options.ep } : {}),
    ...(options.detectBatch !== undefined ? { detectBatch: options.detectBatch } : {}),
  });
  const streams = Array.from({ length: options.count }, () => startStream(config, options));
  try {
    if (!(await until(() => streams.every((s) => s.detector.ready || s.errors.length > 0), 60_000))) {
      throw new Error('the detectors did not load in 60 s');
    }
    const cpu0 = process.cpuUsage();
    const ticks0 = machineTicks();
    const t0 = performance.now();
    const period = 1000 / clip.fps;
    const replays = await Promise.all(
      streams.map((s, j) => {
        let frame = -1;
        let lastArrival = -1;
        return replayPaced(
          clip,
          (packet, arrivalMs) => {
            if (arrivalMs !== lastArrival) {
              lastArrival = arrivalMs;
              frame += 1;
              if (frame === options.warmupFrames) {
                s.measureFrom = arrivalMs;
                s.droppedBefore = s.pipeline.droppedFrames;
              }
            }
            s.pipeline.pushRtp(packet, arrivalMs);
          },
          { frames: options.warmupFrames + options.frames, offsetMs: (j * period) / options.count },
        );
      }),
    );
    streams.forEach((s, j) => (s.framesIn = Math.max(0, (replays[j]?.framesSent ?? 0) - options.warmupFrames)));
    // Drain: every frame is out, dropped or held by the look-ahead (never flushed), or no progress for 1 s.
    let last = -1;
    let lastAt = performance.now();
    await until(() => {
      const out = streams.reduce((a, s) => a + s.pipeline.framesOut + s.pipeline.droppedFrames, 0);
      if (out !== last) {
        last = out;
        lastAt = performance.now();
      }
      return out >= replays.reduce((a, r) => a + r.framesSent - options.lookahead, 0) || performance.now() - lastAt > 1000;
    }, 10_000);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const nodeCpuS = (cpu.user + cpu.system) / 1e6;
    const ticks1 = machineTicks();
    const ffmpegCpuS = streams.map((s) => processCpuS(s.pipeline.pids.decoder) + processCpuS(s.pipeline.pids.encoder));
    return {
      streams: streams.map((s, j) => statsOf(s, clip.fps, options.lookahead, (replays[j]?.lateMs ?? []).slice(options.warmupFrames), ffmpegCpuS[j] ?? 0)),
      wallS,
      nodeCpuS,
      cores: (nodeCpuS + ffmpegCpuS.reduce((a, b) => a + b, 0)) / wallS,
      machineBusyPct: (100 * (ticks1.busy - ticks0.busy)) / Math.max(1, ticks1.total - ticks0.total),
    };
  } finally {
    await Promise.all(streams.map((s) => s.pipeline.close()));
  }
}
