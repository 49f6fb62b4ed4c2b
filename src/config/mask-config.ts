import { z } from 'zod';
import { DEFAULT_BLOCKS_ACROSS } from '../mask/paint-mask.js';

/**
 * The options of one masking run, validated once at the edge. Defaults live
 * here and nowhere else; README "Configuration" documents them.
 */
/** Tiles take turns over this many frames unless configured (see tileEvery). */
export const DEFAULT_TILE_EVERY = 4;

export const MaskConfigSchema = z.object({
  style: z.enum(['pixelate', 'blur', 'solid']).default('pixelate'),
  detector: z.enum(['front', 'back', 'both']).default('both'),
  ep: z.enum(['cpu', 'cuda']).default('cpu'),
  /**
   * Pixelation blocks across the detected face (BlazeFace's tight box); the
   * block is max(minBlockPx, faceSize / blocksAcross). See README "Mask styles".
   */
  blocksAcross: z.number().min(1).max(16).default(DEFAULT_BLOCKS_ACROSS),
  minBlockPx: z.number().int().min(4).max(256).default(16),
  /** Look-ahead K in frames: the mask of frame n may use detections of n+1..n+K. */
  lookahead: z.number().int().min(0).max(60).default(8),
  /** Keep masking a track this long after its last detection. */
  holdMs: z.number().int().min(0).max(10_000).default(1000),
  /** Full-frame mask when no face has been seen for longer than the hold time. */
  requireFace: z.boolean().default(false),
  /** Full-frame mask when the newest detection result is older than this. */
  staleBudgetFrames: z.number().int().min(0).max(30).default(2),
  /** A detection that takes longer is an error: the frame is fully masked. */
  detectTimeoutMs: z.number().int().min(10).max(60_000).default(2000),
  scoreThreshold: z.number().min(0.01).max(0.99).optional(),
  /**
   * Small-face tiles take turns: each runs at least once every this many
   * frames (1 = every tile on every frame). At most the look-ahead, so that
   * the frames before a tile's late first detection are still masked.
   * Default: DEFAULT_TILE_EVERY, or the look-ahead when that is smaller.
   */
  tileEvery: z.number().int().min(1).max(30).optional(),
  /**
   * onnxruntime intra-op threads per model session (the detector's own
   * default, 2, when unset). Live renditions use 1: see LIVE_MASK_DEFAULTS.
   */
  intraOpThreads: z.number().int().min(1).max(64).optional(),
  /**
   * Live renditions: 1 (default) gives each its own detector thread and
   * batch-1 models; N > 1 puts the detectors of all renditions of the process
   * on one shared thread and batch-N models, with up to N streams' frames
   * per inference call (for GPU hosts; see README "GPU hosts").
   */
  detectBatch: z.number().int().min(1).max(64).default(1),
  /** With detectBatch > 1: how long a detection that finds the model idle waits for others to join its call. */
  detectBatchWaitMs: z.number().min(0).max(50).default(2),
})
  .refine((c) => c.tileEvery === undefined || c.tileEvery <= Math.max(1, c.lookahead), {
    path: ['tileEvery'],
    message: 'must be at most the look-ahead (--lookahead), so that frames before a late tile detection are still masked',
  })
  .transform((c) => ({ ...c, tileEvery: c.tileEvery ?? Math.max(1, Math.min(DEFAULT_TILE_EVERY, c.lookahead)) }));

export type MaskConfig = z.infer<typeof MaskConfigSchema>;
export type MaskConfigInput = z.input<typeof MaskConfigSchema>;

/** Parses options; a bad field throws a ZodError whose issues name the field. */
export function parseMaskConfig(input: unknown): MaskConfig {
  return MaskConfigSchema.parse(input);
}
