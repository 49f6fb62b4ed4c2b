import type { I420Frame } from '../core/index.js';
import type { PixelRect } from './region.js';

/** One packed 8-bit RGB picture (3 bytes per pixel, row-major). */
export interface RgbImage {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * Converts a rectangle of an I420 frame to packed RGB, BT.601 limited range
 * (what ffmpeg's yuv420p from ordinary H.264 is). The rectangle must lie
 * inside the frame (use clipRect).
 */
export function i420ToRgb(frame: I420Frame, rect: PixelRect): RgbImage {
  const { width, height, data } = frame;
  const cw = Math.ceil(width / 2);
  const uOff = width * height;
  const vOff = uOff + cw * Math.ceil(height / 2);
  const w = rect.x1 - rect.x0;
  const h = rect.y1 - rect.y0;
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    const fy = rect.y0 + y;
    const crow = (fy >> 1) * cw;
    for (let x = 0; x < w; x++) {
      const fx = rect.x0 + x;
      const c = 1.164 * ((data[fy * width + fx] ?? 16) - 16);
      const u = (data[uOff + crow + (fx >> 1)] ?? 128) - 128;
      const v = (data[vOff + crow + (fx >> 1)] ?? 128) - 128;
      const o = (y * w + x) * 3;
      out[o] = clamp8(c + 1.596 * v);
      out[o + 1] = clamp8(c - 0.392 * u - 0.813 * v);
      out[o + 2] = clamp8(c + 2.017 * u);
    }
  }
  return { data: out, width: w, height: h };
}
