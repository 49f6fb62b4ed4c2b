import type { Box, I420Frame } from '../core/index.js';
import { clipRect, copyRegion, lumaOf, resampleArea, subRegion } from './region.js';
import { ssim, type LumaRegion } from './ssim.js';

/**
 * The leak score of a face region: how much of the original face's structure
 * survives in the masked region, at the resolution that decides whether a
 * face can be recognised.
 *
 * 1. Both regions go through the same affine map, the one that brings the
 *    original to mean 128 and standard deviation 48 (gain capped at 8), so a
 *    dim, low-contrast face is judged as if it were lit; otherwise SSIM's
 *    constants make any two dark regions look alike.
 * 2. Both are area-resampled to a canonical face 12 px wide (height keeps the
 *    aspect ratio): recognisability depends on how many blocks span the face,
 *    not on their size in pixels.
 * 3. SSIM with 4x4 windows, step 2, on the canonical faces.
 *
 * Full-resolution SSIM cannot tell 16 px pixelation of a 100 px face (still
 * recognisable) from face/4 blocks (not): on the clips both score 0.43-0.77.
 * The canonical score can; see LEAK_THRESHOLD and README.md.
 */
export const CANONICAL_FACE_WIDTH = 12;
export const CANONICAL_WINDOW = 4;
const NORM_MEAN = 128;
const NORM_SD = 48;
const NORM_MAX_GAIN = 8;

/**
 * A masked face region whose leak score reaches this is counted as a leak.
 * Measured on real faces >= 90 px wide from 10 clips (33 boxes; see README.md):
 * H.264 crf 23/28 >= 0.97, 8 px pixelation >= 0.93, 16 px pixelation >= 0.67,
 * while face/4 blocks <= 0.49, Gaussian blur sigma=face/8 <= 0.57, solid fill
 * <= 0.16. 0.62 sits between the two groups.
 */
export const LEAK_THRESHOLD = 0.62;

export interface BoxMeasure {
  /** The leak score (canonical, contrast-normalised SSIM); >= threshold is a leak. */
  readonly score: number;
  /** Plain SSIM of the region at full resolution (8x8 windows), for reference. */
  readonly ssim: number;
}

function meanSd(r: LumaRegion): { mean: number; sd: number } {
  const p = copyRegion(r).data;
  let s = 0;
  let ss = 0;
  for (const v of p) {
    s += v;
    ss += v * v;
  }
  const mean = s / p.length;
  return { mean, sd: Math.sqrt(Math.max(0, ss / p.length - mean * mean)) };
}

function affine(r: LumaRegion, mean: number, gain: number): LumaRegion {
  const p = copyRegion(r);
  const data = Uint8Array.from(p.data, (v) => Math.min(255, Math.max(0, Math.round(NORM_MEAN + (v - mean) * gain))));
  return { data, width: p.width, height: p.height };
}

/** The leak score of two same-size regions (original first). */
export function leakScore(original: LumaRegion, masked: LumaRegion): number {
  const { mean, sd } = meanSd(original);
  const gain = Math.min(NORM_MAX_GAIN, NORM_SD / Math.max(sd, 1e-6));
  const w = Math.min(CANONICAL_FACE_WIDTH, original.width);
  const h = Math.max(1, Math.min(original.height, Math.round((w * original.height) / original.width)));
  const a = resampleArea(affine(original, mean, gain), w, h);
  const b = resampleArea(affine(masked, mean, gain), w, h);
  return ssim(a, b, { window: CANONICAL_WINDOW, step: CANONICAL_WINDOW / 2 });
}

/** Measures one box (clipped to the frames); undefined when nothing of it is inside. */
export function measureBox(original: I420Frame, masked: I420Frame, box: Box): BoxMeasure | undefined {
  if (original.width !== masked.width || original.height !== masked.height) {
    throw new RangeError(
      `frame ${original.index}: sizes differ (${original.width}x${original.height} vs ${masked.width}x${masked.height})`,
    );
  }
  const rect = clipRect(box, original.width, original.height);
  if (!rect) {
    return undefined;
  }
  const a = subRegion(lumaOf(original), rect);
  const b = subRegion(lumaOf(masked), rect);
  return { score: leakScore(a, b), ssim: ssim(a, b) };
}

/** A box leaks when its score reaches the threshold (NaN counts as a leak: fail closed). */
export function isLeak(score: number, threshold: number = LEAK_THRESHOLD): boolean {
  return !(score < threshold);
}
