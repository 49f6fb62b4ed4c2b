// The schema of bench/results/<date>-<host>.json, checked before the file is
// written (and by CI's smoke run). Tools can rely on the keys below; more
// keys may appear. A number that could not be measured is null (JSON has no
// NaN). Times are milliseconds unless the key says otherwise.
import { z } from 'zod';

const num = z.number().finite();
/** A measured value that can be missing (no frames came out, nothing to measure). */
const maybe = num.nullable();
const count = z.number().int().nonnegative();
const ep = z.enum(['cpu', 'cuda']);

const p50p95 = z.object({ p50: maybe, p95: maybe });
const pct = p50p95.extend({ p99: maybe });
const stage = pct.extend({ fps: maybe, count });

const leakSummary = z.object({
  frames: count,
  truthFrames: count,
  faceFrames: count,
  leaks: count,
  leakRate: num,
  framesWithLeak: count,
  overMaskRate: num,
});

export const BenchResultSchema = z.object({
  schema: z.literal('livemask-bench/1'),
  date: z.iso.datetime(),
  quick: z.boolean(),
  durationS: num,
  phaseS: z.record(z.string(), num),
  options: z.object({ ep, clips: z.array(z.string()).min(1), quick: z.boolean() }),
  machine: z.object({ cpu: z.string(), cores: count, gpu: z.string().nullable(), ep, epRequested: ep, host: z.string(), memGiB: num }),
  load: z.object({ start: z.array(num), end: z.array(num) }),
  versions: z.object({ node: z.string(), ffmpeg: z.string(), onnxruntimeNode: z.string(), gstreamer: z.string().nullable(), livemask: z.string() }),
  /** Masked `livemask mask` CPU seconds over the plain ffmpeg transcode's, same frames, summed over the clips. */
  floorRatio: num,
  /**
   * Masked rendition at 720p30, default look-ahead, through a real WebRTC loopback: the publisher's
   * write of input frame n's last packet -> the audience's receipt of output frame n's last packet.
   * floor: the passthrough (a hiring subscriber) in the same run; pipeline, pipelineFloor: the
   * rendition alone, in process (input's last packet in -> output's last packet out), and without detection.
   */
  e2eLatencyMs: pct.extend({ size: z.string(), lookahead: count, via: z.literal('webrtc-loopback'), deliveredPct: num, floor: pct, pipeline: pct, pipelineFloor: pct }),
  /** Concurrent masked streams carried in real time (every stream >= 29 fps, < 1% dropped), default look-ahead. */
  capacity: z.object({ p360: count, p720: count, capped: z.object({ p360: z.boolean(), p720: z.boolean() }), lookahead: count }),
  /** One whole-frame pass of each model alone, detect() call (letterbox + inference + decode), at `resolution`. */
  detectorMs: z.object({
    resolution: z.string(),
    front128: p50p95.extend({ p99: maybe, inference: p50p95 }),
    back256: p50p95.extend({ p99: maybe, inference: p50p95 }),
  }),
  /** The peer per clip; empty when it was skipped (then peerSkipped says why). */
  peer: z.array(
    z.object({
      name: z.string(),
      clip: z.string(),
      fps: num,
      leaks: count,
      leakRate: num,
      frames: count,
      wallS: num,
      cpuS: num,
      ours: z.object({ fps: num, leaks: count, leakRate: num, cpuS: num }),
    }),
  ),
  peerSkipped: z.string().nullable(),
  offline: z.array(
    z.object({
      clip: z.string(),
      width: count,
      height: count,
      frames: count,
      floor: z.object({ cpuS: num, wallS: num }),
      masked: z.object({ cpuS: num, wallS: num, fps: num, ep: z.string() }),
      cpuRatio: num,
      leaks: leakSummary,
    }),
  ).min(1),
  /** Per resolution, per stage: p50/p95/p99 ms per frame and the frames per second the stage alone sustains. */
  stages: z.array(
    z.object({
      resolution: z.string(),
      clip: z.string(),
      scaledFrom: z.string().nullable(),
      width: count,
      height: count,
      frames: count,
      stages: z.object({ decode: stage, preprocess: stage, 'inference.front128': stage, 'inference.back256': stage, postprocess: stage, mask: stage, encode: stage }),
    }),
  ).min(1),
  detector: z.array(z.object({ pass: z.string(), resolution: z.string(), total: pct, inference: pct, fps: maybe })),
  batch: z.object({
    ep,
    batchDimension: z.record(z.string(), z.union([num, z.string()]).nullable()),
    note: z.string(),
    rows: z.array(z.object({ model: z.string(), batch: count, mode: z.enum(['batched', 'sequential', 'in-flight', 'sessions']), perFrameMs: p50p95, fps: maybe })).min(1),
  }),
  live: z.object({
    clip: z.string(),
    latency: z.array(z.object({ size: z.string(), lookahead: count, run: z.enum(['floor', 'masked']), latencyMs: pct, outFps: num, droppedPct: num })),
    capacity: z.array(z.object({ size: z.string(), n: count, carried: z.boolean() })),
  }),
  webrtc: z.array(z.object({ size: z.string(), lookahead: count, run: z.enum(['passthrough', 'masked']), latencyMs: pct, frames: count, deliveredPct: num })).min(1),
  files: z.object({ json: z.string(), png: z.string() }),
});

export type BenchResultJson = z.infer<typeof BenchResultSchema>;

/** Where a result breaks the schema, one line per issue (path: message); empty when it is valid. */
export function schemaProblems(json: unknown): string[] {
  const r = BenchResultSchema.safeParse(json);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}
