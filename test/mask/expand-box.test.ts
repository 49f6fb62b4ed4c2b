import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { DEFAULT_BOX_EXPANSION, expandBox } from '../../src/mask/index.js';

const frame = { width: 640, height: 480 };

describe('expandBox', () => {
  it('grows each side by its fraction of the face box', () => {
    const b = expandBox({ x: 200, y: 200, w: 100, h: 80 }, frame, { left: 0.5, right: 0.25, top: 1, bottom: 0.5 });
    expect(b).toEqual({ x: 150, y: 120, w: 175, h: 200 });
  });

  it('uses defaults that reach the ears, crown and chin, and are at least the brief\'s', () => {
    expect(DEFAULT_BOX_EXPANSION.left).toBeGreaterThanOrEqual(0.35);
    expect(DEFAULT_BOX_EXPANSION.right).toBeGreaterThanOrEqual(0.35);
    expect(DEFAULT_BOX_EXPANSION.top).toBeGreaterThanOrEqual(0.6);
    expect(DEFAULT_BOX_EXPANSION.bottom).toBeGreaterThanOrEqual(0.45);
    const b = expandBox({ x: 200, y: 200, w: 100, h: 100 }, frame);
    const e = DEFAULT_BOX_EXPANSION;
    const r = Math.round;
    expect(b).toEqual({ x: r(200 - 100 * e.left), y: r(200 - 100 * e.top), w: r(100 * (1 + e.left + e.right)), h: r(100 * (1 + e.top + e.bottom)) });
  });

  it('merges a partial expansion with the defaults', () => {
    const b = expandBox({ x: 200, y: 200, w: 100, h: 100 }, frame, { top: 0 });
    expect(b.y).toBe(200);
    expect(b.x).toBe(200 - 100 * DEFAULT_BOX_EXPANSION.left);
  });

  it('clips to the frame and rounds outwards to whole pixels', () => {
    expect(expandBox({ x: 10, y: 5, w: 50, h: 50 }, frame)).toMatchObject({ x: 0, y: 0 });
    const edge = expandBox({ x: 600, y: 440, w: 60, h: 60 }, frame);
    expect(edge.x + edge.w).toBe(640);
    expect(edge.y + edge.h).toBe(480);
    const frac = expandBox({ x: 100.4, y: 100.6, w: 10.2, h: 10.2 }, frame, { left: 0, right: 0, top: 0, bottom: 0 });
    expect(frac).toEqual({ x: 100, y: 100, w: 11, h: 11 });
  });

  it('gives an empty box for a face wholly outside the frame', () => {
    const b = expandBox({ x: 900, y: 100, w: 50, h: 50 }, frame);
    expect(b.w).toBe(0);
  });

  it('rejects a negative or non-finite fraction, naming the side', () => {
    expect(() => expandBox({ x: 0, y: 0, w: 1, h: 1 }, frame, { left: -0.1 })).toThrow(/expansion\.left/);
    expect(() => expandBox({ x: 0, y: 0, w: 1, h: 1 }, frame, { top: Number.NaN })).toThrow(LivemaskError);
  });
});
