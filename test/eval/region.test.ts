import { describe, expect, it } from 'vitest';
import { clipRect, copyRegion, i420ToRgb, lumaRegion, resampleArea } from '../../src/eval/index.js';
import { makeFrame } from './helpers.js';

describe('clipRect', () => {
  it('takes every pixel a fractional box touches', () => {
    expect(clipRect({ x: 10.4, y: 5.6, w: 20.2, h: 10 }, 100, 100)).toEqual({ x0: 10, y0: 5, x1: 31, y1: 16 });
  });

  it('clips a box that hangs over the edges', () => {
    expect(clipRect({ x: -5, y: 90, w: 20, h: 30 }, 100, 100)).toEqual({ x0: 0, y0: 90, x1: 15, y1: 100 });
  });

  it('returns undefined for boxes outside, empty or not finite', () => {
    expect(clipRect({ x: 120, y: 0, w: 10, h: 10 }, 100, 100)).toBeUndefined();
    expect(clipRect({ x: -30, y: 0, w: 30, h: 10 }, 100, 100)).toBeUndefined();
    expect(clipRect({ x: 0, y: 0, w: 0, h: 10 }, 100, 100)).toBeUndefined();
    expect(clipRect({ x: NaN, y: 0, w: 5, h: 10 }, 100, 100)).toBeUndefined();
  });
});

describe('lumaRegion', () => {
  it('views the clipped Y rectangle of an I420 frame without copying', () => {
    const f = (x: number, y: number): number => (3 * x + 7 * y) % 256;
    const frame = makeFrame(32, 24, f);
    const r = lumaRegion(frame, { x: 30, y: 20, w: 10, h: 10 });
    expect(r).toBeDefined();
    const packed = copyRegion(r!);
    expect([packed.width, packed.height]).toEqual([2, 4]);
    expect(Array.from(packed.data)).toEqual([f(30, 20), f(31, 20), f(30, 21), f(31, 21), f(30, 22), f(31, 22), f(30, 23), f(31, 23)]);
  });
});

describe('resampleArea', () => {
  it('averages whole blocks when the ratio is an integer', () => {
    const data = Uint8Array.from([0, 2, 10, 20, 4, 6, 30, 40, 100, 100, 0, 0, 100, 100, 0, 8]);
    const out = resampleArea({ data, width: 4, height: 4 }, 2, 2);
    expect(Array.from(out.data)).toEqual([3, 25, 100, 2]);
  });

  it('keeps the mean with a fractional ratio', () => {
    const data = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 37) % 251);
    const mean = data.reduce((s, v) => s + v, 0) / data.length;
    const out = resampleArea({ data, width: 7, height: 5 }, 3, 2);
    const outMean = out.data.reduce((s, v) => s + v, 0) / out.data.length;
    expect(outMean).toBeCloseTo(mean, 0);
  });
});

describe('i420ToRgb', () => {
  it('converts BT.601 limited-range grey and red', () => {
    const frame = makeFrame(4, 2, () => 128);
    const grey = i420ToRgb(frame, { x0: 0, y0: 0, x1: 2, y1: 2 });
    expect(Array.from(grey.data.subarray(0, 3))).toEqual([130, 130, 130]);
    const data = Buffer.from(frame.data);
    data.fill(81, 0, 8);
    data.fill(90, 8, 10);
    data.fill(240, 10, 12);
    const red = i420ToRgb({ ...frame, data }, { x0: 2, y0: 1, x1: 4, y1: 2 });
    expect([red.width, red.height]).toEqual([2, 1]);
    const [r, g, b] = Array.from(red.data.subarray(0, 3));
    expect(r).toBeGreaterThan(250);
    expect(g).toBeLessThan(5);
    expect(b).toBeLessThan(5);
  });
});
