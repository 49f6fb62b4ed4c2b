// Live masked rendition: latency and capacity, against a floor measured in the same run.
// A real face clip is pre-encoded once per size to VP8 RTP (libvpx realtime,
// -g 30), then replayed in real time at 30 fps into MaskedPipeline, one
// stream per run: masked (BlazeFace, the live defaults) and the floor (the
// same pipeline with a detector that finds nothing at no cost: decode, paint
// nothing, encode) for each size and look-ahead K. Latency is the pipeline's
// own: arrival of an input frame's last packet to its masked frame's last
// packet out, for the frames that arrived after a warm-up (ffmpeg stages
// starting); the WebRTC transport (ICE, DTLS, SRTP) is not in it. Capacity:
// N concurrent masked streams (K default) for N = 1, 2, ... until one of them
// drops >= 1% or delivers under 29 fps; N = 1 reuses the latency run when it
// is the same run (same size, K and length).
import { createLogger } from '../src/core/index.js';
import { parseMaskConfig } from '../src/config/index.js';
import { LIVE_MASK_DEFAULTS } from '../src/live/sessions.js';
import { encodeClipRtp, type RtpClip } from './live-source.js';
import { runStreams, type Percentiles, type StreamsResult } from './live-streams.js';
import { round } from './stats.js';

export const LIVE_FPS = 30;
export const LIVE_SIZES: Record<string, { width: number; height: number; bitrate: number }> = {
  '360': { width: 640, height: 360, bitrate: 800_000 },
  '720': { width: 1280, height: 720, bitrate: 2_000_000 },
};

export interface LiveOptions {
  clip: string;
  clipName: string;
  ep: 'cpu' | 'cuda';
  /** LIVEMASK_DETECT_BATCH of the renditions. */
  detectBatch: number;
  seconds: number;
  warmup: number;
  /** Sizes with capacity runs; latency runs only on `latencySizes`. */
  sizes: string[];
  latencySizes: string[];
  /** 'default': K = the live default only; 'both': K = 0 and the default. */
  lookaheads: 'default' | 'both';
  capacitySeconds: number;
  capacityMax: number;
}

export interface LatencyRow {
  size: string;
  lookahead: number;
  run: 'floor' | 'masked';
  latencyMs: Percentiles;
  outFps: number;
  droppedPct: number;
  failsafePct: number;
  firstFrameMs: number;
  cores: number;
  machineBusyPct: number;
  errors: string[];
}

export interface CapacityRow {
  size: string;
  n: number;
  carried: boolean;
  minOutFps: number;
  maxDroppedPct: number;
  worstP95Ms: number;
  cores: number;
  machineBusyPct: number;
}

export interface LiveResult {
  clip: string;
  detector: string;
  capacityLookahead: number;
  config: { detector: string; lookahead: number; tileEvery: number; detectTimeoutMs: number; ep: string; detectBatch: number };
  latency: LatencyRow[];
  capacity: CapacityRow[];
  /** Largest N carried per size (0: not even one); `capped` when the search stopped at capacityMax. */
  carried: Record<string, { streams: number; capped: boolean }>;
}

const carriedBy = (r: StreamsResult): boolean => r.streams.every((st) => st.droppedPct < 1 && st.outFps >= 29 && st.errors.length === 0);
const worst = (r: StreamsResult, pick: (s: StreamsResult['streams'][number]) => number, max = true): number =>
  r.streams.map(pick).reduce((a, b) => (max ? Math.max(a, b) : Math.min(a, b)), max ? -Infinity : Infinity);

