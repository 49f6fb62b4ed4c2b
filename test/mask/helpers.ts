import { i420Size, type Box, type I420Frame } from '../../src/core/index.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An I420 frame whose bytes are noise from `seed`. */
export function noiseFrame(width: number, height: number, seed = 1, index = 0): I420Frame {
  const rnd = seeded(seed);
  const data = Buffer.alloc(i420Size(width, height));
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.floor(rnd() * 256);
  }
  return { width, height, data, index, ptsMs: 0 };
}

/** Whether every point of `target` (clipped to the frame) lies in the union of `boxes`, exactly. */
export function coveredBy(target: Box, boxes: readonly Box[], frame: { width: number; height: number }): boolean {
  const x0 = Math.max(0, target.x);
  const y0 = Math.max(0, target.y);
  const x1 = Math.min(frame.width, target.x + target.w);
  const y1 = Math.min(frame.height, target.y + target.h);
  if (x1 <= x0 || y1 <= y0) {
    return true;
  }
  const xs = [x0, x1, ...boxes.flatMap((b) => [b.x, b.x + b.w])].filter((v) => v >= x0 && v <= x1).sort((a, b) => a - b);
  const ys = [y0, y1, ...boxes.flatMap((b) => [b.y, b.y + b.h])].filter((v) => v >= y0 && v <= y1).sort((a, b) => a - b);
  for (let i = 0; i + 1 < xs.length; i++) {
    for (let j = 0; j + 1 < ys.length; j++) {
      const [ax, bx, ay, by] = [xs[i] ?? 0, xs[i + 1] ?? 0, ys[j] ?? 0, ys[j + 1] ?? 0];
      if (bx <= ax || by <= ay) {
        continue;
      }
      const cx = (ax + bx) / 2;
      const cy = (ay + by) / 2;
      if (!boxes.some((b) => cx >= b.x && cx <= b.x + b.w && cy >= b.y && cy <= b.y + b.h)) {
        return false;
      }
    }
  }
  return true;
}

/** The pixels a fractional box shows: those whose centre lies inside it. */
export function pixelsOf(b: Box): Box {
  const x0 = Math.ceil(b.x - 0.5);
  const y0 = Math.ceil(b.y - 0.5);
  return { x: x0, y: y0, w: Math.ceil(b.x + b.w - 0.5) - x0, h: Math.ceil(b.y + b.h - 0.5) - y0 };
}
