import type { Box, I420Frame } from '../core/index.js';
import type { Letterbox } from './letterbox.js';
import { planTiles } from './tiles.js';

/**
 * The low-light pass: dim faces (a stage audience, a dark car) score far
 * below the threshold at the whole-frame scale and under the frame's own
 * contrast. Frame regions whose mean luma is dark are run again through
 * front-128 at a closer scale, with the model input stretched to a fixed
 * contrast. Bright regions never take this pass, so it costs nothing and adds
 * no false boxes on well-lit video.
 */
export interface LowLightPolicy {
  /** Model pixels per frame pixel in a low-light tile (front-128: 0.4 gives 320 px tiles). */
  readonly scale: number;
  /** Overlap of neighbouring tiles, in frame pixels. */
  readonly overlap: number;
  /** A tile is dark when its mean Y (limited range, 16 = black) is below this. */
  readonly darkLuma: number;
  /** Standard deviation the stretched input gets, in model units ([-1, 1]). */
  readonly targetSd: number;
  /** Cap on the contrast gain, so that noise in a black tile is not blown up. */
  readonly maxGain: number;
}

export const LOW_LIGHT_DEFAULTS: LowLightPolicy = Object.freeze({
  scale: 0.4,
  overlap: 64,
  darkLuma: 48,
  targetSd: 0.5,
  maxGain: 4,
});

/** The candidate low-light regions of a frame (pure); the detector runs only the dark ones. */
export function planLowLightTiles(width: number, height: number, policy: LowLightPolicy, modelSize: number): Box[] {
  return planTiles(width, height, modelSize, policy.scale, policy.overlap);
}

/** Mean Y of a frame region, sampled on a grid of `step` pixels. */
export function meanLuma(frame: I420Frame, region: Box, step = 4): number {
  const x0 = Math.max(0, Math.floor(region.x));
  const y0 = Math.max(0, Math.floor(region.y));
  const x1 = Math.min(frame.width, Math.ceil(region.x + region.w));
  const y1 = Math.min(frame.height, Math.ceil(region.y + region.h));
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y += step) {
    const row = y * frame.width;
    for (let x = x0; x < x1; x += step) {
      sum += frame.data[row + x] ?? 0;
      n++;
    }
  }
  return n > 0 ? sum / n : 0;
}

/** Output pixel range [from, to) of one letterbox axis that shows the frame region. */
function insideRange(pad: number, extent: number, scale: number, size: number): [number, number] {
  const from = Math.max(0, Math.ceil(pad - 0.5));
  const to = Math.min(size, Math.ceil(pad + extent * scale - 0.5));
  return [from, to];
}

/**
 * Stretches the letterboxed region of `tensor` (NHWC, RGB in [-1, 1]) in
 * place to mean 0 and standard deviation `targetSd`, one gain for all three
 * channels (gain at most `maxGain`, never below 1). Padding is left black.
 */
export function stretchContrast(tensor: Float32Array, lb: Letterbox, policy: LowLightPolicy): void {
  const [cx0, cx1] = insideRange(lb.padX, lb.region.w, lb.scale, lb.size);
  const [cy0, cy1] = insideRange(lb.padY, lb.region.h, lb.scale, lb.size);
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let y = cy0; y < cy1; y++) {
    for (let i = (y * lb.size + cx0) * 3, end = (y * lb.size + cx1) * 3; i < end; i++) {
      const v = tensor[i] ?? 0;
      sum += v;
      sum2 += v * v;
      n++;
    }
  }
  if (n === 0) {
    return;
  }
  const mean = sum / n;
  const sd = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
  const gain = Math.max(1, Math.min(policy.maxGain, policy.targetSd / Math.max(sd, 1e-6)));
  for (let y = cy0; y < cy1; y++) {
    for (let i = (y * lb.size + cx0) * 3, end = (y * lb.size + cx1) * 3; i < end; i++) {
      const v = ((tensor[i] ?? 0) - mean) * gain;
      tensor[i] = v < -1 ? -1 : v > 1 ? 1 : v;
    }
  }
}
