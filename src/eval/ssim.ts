/**
 * Structural similarity (SSIM, Wang et al. 2004) on 8-bit greyscale regions.
 *
 * - Windows are square, `window` pixels (default 8), sliding by half a window
 *   (4 px), as in libvpx's and ffmpeg's 8x8 SSIM, with uniform weights.
 * - Constants C1 = (0.01*255)^2, C2 = (0.03*255)^2.
 * - A region narrower or shorter than the window is measured with one window
 *   the size of the region along that axis, so a 5x3 region gives one value.
 * - The result is the mean over windows; identical inputs give exactly 1.
 */

export const SSIM_C1 = (0.01 * 255) ** 2;
export const SSIM_C2 = (0.03 * 255) ** 2;

/** A greyscale region: `height` rows of `width` bytes, row r starting at offset + r*stride. */
export interface LumaRegion {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Bytes from one row to the next. Default `width`. */
  readonly stride?: number;
  /** Byte offset of the first pixel. Default 0. */
  readonly offset?: number;
}

export interface SsimOptions {
  /** Window side in pixels. Default 8. */
  window?: number;
  /** Step between windows. Default max(1, window / 2). */
  step?: number;
}

/** Window start positions along an axis of `len` pixels: the last window ends at the edge. */
function windowStarts(len: number, win: number, step: number): number[] {
  if (len <= win) {
    return [0];
  }
  const starts: number[] = [];
  for (let s = 0; s + win <= len; s += step) {
    starts.push(s);
  }
  const last = len - win;
  if (starts[starts.length - 1] !== last) {
    starts.push(last);
  }
  return starts;
}

/** SSIM of one window from its sums. */
export function ssimFromMoments(n: number, sa: number, sb: number, saa: number, sbb: number, sab: number): number {
  const ma = sa / n;
  const mb = sb / n;
  // Unbiased-free population moments, clamped against rounding below zero.
  const va = Math.max(0, saa / n - ma * ma);
  const vb = Math.max(0, sbb / n - mb * mb);
  const cov = sab / n - ma * mb;
  return ((2 * ma * mb + SSIM_C1) * (2 * cov + SSIM_C2)) / ((ma * ma + mb * mb + SSIM_C1) * (va + vb + SSIM_C2));
}

function windowSsim(a: LumaRegion, b: LumaRegion, x0: number, y0: number, ww: number, wh: number): number {
  const sa0 = a.stride ?? a.width;
  const sb0 = b.stride ?? b.width;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let y = y0; y < y0 + wh; y++) {
    const ra = (a.offset ?? 0) + y * sa0;
    const rb = (b.offset ?? 0) + y * sb0;
    for (let x = x0; x < x0 + ww; x++) {
      const pa = a.data[ra + x] ?? 0;
      const pb = b.data[rb + x] ?? 0;
      sa += pa;
      sb += pb;
      saa += pa * pa;
      sbb += pb * pb;
      sab += pa * pb;
    }
  }
  return ssimFromMoments(ww * wh, sa, sb, saa, sbb, sab);
}

/**
 * Mean SSIM of two regions of the same size. Throws on a size mismatch or an
 * empty region (there is nothing to compare, and guessing would hide a bug).
 */
export function ssim(a: LumaRegion, b: LumaRegion, options: SsimOptions = {}): number {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`ssim: regions differ in size (${a.width}x${a.height} vs ${b.width}x${b.height})`);
  }
  if (a.width <= 0 || a.height <= 0) {
    throw new RangeError(`ssim: empty region ${a.width}x${a.height}`);
  }
  const win = Math.max(1, Math.round(options.window ?? 8));
  const step = Math.max(1, Math.round(options.step ?? win / 2));
  const ww = Math.min(win, a.width);
  const wh = Math.min(win, a.height);
  let sum = 0;
  let count = 0;
  for (const y of windowStarts(a.height, wh, step)) {
    for (const x of windowStarts(a.width, ww, step)) {
      sum += windowSsim(a, b, x, y, ww, wh);
      count++;
    }
  }
  return sum / count;
}
