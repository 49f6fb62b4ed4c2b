import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { applyCorrections, isPlainlyVisible, parseCorrections, parseTruth } from '../../src/eval/index.js';

const truthJson = JSON.stringify({
  video: 'clip.mp4',
  width: 640,
  height: 360,
  fps: 25,
  detector: 'yunet_2023mar',
  thr: 0.6,
  frames: [
    { i: 0, boxes: [[10, 10, 40, 50, 0.95]] },
    { i: 1, boxes: [[10, 10, 40, 50, 0.95], [400, 88, 20, 27, 0.69]] },
    { i: 2, boxes: [] },
  ],
});

describe('truth files', () => {
  it('parses boxes and scores per frame', () => {
    const t = parseTruth(truthJson);
    expect(t.frames.size).toBe(3);
    expect(t.frames.get(1)).toEqual([
      { box: { x: 10, y: 10, w: 40, h: 50 }, score: 0.95 },
      { box: { x: 400, y: 88, w: 20, h: 27 }, score: 0.69 },
    ]);
    expect(t.frames.get(2)).toEqual([]);
  });

  it('rejects malformed files with BAD_USAGE naming the field', () => {
    expect(() => parseTruth('{')).toThrow(LivemaskError);
    try {
      parseTruth(JSON.stringify({ video: 'x', width: 10, height: 10, fps: 25, frames: [{ i: 0, boxes: [[1, 2, 3]] }] }));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LivemaskError);
      expect((err as LivemaskError).code).toBe('BAD_USAGE');
      expect((err as Error).message).toContain('frames.0.boxes.0');
    }
  });

  it('drops the corrected box (best IoU) and leaves the others', () => {
    const c = parseCorrections(JSON.stringify({ reason: 'a fist', drop: [{ i: 1, box: [401, 87, 19, 27] }] }));
    const t = applyCorrections(parseTruth(truthJson), c);
    expect(t.frames.get(1)).toEqual([{ box: { x: 10, y: 10, w: 40, h: 50 }, score: 0.95 }]);
    expect(t.frames.get(0)).toHaveLength(1);
  });

  it('refuses a correction that matches no box, so stale corrections surface', () => {
    const c = parseCorrections(JSON.stringify({ reason: 'stale', drop: [{ i: 0, box: [300, 300, 20, 20] }] }));
    expect(() => applyCorrections(parseTruth(truthJson), c)).toThrow(/matches no truth box/);
    expect(() => parseCorrections(JSON.stringify({ drop: [] }))).toThrow(LivemaskError);
  });

  it('calls a face plainly visible from 24 px wide and score 0.9', () => {
    expect(isPlainlyVisible({ box: { x: 0, y: 0, w: 24, h: 30 }, score: 0.9 })).toBe(true);
    expect(isPlainlyVisible({ box: { x: 0, y: 0, w: 23.9, h: 30 }, score: 0.99 })).toBe(false);
    expect(isPlainlyVisible({ box: { x: 0, y: 0, w: 100, h: 120 }, score: 0.89 })).toBe(false);
    expect(isPlainlyVisible({ box: { x: 0, y: 0, w: 100, h: 120 }, score: NaN })).toBe(false);
  });
});
