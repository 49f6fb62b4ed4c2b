import { describe, expect, it } from 'vitest';
import { formatLeakReport, formatRanges, LeakTally, type BoxResult } from '../../src/eval/index.js';

function result(frame: number, score: number, plainlyVisible = true, threshold = 0.62): BoxResult {
  return { frame, box: { x: 1, y: 2, w: 30, h: 40 }, score, ssim: score / 2, leak: !(score < threshold), plainlyVisible };
}

describe('LeakTally', () => {
  it('aggregates face-frames, leaks, over-masking and the worst boxes', () => {
    const t = new LeakTally(0.62, 2);
    t.addFrame([result(0, 0.9), result(0, 0.1, false)], false);
    t.addFrame([result(1, 0.3)], true);
    t.addFrame([], true); // no face: not an over-mask
    t.addFrame([result(3, 0.2, false)], true); // no plainly visible face: not counted
    t.addFrame([result(4, 0.7)], false);
    const r = t.report(6);
    expect(r).toMatchObject({
      threshold: 0.62,
      frames: 5,
      truthFrames: 6,
      faceFrames: 5,
      leaks: 2,
      leakRate: 2 / 5,
      framesWithLeak: 2,
      plainlyVisibleFaceFrames: 3,
      overMaskFrames: 1,
      overMaskRate: 1 / 3,
      overMaskedFrames: [1],
    });
    expect(r.worst.map((w) => [w.frame, w.score])).toEqual([
      [0, 0.9],
      [4, 0.7],
    ]);
    expect(r.corrections).toBeUndefined();
  });

  it('reports zero rates, not NaN, when there is nothing to count', () => {
    const r = new LeakTally(0.62).report(0);
    expect([r.leakRate, r.overMaskRate]).toEqual([0, 0]);
  });

  it('puts unmeasurable (NaN) scores first among the worst', () => {
    const t = new LeakTally(0.62, 3);
    t.addFrame([result(0, 0.95), result(0, NaN)], false);
    expect(Number.isNaN(t.report(1).worst[0]?.score)).toBe(true);
  });
});

describe('formatLeakReport', () => {
  it('lists the over-masked frames as ranges', () => {
    const t = new LeakTally(0.62);
    for (const f of [3, 4, 5, 9, 12, 13]) {
      t.addFrame([result(f, 0.1)], true, f);
    }
    t.addFrame([result(14, 0.1)], false, 14);
    expect(t.report(15).overMaskedFrames).toEqual([3, 4, 5, 9, 12, 13]);
    expect(formatLeakReport(t.report(15))).toContain('over-masked frames: 3-5, 9, 12-13');
    expect(formatRanges([])).toBe('');
  });


  it('prints the counts, rates, corrections, a warning on missing frames and the worst boxes', () => {
    const t = new LeakTally(0.62);
    t.addFrame([result(7, 0.8)], false);
    const text = formatLeakReport(t.report(2, { reason: 'fist', dropped: 7 }));
    expect(text).toContain('leaks: 1 of 1 face-frames (100.00%)');
    expect(text).toContain('over-mask: 0 of 1');
    expect(text).toContain('warning: 1 truth frames were not compared');
    expect(text).toContain('7 truth boxes dropped (fist)');
    expect(text).toMatch(/frame 7 box \[1, 2, 30, 40\] score 0\.800 ssim 0\.400 LEAK/);
  });
});
