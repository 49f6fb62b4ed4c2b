import { describe, expect, it } from 'vitest';
import { copyRegion, isFullyMasked, isLeak, LEAK_THRESHOLD, leakScore, lumaRegion, measureBox } from '../../src/eval/index.js';
import { gaussianBlur, pixelate, solidFill } from '../support/degrade.js';
import { fillY, makeFrame, texture } from './helpers.js';

describe('leak classification', () => {
  it('counts a score at or above the threshold as a leak, and NaN as a leak (fail closed)', () => {
    expect(isLeak(LEAK_THRESHOLD)).toBe(true);
    expect(isLeak(LEAK_THRESHOLD - 1e-9)).toBe(false);
    expect(isLeak(0.99)).toBe(true);
    expect(isLeak(0.1)).toBe(false);
    expect(isLeak(NaN)).toBe(true);
    expect(isLeak(0.5, 0.4)).toBe(true);
  });

  it('scores an untouched region 1 and a solid fill far below the threshold', () => {
    const frame = makeFrame(96, 96, texture);
    const r = copyRegion(lumaRegion(frame, { x: 16, y: 16, w: 64, h: 64 })!);
    expect(leakScore(r, r)).toBe(1);
    expect(leakScore(r, solidFill(r))).toBeLessThan(0.3);
    expect(leakScore(r, pixelate(r, 4))).toBeGreaterThan(leakScore(r, pixelate(r, 16)));
    expect(leakScore(r, gaussianBlur(r, 1))).toBeGreaterThan(leakScore(r, gaussianBlur(r, 8)));
  });

  it('judges a dim, low-contrast region as if it were lit (contrast normalisation)', () => {
    const dim = makeFrame(64, 64, (x, y) => 20 + Math.round((texture(x, y) - 128) / 12));
    const r = copyRegion(lumaRegion(dim, { x: 0, y: 0, w: 64, h: 64 })!);
    expect(leakScore(r, pixelate(r, 16))).toBeLessThan(LEAK_THRESHOLD);
    expect(leakScore(r, r)).toBe(1);
  });

  it('measures a box clipped to the frame and skips one outside it', () => {
    const a = makeFrame(64, 48, texture);
    const b = fillY(a, 40, 0, 64, 48, 128);
    const m = measureBox(a, b, { x: 50, y: 10, w: 40, h: 20 });
    expect(m).toBeDefined();
    expect(m!.score).toBeLessThan(0.3);
    expect(measureBox(a, b, { x: 70, y: 10, w: 10, h: 10 })).toBeUndefined();
    expect(() => measureBox(a, makeFrame(32, 32, texture), { x: 0, y: 0, w: 8, h: 8 })).toThrow(RangeError);
  });
});

describe('over-mask detection', () => {
  const original = makeFrame(160, 128, texture);

  it('calls a solid-filled frame fully masked', () => {
    expect(isFullyMasked(original, fillY(original, 0, 0, 160, 128, 128))).toBe(true);
  });

  it('calls a frame fully masked when a strong blur took all its structure', () => {
    const y = copyRegion(lumaRegion(original, { x: 0, y: 0, w: 160, h: 128 })!);
    const blurred = gaussianBlur(y, 12);
    const data = Buffer.from(original.data);
    data.set(blurred.data, 0);
    expect(isFullyMasked(original, { ...original, data })).toBe(true);
  });

  it('does not call a frame with one face box masked fully masked', () => {
    expect(isFullyMasked(original, fillY(original, 40, 20, 110, 100, 128))).toBe(false);
    expect(isFullyMasked(original, original)).toBe(false);
  });

  it('leaves the head around a truth face out: a close-up whose head is masked is not fully masked', () => {
    // The face box and its margin cover most of the frame; the masked head
    // takes almost all the texture, yet the rest of the picture is intact.
    const face = { x: 50, y: 30, w: 60, h: 60 };
    const headMasked = fillY(original, 0, 0, 150, 128, 128);
    expect(isFullyMasked(original, headMasked)).toBe(true);
    expect(isFullyMasked(original, headMasked, [face])).toBe(false);
  });

  it('on a close-up with no texture left outside the face, counts only a flat frame as fully masked', () => {
    const face = { x: 10, y: 10, w: 140, h: 108 };
    expect(isFullyMasked(original, fillY(original, 0, 0, 160, 128, 128), [face])).toBe(true);
    expect(isFullyMasked(original, fillY(original, 20, 20, 140, 110, 128), [face])).toBe(false);
  });

  it('never calls a flat original fully masked (nothing to judge)', () => {
    const flat = makeFrame(160, 128, () => 30);
    expect(isFullyMasked(flat, fillY(flat, 0, 0, 160, 128, 128))).toBe(false);
  });
});
