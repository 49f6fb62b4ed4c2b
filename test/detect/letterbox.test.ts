import { describe, expect, it } from 'vitest';
import { i420Size, type I420Frame } from '../../src/core/index.js';
import { letterboxI420, LetterboxScratch, planLetterbox, toFramePixels } from '../../src/detect/letterbox.js';

/** A frame filled with one YUV colour, with an optional luma rectangle painted on it. */
function frame(width: number, height: number, yuv: [number, number, number], rect?: { x: number; y: number; w: number; h: number; luma: number }): I420Frame {
  const data = Buffer.alloc(i420Size(width, height));
  const cw = Math.ceil(width / 2);
  data.fill(yuv[0], 0, width * height);
  data.fill(yuv[1], width * height, width * height + cw * Math.ceil(height / 2));
  data.fill(yuv[2], width * height + cw * Math.ceil(height / 2));
  if (rect) {
    for (let y = rect.y; y < rect.y + rect.h; y++) {
      data.fill(rect.luma, y * width + rect.x, y * width + rect.x + rect.w);
    }
  }
  return { width, height, data, index: 0, ptsMs: 0 };
}

const pixel = (t: Float32Array, size: number, x: number, y: number) => Array.from(t.subarray((y * size + x) * 3, (y * size + x) * 3 + 3));

describe('planLetterbox / toFramePixels', () => {
  it('fits a 16:9 frame with vertical padding and maps boxes back', () => {
    const lb = planLetterbox({ x: 0, y: 0, w: 640, h: 360 }, 256);
    expect(lb.scale).toBeCloseTo(0.4, 9);
    expect(lb.padX).toBe(0);
    expect(lb.padY).toBeCloseTo(56, 9);
    // Model box (64,56)-(128,96) in pixels, normalised.
    const b = toFramePixels({ x: 64 / 256, y: 56 / 256, w: 64 / 256, h: 40 / 256, score: 1, keypoints: [[0.5, 0.5]] }, lb);
    expect(b.x).toBeCloseTo(160, 6);
    expect(b.y).toBeCloseTo(0, 6);
    expect(b.w).toBeCloseTo(160, 6);
    expect(b.h).toBeCloseTo(100, 6);
    expect(b.keypoints?.[0]?.[0]).toBeCloseTo(320, 6);
    expect(b.keypoints?.[0]?.[1]).toBeCloseTo(180, 6);
  });

  it('maps a tile region with its offset', () => {
    const lb = planLetterbox({ x: 100, y: 50, w: 512, h: 512 }, 256);
    const b = toFramePixels({ x: 0.5, y: 0.25, w: 0.125, h: 0.125, score: 1 }, lb);
    expect([b.x, b.y, b.w, b.h]).toEqual([356, 178, 64, 64]);
  });
});

describe('letterboxI420', () => {
  it('converts BT.601 limited range to RGB in [-1,1] and pads black', () => {
    const size = 128;
    const out = new Float32Array(size * size * 3);
    // Limited-range white (235) and mid grey with neutral chroma.
    letterboxI420(frame(640, 360, [235, 128, 128]), planLetterbox({ x: 0, y: 0, w: 640, h: 360 }, size), out);
    for (const v of pixel(out, size, 64, 64)) {
      expect(v).toBeCloseTo(1, 2);
    }
    expect(pixel(out, size, 64, 0)).toEqual([-1, -1, -1]);
    expect(pixel(out, size, 64, 127)).toEqual([-1, -1, -1]);
    letterboxI420(frame(64, 64, [126, 128, 128]), planLetterbox({ x: 0, y: 0, w: 64, h: 64 }, size), out);
    for (const v of pixel(out, size, 10, 10)) {
      expect(v).toBeCloseTo((1.164 * 110) / 127.5 - 1, 3);
    }
  });

  it('decodes pure red from its BT.601 YUV', () => {
    const out = new Float32Array(16 * 16 * 3);
    letterboxI420(frame(32, 32, [81, 90, 240]), planLetterbox({ x: 0, y: 0, w: 32, h: 32 }, 16), out);
    const [r, g, b] = pixel(out, 16, 8, 8);
    expect(r).toBeGreaterThan(0.95);
    expect(g).toBeLessThan(-0.95);
    expect(b).toBeLessThan(-0.95);
  });

  it.each([
    ['downscale 1080p', 1920, 1080, { x: 0, y: 0, w: 1920, h: 1080 }],
    ['tile at 0.5', 1920, 1080, { x: 640, y: 300, w: 512, h: 512 }],
    ['upscale tile', 640, 360, { x: 200, y: 100, w: 128, h: 128 }],
  ])('puts a bright square where the mapping says (%s)', (_name, w, h, region) => {
    const size = 256;
    const sq = { x: region.x + Math.round(region.w * 0.3), y: region.y + Math.round(region.h * 0.5), w: 160, h: 120, luma: 235 };
    const f = frame(w, h, [16, 128, 128], { ...sq, w: Math.min(sq.w, region.w / 4), h: Math.min(sq.h, region.h / 4) });
    const lb = planLetterbox(region, size);
    const out = new Float32Array(size * size * 3);
    letterboxI420(f, lb, out, new LetterboxScratch(size));
    // Bounding box of bright tensor pixels, mapped back to frame pixels.
    let x0 = size;
    let y0 = size;
    let x1 = -1;
    let y1 = -1;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if ((pixel(out, size, x, y)[0] ?? -1) > 0) {
          x0 = Math.min(x0, x);
          y0 = Math.min(y0, y);
          x1 = Math.max(x1, x + 1);
          y1 = Math.max(y1, y + 1);
        }
      }
    }
    const back = toFramePixels({ x: x0 / size, y: y0 / size, w: (x1 - x0) / size, h: (y1 - y0) / size, score: 1 }, lb);
    const tol = 1.5 / lb.scale;
    expect(Math.abs(back.x - sq.x)).toBeLessThanOrEqual(tol);
    expect(Math.abs(back.y - sq.y)).toBeLessThanOrEqual(tol);
    expect(Math.abs(back.w - Math.min(sq.w, region.w / 4))).toBeLessThanOrEqual(2 * tol);
  });

  it('reads a sub-rectangle without touching pixels outside it (except at its edge)', () => {
    const f = frame(200, 200, [16, 128, 128], { x: 0, y: 0, w: 100, h: 200, luma: 235 });
    const out = new Float32Array(64 * 64 * 3);
    letterboxI420(f, planLetterbox({ x: 110, y: 0, w: 90, h: 90 }, 64), out);
    expect(Math.max(...Array.from(out))).toBeLessThan(-0.9);
  });
});
