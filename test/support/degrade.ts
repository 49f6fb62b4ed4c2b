// Degradations of a greyscale face region, for pinning the leak threshold:
// pixelation at a block size, Gaussian blur, solid fill. Pure; inputs are
// packed regions (stride = width) and are not modified.
import type { Box, I420Frame } from '../../src/core/index.js';
import { clipRect, copyRegion, type LumaRegion, type PixelRect } from '../../src/eval/index.js';

export type Packed = LumaRegion & { data: Uint8Array };

/** Blocks of `block` px aligned to the region's corner, each filled with its rounded mean. */
export function pixelate(r: Packed, block: number): Packed {
  const out = new Uint8Array(r.data.length);
  for (let by = 0; by < r.height; by += block) {
    for (let bx = 0; bx < r.width; bx += block) {
      const y1 = Math.min(r.height, by + block);
      const x1 = Math.min(r.width, bx + block);
      let sum = 0;
      for (let y = by; y < y1; y++) {
        for (let x = bx; x < x1; x++) {
          sum += r.data[y * r.width + x] ?? 0;
        }
      }
      const mean = Math.round(sum / ((y1 - by) * (x1 - bx)));
      for (let y = by; y < y1; y++) {
        out.fill(mean, y * r.width + bx, y * r.width + x1);
      }
    }
  }
  return { data: out, width: r.width, height: r.height };
}

function kernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  return k.map((v) => v / sum);
}

function blurAxis(src: Float64Array, w: number, h: number, k: Float64Array, horizontal: boolean): Float64Array {
  const out = new Float64Array(src.length);
  const radius = (k.length - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let i = -radius; i <= radius; i++) {
        const xx = horizontal ? Math.min(w - 1, Math.max(0, x + i)) : x;
        const yy = horizontal ? y : Math.min(h - 1, Math.max(0, y + i));
        acc += (k[i + radius] ?? 0) * (src[yy * w + xx] ?? 0);
      }
      out[y * w + x] = acc;
    }
  }
  return out;
}

/** Gaussian blur with clamped edges. */
export function gaussianBlur(r: Packed, sigma: number): Packed {
  const k = kernel(sigma);
  const h = blurAxis(Float64Array.from(r.data), r.width, r.height, k, true);
  const v = blurAxis(h, r.width, r.height, k, false);
  return { data: Uint8Array.from(v, (x) => Math.round(x)), width: r.width, height: r.height };
}

export function solidFill(r: Packed, value = 128): Packed {
  return { data: new Uint8Array(r.data.length).fill(value), width: r.width, height: r.height };
}

/** Adds uniform noise in [-amplitude, amplitude] from a seeded generator, clamped to 0..255. */
export function addNoise(r: Packed, amplitude: number, seed = 1): Packed {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out = Uint8Array.from(r.data, (v) => Math.min(255, Math.max(0, Math.round(v + (next() * 2 - 1) * amplitude))));
  return { data: out, width: r.width, height: r.height };
}

/** How maskFrame treats a rectangle: pixelate with a block size, blur with a sigma, or fill. */
export type FrameMask = { kind: 'pixelate'; block: number } | { kind: 'blur'; sigma: number } | { kind: 'solid' };

interface PlaneView {
  offset: number;
  stride: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  scale: number;
}

function planeRects(frame: I420Frame, r: PixelRect): PlaneView[] {
  const cw = Math.ceil(frame.width / 2);
  const ch = Math.ceil(frame.height / 2);
  const c = { x0: r.x0 >> 1, y0: r.y0 >> 1, x1: Math.min(cw, Math.ceil(r.x1 / 2)), y1: Math.min(ch, Math.ceil(r.y1 / 2)) };
  const y = frame.width * frame.height;
  return [
    { offset: 0, stride: frame.width, ...r, scale: 1 },
    { offset: y, stride: cw, ...c, scale: 2 },
    { offset: y + cw * ch, stride: cw, ...c, scale: 2 },
  ];
}

function degradeFor(mask: FrameMask, scale: number): (r: Packed) => Packed {
  switch (mask.kind) {
    case 'pixelate':
      return (r) => pixelate(r, Math.max(1, Math.ceil(mask.block / scale)));
    case 'blur':
      return (r) => gaussianBlur(r, mask.sigma / scale);
    case 'solid':
      return (r) => solidFill(r, 128);
  }
}

/** A copy of `frame` with `box` (clipped) masked on all three planes (chroma at half the block or sigma). */
export function maskFrame(frame: I420Frame, box: Box, mask: FrameMask): I420Frame {
  const rect = clipRect(box, frame.width, frame.height);
  const data = Buffer.from(frame.data);
  if (!rect) {
    return { ...frame, data };
  }
  for (const p of planeRects(frame, rect)) {
    const region = { data, width: p.x1 - p.x0, height: p.y1 - p.y0, stride: p.stride, offset: p.offset + p.y0 * p.stride + p.x0 };
    const out = degradeFor(mask, p.scale)(copyRegion(region));
    for (let y = 0; y < out.height; y++) {
      data.set(out.data.subarray(y * out.width, (y + 1) * out.width), region.offset + y * p.stride);
    }
  }
  return { ...frame, data };
}