function latencyRow(size: string, lookahead: number, run: 'floor' | 'masked', r: StreamsResult): LatencyRow {
  const st = r.streams[0];
  const p = st?.latencyMs ?? { p50: NaN, p95: NaN, p99: NaN, max: NaN };
  return {
    size,
    lookahead,
    run,
    latencyMs: { p50: round(p.p50, 1), p95: round(p.p95, 1), p99: round(p.p99, 1), max: round(p.max, 1) },
    outFps: round(st?.outFps ?? 0, 1),
    droppedPct: round(st?.droppedPct ?? 100, 1),
    failsafePct: round(st?.failsafePct ?? 0, 1),
    firstFrameMs: round(st?.firstFrameMs ?? NaN, 1),
    cores: round(r.cores, 2),
    machineBusyPct: Math.round(r.machineBusyPct),
    errors: st?.errors ?? [],
  };
}

function capacityRow(size: string, n: number, r: StreamsResult): CapacityRow {
  return {
    size,
    n,
    carried: carriedBy(r),
    minOutFps: round(worst(r, (st) => st.outFps, false), 1),
    maxDroppedPct: round(worst(r, (st) => st.droppedPct), 1),
    worstP95Ms: round(worst(r, (st) => st.latencyMs.p95), 1),
    cores: round(r.cores, 2),
    machineBusyPct: Math.round(r.machineBusyPct),
  };
}

export async function benchLive(o: LiveOptions): Promise<LiveResult> {
  const logger = createLogger({ level: 'error' }); // detection timeouts (warn) show as fail-safe frames
  const K = LIVE_MASK_DEFAULTS.lookahead;
  const lookaheads = o.lookaheads === 'both' ? [0, K] : [K];
  const clips = new Map<string, RtpClip>();
  for (const s of new Set([...o.sizes, ...o.latencySizes])) {
    const size = LIVE_SIZES[s];
    if (!size) {
      throw new Error(`live size ${s} unknown (known: ${Object.keys(LIVE_SIZES).join(', ')})`);
    }
    clips.set(s, await encodeClipRtp(o.clip, { ...size, fps: LIVE_FPS, seconds: o.warmup + Math.max(o.seconds, o.capacitySeconds) + 1 }));
  }
  const clipOf = (s: string): RtpClip => clips.get(s) as RtpClip;
  const run = (s: string, count: number, lookahead: number, noop: boolean, seconds: number): Promise<StreamsResult> =>
    runStreams(clipOf(s), { count, lookahead, noop, frames: seconds * LIVE_FPS, warmupFrames: o.warmup * LIVE_FPS, ep: o.ep, detectBatch: o.detectBatch, logger });

  const latency: LatencyRow[] = [];
  const reusable = new Map<string, StreamsResult>();
  for (const s of o.latencySizes) {
    for (const k of lookaheads) {
      for (const kind of ['floor', 'masked'] as const) {
        const r = await run(s, 1, k, kind === 'floor', o.seconds);
        latency.push(latencyRow(s, k, kind, r));
        if (kind === 'masked' && k === K && o.seconds === o.capacitySeconds) {
          reusable.set(s, r);
        }
      }
    }
  }
  const capacity: CapacityRow[] = [];
  const carried: LiveResult['carried'] = {};
  for (const s of o.capacityMax > 0 ? o.sizes : []) {
    let top = 0;
    for (let n = 1; n <= o.capacityMax; n += 1) {
      const r = (n === 1 ? reusable.get(s) : undefined) ?? (await run(s, n, K, false, o.capacitySeconds));
      const row = capacityRow(s, n, r);
      capacity.push(row);
      if (!row.carried) {
        break;
      }
      top = n;
    }
    carried[s] = { streams: top, capped: top === o.capacityMax };
  }
  const c = parseMaskConfig({ ...LIVE_MASK_DEFAULTS, ep: o.ep, detectBatch: o.detectBatch });
  return {
    clip: o.clipName,
    detector: c.detector,
    capacityLookahead: K,
    config: { detector: c.detector, lookahead: c.lookahead, tileEvery: c.tileEvery, detectTimeoutMs: c.detectTimeoutMs, ep: c.ep, detectBatch: c.detectBatch },
    latency,
    capacity,
    carried,
  };
}
