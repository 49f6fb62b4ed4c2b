// The flags of `livemask bench` / `npm run bench`, validated once with zod.
import { z } from 'zod';
import { LivemaskError } from '../src/core/index.js';

/** One clip per resolution: the stages then run on native 720p, 360p and 1080p footage. */
export const DEFAULT_CLIPS = ['lp_source_s18', 'fr_short_hamilton_clip', 'fnp_crowd_video'] as const;

const clipName = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a clip name is a file of videos/ without .mp4 (letters, digits, _ . -)');

export const BenchOptionsSchema = z.object({
  /** Execution provider of the detector; cuda falls back to CPU with a warning where it cannot load. */
  ep: z.enum(['cpu', 'cuda']).default('cpu'),
  /** Clips for the floor, the masked run and the peer; the first also feeds the live runs. */
  clips: z.array(clipName).min(1, 'give at least one clip').default([...DEFAULT_CLIPS]),
  /**
   * The live runs (latency, capacity, WebRTC) as with LIVEMASK_DETECT_BATCH=N:
   * 1 (default), a detector thread per rendition; N > 1, one shared thread
   * whose calls batch up to N streams' frames.
   */
  'detect-batch': z
    .union([z.number(), z.string().regex(/^\d+$/).transform(Number)], { error: 'must be a whole number from 1 to 64' })
    .pipe(z.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64'))
    .default(1),
  /** Under 2 minutes on a 2-core machine: one clip, fewer frames, 360p + 720p, capacity capped at 2. */
  quick: z.boolean().default(false),
});

export type BenchOptions = z.infer<typeof BenchOptionsSchema>;
export type BenchOptionsInput = z.input<typeof BenchOptionsSchema>;

/** Parses bench options; a bad flag is a BAD_USAGE error that names it. */
export function parseBenchOptions(input: unknown): BenchOptions {
  const parsed = BenchOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = String(issue?.path[0] ?? '?');
    throw new LivemaskError('BAD_USAGE', `invalid --${flag}: ${issue?.message ?? 'bad value'}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The size of each part of a run, from --quick. */
export interface BenchPlan {
  /** Clips measured against the floor and the peer. */
  clips: string[];
  /** Frames of each clip used, at most (longer clips are cut, re-encoded near-losslessly). */
  clipFrames: number;
  offlineRuns: number;
  detectorRuns: number;
  /** Resolutions of the per-model detector passes (of stageHeights). */
  detectorHeights: number[];
  stageFrames: number;
  stageHeights: number[];
  batchFrames: number;
  /** The largest N measured with N sessions (16 sessions take a while to load). */
  batchSessionsUpTo: number;
  live: { seconds: number; warmup: number; sizes: string[]; latencySizes: string[]; lookaheads: 'default' | 'both'; capacitySeconds: number; capacityMax: number };
  /** End to end through a real WebRTC loopback at 720p30, per look-ahead of `live.lookaheads`: seconds measured after a warm-up. */
  webrtc: { seconds: number; warmup: number };
}

export function planBench(o: BenchOptions): BenchPlan {
  if (o.quick) {
    return {
      clips: o.clips.slice(0, 1),
      clipFrames: 45,
      offlineRuns: 1,
      detectorRuns: 50,
      detectorHeights: [720],
      stageFrames: 20,
      stageHeights: [360, 720],
      batchFrames: 16,
      batchSessionsUpTo: 4,
      live: { seconds: 4, warmup: 2, sizes: ['360', '720'], latencySizes: ['720'], lookaheads: 'default', capacitySeconds: 4, capacityMax: 2 },
      webrtc: { seconds: 4, warmup: 2 },
    };
  }
  return {
    clips: o.clips,
    clipFrames: 300,
    offlineRuns: 2,
    detectorRuns: 200,
    detectorHeights: [360, 720, 1080],
    stageFrames: 90,
    stageHeights: [360, 720, 1080],
    batchFrames: 320,
    batchSessionsUpTo: 16,
    live: { seconds: 10, warmup: 2, sizes: ['360', '720'], latencySizes: ['360', '720'], lookaheads: 'both', capacitySeconds: 10, capacityMax: 8 },
    webrtc: { seconds: 15, warmup: 3 },
  };
}
