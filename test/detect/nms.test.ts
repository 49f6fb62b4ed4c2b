import { describe, expect, it } from 'vitest';
import { blend, iou, weightedNms } from '../../src/detect/nms.js';

const box = (x: number, y: number, w: number, h: number, score: number) => ({ x, y, w, h, score });

describe('iou', () => {
  it('is 1 for equal boxes, 0 for disjoint, and the ratio in between', () => {
    expect(iou(box(0, 0, 10, 10, 1), box(0, 0, 10, 10, 1))).toBe(1);
    expect(iou(box(0, 0, 10, 10, 1), box(20, 0, 10, 10, 1))).toBe(0);
    expect(iou(box(0, 0, 10, 10, 1), box(5, 0, 10, 10, 1))).toBeCloseTo(50 / 150, 9);
    expect(iou(box(0, 0, 0, 0, 1), box(0, 0, 0, 0, 1))).toBe(0);
  });
});

describe('weightedNms', () => {
  it('averages overlapping boxes weighted by score and keeps the best score', () => {
    const out = weightedNms([box(0, 0, 10, 10, 0.25), box(2, 0, 10, 10, 0.75)], 0.3);
    expect(out).toHaveLength(1);
    expect(out[0]?.x).toBeCloseTo(1.5, 9);
    expect(out[0]?.score).toBe(0.75);
  });

  it('keeps boxes that overlap less than the threshold, best first', () => {
    const out = weightedNms([box(0, 0, 10, 10, 0.5), box(8, 0, 10, 10, 0.9), box(100, 100, 5, 5, 0.7)], 0.3);
    expect(out.map((b) => b.score)).toEqual([0.9, 0.7, 0.5]);
  });

  it('blends key points too and lets the caller keep extra fields', () => {
    const a = { ...box(0, 0, 10, 10, 0.5), keypoints: [[0, 0]] as [number, number][], model: 'front128' };
    const b = { ...box(0, 0, 10, 10, 0.5), keypoints: [[2, 4]] as [number, number][], model: 'back256' };
    const [out] = weightedNms([a, b], 0.5);
    expect(out?.keypoints).toEqual([[1, 2]]);
    expect(out?.model).toBe('front128');
  });

  it('groups around the best box only (no chaining)', () => {
    // b overlaps a and c, but a and c do not overlap: b leads, a and c each overlap b by 1/3.
    const out = weightedNms([box(0, 0, 10, 10, 0.6), box(5, 0, 10, 10, 0.9), box(10, 0, 10, 10, 0.6)], 0.3);
    expect(out).toHaveLength(1);
    expect(out[0]?.x).toBeCloseTo(5, 9);
  });

  it('blend of one box is the box', () => {
    expect(blend([box(1, 2, 3, 4, 0.5)])).toEqual(box(1, 2, 3, 4, 0.5));
  });
});
