import { describe, expect, it } from 'vitest';
import type { FaceDetection } from '../../src/core/index.js';
import { DETECTOR_DEFAULTS, dropNestedDuplicates, keepTileFace, NESTED } from '../../src/detect/face-detector.js';

const det = (x: number, y: number, s: number, score: number): FaceDetection => ({ x, y, w: s, h: s, score, model: 'back256' });

describe('dropNestedDuplicates', () => {
  // lp_source_s13, frame 71: back-256 finds the 85 px face at 0.95; front-128 at the
  // whole-frame scale answers with a 166 px box around it at 0.49.
  const face = det(333, 87, 86, 0.95);
  const loose = det(305, 95, 164, 0.49);

  it('drops the loose, weak box around a confident face and keeps the face', () => {
    expect(dropNestedDuplicates([face, loose])).toEqual([face]);
    expect(dropNestedDuplicates([loose, face])).toEqual([face]);
  });

  it('keeps the outer box when the inner one is not confident, or not far more confident', () => {
    expect(dropNestedDuplicates([det(333, 87, 86, NESTED.minInnerScore - 0.01), loose])).toHaveLength(2);
    expect(dropNestedDuplicates([face, det(305, 95, 164, 0.95 - NESTED.scoreGap + 0.01)])).toHaveLength(2);
  });

  it('keeps boxes that are not a loose copy: the inner box outside, much smaller, or about the same size', () => {
    expect(dropNestedDuplicates([det(600, 600, 86, 0.95), loose])).toHaveLength(2);
    expect(dropNestedDuplicates([det(340, 100, 20, 0.95), loose])).toHaveLength(2);
    expect(dropNestedDuplicates([det(310, 100, 150, 0.95), loose])).toHaveLength(2);
  });
});

describe('keepTileFace', () => {
  const tile = { region: { x: 0, y: 0, w: 512, h: 400 } };

  it('drops tile boxes larger than tileMaxFaceFraction of the tile, and weak ones', () => {
    const max = DETECTOR_DEFAULTS.tileMaxFaceFraction * 400;
    expect(keepTileFace(det(10, 10, max, 0.9), tile, 0.25)).toBe(true);
    expect(keepTileFace(det(10, 10, max + 1, 0.9), tile, 0.25)).toBe(false);
    expect(keepTileFace(det(10, 10, 40, DETECTOR_DEFAULTS.tileScoreThreshold - 0.01), tile, 0.25)).toBe(false);
  });

  it('keeps the detector threshold on low-light tiles (dim faces score low)', () => {
    expect(keepTileFace(det(10, 10, 40, 0.26), { ...tile, lowLight: true }, 0.25)).toBe(true);
  });
});
