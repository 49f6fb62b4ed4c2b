// Synthetic pictures for the eval unit tests.
import type { I420Frame } from '../../src/core/index.js';
import { i420Size } from '../../src/core/index.js';

/** A deterministic textured value at (x, y): diagonal stripes plus a blob. */
export function texture(x: number, y: number): number {
  return Math.round(128 + 60 * Math.sin((x + 2 * y) / 3) + 40 * Math.cos((x * y) / 50));
}

/** An I420 frame whose Y plane is `luma(x, y)` and chroma neutral. */
export function makeFrame(width: number, height: number, luma: (x: number, y: number) => number, index = 0): I420Frame {
  const data = Buffer.alloc(i420Size(width, height), 128);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data[y * width + x] = Math.min(255, Math.max(0, luma(x, y)));
    }
  }
  return { width, height, data, index, ptsMs: index * 40 };
}

/** A copy of the frame with the Y rectangle [x0,x1)x[y0,y1) set to `value`. */
export function fillY(frame: I420Frame, x0: number, y0: number, x1: number, y1: number, value: number): I420Frame {
  const data = Buffer.from(frame.data);
  for (let y = y0; y < y1; y++) {
    data.fill(value, y * frame.width + x0, y * frame.width + x1);
  }
  return { ...frame, data };
}
