// Degradations of a greyscale face region, for pinning the leak threshold:
// pixelation at a block size, Gaussian blur, solid fill. Pure; inputs are
// packed regions (stride = width) and are not modified.
import type { LumaRegion } from '../../src/eval/index.js';

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
