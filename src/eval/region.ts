import type { Box, I420Frame } from '../core/index.js';
import type { LumaRegion } from './ssim.js';

/** A whole-pixel, half-open rectangle [x0, x1) x [y0, y1). */
export interface PixelRect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/**
 * The pixels a box touches (floor of its start, ceil of its end), clipped to a
 * width x height picture; undefined when nothing is left (outside, empty, or
 * not finite).
 */
export function clipRect(box: Box, width: number, height: number): PixelRect | undefined {
  if (![box.x, box.y, box.w, box.h].every(Number.isFinite) || box.w <= 0 || box.h <= 0) {
    return undefined;
  }
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.w));
  const y1 = Math.min(height, Math.ceil(box.y + box.h));
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : undefined;
}

/** The whole Y plane of a frame, as a region (no copy). */
export function lumaOf(frame: I420Frame): LumaRegion {
  return { data: frame.data, width: frame.width, height: frame.height, stride: frame.width, offset: 0 };
}

/** A rectangle of a region, as a region over the same bytes (no copy). */
export function subRegion(r: LumaRegion, rect: PixelRect): LumaRegion {
  const stride = r.stride ?? r.width;
  return {
    data: r.data,
    width: rect.x1 - rect.x0,
    height: rect.y1 - rect.y0,
    stride,
    offset: (r.offset ?? 0) + rect.y0 * stride + rect.x0,
  };
}

/** The Y-plane region of `frame` under `box`, clipped to the frame; undefined when nothing is left. */
export function lumaRegion(frame: I420Frame, box: Box): LumaRegion | undefined {
  const rect = clipRect(box, frame.width, frame.height);
  return rect ? subRegion(lumaOf(frame), rect) : undefined;
}

/** A tightly packed copy of a region (stride = width, offset 0). */
export function copyRegion(r: LumaRegion): LumaRegion & { data: Uint8Array } {
  const out = new Uint8Array(r.width * r.height);
  const stride = r.stride ?? r.width;
  for (let y = 0; y < r.height; y++) {
    const start = (r.offset ?? 0) + y * stride;
    out.set(r.data.subarray(start, start + r.width), y * r.width);
  }
  return { data: out, width: r.width, height: r.height };
}

/** Per output cell along one axis: the input pixels it covers and their weights (area sampling). */
function areaWeights(inLen: number, outLen: number): { first: Int32Array; weights: Float64Array[] } {
  const scale = inLen / outLen;
  const first = new Int32Array(outLen);
  const weights: Float64Array[] = [];
  for (let o = 0; o < outLen; o++) {
    const s = o * scale;
    const e = (o + 1) * scale;
    const i0 = Math.floor(s);
    const i1 = Math.min(inLen, Math.ceil(e));
    const w = new Float64Array(i1 - i0);
    for (let i = i0; i < i1; i++) {
      w[i - i0] = (Math.min(e, i + 1) - Math.max(s, i)) / scale;
    }
    first[o] = i0;
    weights.push(w);
  }
  return { first, weights };
}

/**
 * Resamples a region to outWidth x outHeight by area averaging (each output
 * pixel is the mean of the input area it covers). Upsampling works too (it
 * repeats pixels), but the use here is shrinking.
 */
export function resampleArea(r: LumaRegion, outWidth: number, outHeight: number): LumaRegion & { data: Uint8Array } {
  const stride = r.stride ?? r.width;
  const off = r.offset ?? 0;
  const xs = areaWeights(r.width, outWidth);
  const ys = areaWeights(r.height, outHeight);
  const rows = new Float64Array(outWidth * r.height);
  for (let y = 0; y < r.height; y++) {
    for (let o = 0; o < outWidth; o++) {
      const w = xs.weights[o] ?? new Float64Array(0);
      const base = off + y * stride + (xs.first[o] ?? 0);
      let acc = 0;
      for (let k = 0; k < w.length; k++) {
        acc += (w[k] ?? 0) * (r.data[base + k] ?? 0);
      }
      rows[y * outWidth + o] = acc;
    }
  }
  const out = new Uint8Array(outWidth * outHeight);
  for (let o = 0; o < outHeight; o++) {
    const w = ys.weights[o] ?? new Float64Array(0);
    const y0 = ys.first[o] ?? 0;
    for (let x = 0; x < outWidth; x++) {
      let acc = 0;
      for (let k = 0; k < w.length; k++) {
        acc += (w[k] ?? 0) * (rows[(y0 + k) * outWidth + x] ?? 0);
      }
      out[o * outWidth + x] = Math.round(acc);
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}
