import { describe, expect, it } from 'vitest';
import { ssim, SSIM_C1, SSIM_C2, type LumaRegion } from '../../src/eval/index.js';
import { addNoise } from '../support/degrade.js';
import { texture } from './helpers.js';

function region(w: number, h: number, f: (x: number, y: number) => number): LumaRegion & { data: Uint8Array } {
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      data[y * w + x] = f(x, y);
    }
  }
  return { data, width: w, height: h };
}

describe('ssim', () => {
  const tex = region(40, 32, texture);

  it('is exactly 1 for identical regions, textured or flat', () => {
    expect(ssim(tex, tex)).toBe(1);
    const flat = region(16, 16, () => 77);
    expect(ssim(flat, flat)).toBe(1);
  });

  it('falls as noise grows', () => {
    const mild = ssim(tex, addNoise(tex, 8));
    const strong = ssim(tex, addNoise(tex, 60));
    expect(mild).toBeLessThan(1);
    expect(mild).toBeGreaterThan(0.8);
    expect(strong).toBeLessThan(mild);
    expect(strong).toBeLessThan(0.75);
  });

  it('gives a flat region against a textured one only the luminance-weighted C2 share', () => {
    const flat = region(40, 32, () => 128);
    expect(ssim(tex, flat)).toBeLessThan(0.1);
  });

  it('matches the closed form for two flat regions of different brightness', () => {
    const a = region(8, 8, () => 100);
    const b = region(8, 8, () => 110);
    const expected = (2 * 100 * 110 + SSIM_C1) / (100 ** 2 + 110 ** 2 + SSIM_C1);
    expect(ssim(a, b)).toBeCloseTo(expected, 12);
  });

  it('matches the closed form for a checkerboard and its inverse (about -0.996)', () => {
    const a = region(8, 8, (x, y) => ((x + y) % 2 === 0 ? 0 : 255));
    const b = region(8, 8, (x, y) => ((x + y) % 2 === 0 ? 255 : 0));
    const v = 127.5 ** 2;
    expect(ssim(a, b)).toBeCloseTo((SSIM_C2 - 2 * v) / (SSIM_C2 + 2 * v), 12);
  });

  it('measures a region smaller than the window with one window of its own size', () => {
    const a = region(5, 3, (x, y) => x * 20 + y * 7);
    const b = region(5, 3, (x, y) => x * 20 + y * 7 + 4);
    const s = ssim(a, b);
    expect(s).toBeGreaterThan(0.9);
    expect(s).toBeLessThan(1);
    expect(ssim(a, a)).toBe(1);
  });

  it('honours stride and offset', () => {
    const big = region(50, 40, texture);
    const sub: LumaRegion = { data: big.data, width: 20, height: 10, stride: 50, offset: 5 * 50 + 7 };
    const packed = region(20, 10, (x, y) => texture(x + 7, y + 5));
    expect(ssim(sub, packed)).toBe(1);
  });

  it('refuses regions of different sizes or empty ones', () => {
    expect(() => ssim(tex, region(8, 8, () => 0))).toThrow(RangeError);
    expect(() => ssim({ data: new Uint8Array(0), width: 0, height: 0 }, { data: new Uint8Array(0), width: 0, height: 0 })).toThrow(
      RangeError,
    );
  });
});
