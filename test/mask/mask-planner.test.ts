import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/index.js';
import { MaskPlanner, type DetectionResult, type MaskPlan, type MaskPlannerOptions } from '../../src/mask/index.js';
import { coveredBy } from './helpers.js';

const W = 640;
const H = 480;
const K = 4;
const face = (x: number, y: number, s = 80): Box => ({ x, y, w: s, h: s });
const base: MaskPlannerOptions = { width: W, height: H, lookahead: K, holdFrames: 10, requireFace: false, fps: 10 };

/** Runs the planner the way the file pipeline does: push, detect, release n once n+K entered; flush at the end. */
function runFile(frames: number, result: (i: number) => DetectionResult | undefined, options: Partial<MaskPlannerOptions> = {}, planner = new MaskPlanner({ ...base, ...options })): MaskPlan[] {
  const plans: MaskPlan[] = [];
  const k = options.lookahead ?? K;
  for (let i = 0; i < frames; i++) {
    planner.pushFrame(i);
    const r = result(i);
    if (r) {
      planner.pushResult(i, r);
    }
    if (i >= k) {
      plans.push(planner.plan(i - k));
    }
  }
  for (let n = Math.max(0, frames - k); n < frames; n++) {
    plans.push(planner.plan(n));
  }
  return plans;
}

const covers = (plan: MaskPlan | undefined, b: Box): boolean => plan !== undefined && (plan.fullFrame || coveredBy(b, plan.boxes, { width: W, height: H }));

describe('MaskPlanner fail-closed policy', () => {
  it('masks the whole first frame when no result exists yet (live: result arrives late)', () => {
    const p = new MaskPlanner(base);
    p.pushFrame(0);
    expect(p.plan(0)).toMatchObject({ index: 0, fullFrame: true, reason: 'no-result' });
    p.pushResult(0, { faces: [] });
    p.pushFrame(1);
    p.pushResult(1, { faces: [] });
    expect(p.plan(1)).toMatchObject({ fullFrame: false, boxes: [] });
  });

  it('masks the whole frame when the detector errored on it', () => {
    const plans = runFile(20, (i) => (i === 12 ? { error: new Error('onnx failed') } : { faces: [face(100, 100)] }));
    expect(plans[12]).toMatchObject({ fullFrame: true, reason: 'detector-error' });
    expect(plans[13]?.fullFrame).toBe(false);
    expect(plans[11]?.fullFrame).toBe(false);
  });

  it('masks the whole frame while the newest result is an error (live: detector died)', () => {
    const p = new MaskPlanner(base);
    for (let i = 0; i < 3; i++) {
      p.pushFrame(i);
      p.pushResult(i, { faces: [] });
    }
    p.pushResult(3, { error: new Error('gpu lost') });
    p.pushFrame(3);
    expect(p.plan(2)).toMatchObject({ fullFrame: true, reason: 'detector-error' });
  });

  it('treats a non-finite or empty face box as a detector error', () => {
    const plans = runFile(10, (i) => (i === 5 ? { faces: [{ x: Number.NaN, y: 0, w: 10, h: 10 }] } : { faces: [] }));
    expect(plans[5]).toMatchObject({ fullFrame: true, reason: 'detector-error' });
  });

  it('masks the whole frame when the newest result is older than the stale budget', () => {
    const p = new MaskPlanner({ ...base, staleBudgetFrames: 2 });
    for (let i = 0; i <= 10; i++) {
      p.pushFrame(i);
      if (i <= 5) {
        p.pushResult(i, { faces: [face(100, 100)] });
      }
    }
    expect(p.plan(6).fullFrame).toBe(false);
    expect(p.plan(7).fullFrame).toBe(false);
    expect(p.plan(8)).toMatchObject({ fullFrame: true, reason: 'stale' });
  });

  it('requireFace: full frame from the first no-face result at stream start, and after the hold with no face', () => {
    const plans = runFile(60, (i) => ({ faces: i >= 5 && i < 30 ? [face(100, 100)] : [] }), { requireFace: true });
    for (let i = 0; i < 5; i++) {
      expect(plans[i], `frame ${i}`).toMatchObject({ fullFrame: true, reason: 'no-face' });
    }
    for (let i = 5; i <= 39; i++) {
      expect(plans[i]?.fullFrame, `frame ${i}`).toBe(false);
    }
    expect(plans[40]).toMatchObject({ fullFrame: true, reason: 'no-face' });
  });

  it('without requireFace, a frame with no face is left alone', () => {
    const plans = runFile(30, () => ({ faces: [] }));
    expect(plans.every((p) => !p.fullFrame && p.boxes.length === 0)).toBe(true);
  });

  it('a resize masks the whole frame until a result at the new size arrives, and drops old tracks', () => {
    const p = new MaskPlanner(base);
    for (let i = 0; i < 5; i++) {
      p.pushFrame(i);
      p.pushResult(i, { faces: [face(500, 300)] });
    }
    p.resize(320, 240, 5);
    p.pushFrame(5);
    expect(p.plan(4)).toMatchObject({ fullFrame: true, reason: 'size-change' });
    expect(p.plan(5)).toMatchObject({ fullFrame: true, reason: 'size-change' });
    p.pushResult(5, { faces: [] });
    p.pushFrame(6);
    p.pushResult(6, { faces: [] });
    expect(p.plan(6)).toEqual({ index: 6, boxes: [], fullFrame: false });
    expect(p.width).toBe(320);
  });

  it('emits failsafe engaged and cleared with the reason', () => {
    const p = new MaskPlanner(base);
    const events: string[] = [];
    p.on('failsafe', (e) => events.push(`${e.state}:${e.reason}@${e.index}`));
    runFile(20, (i) => (i === 10 ? { error: new Error('x') } : { faces: [] }), {}, p);
    expect(events).toEqual(['engaged:detector-error@6', 'cleared:detector-error@7', 'engaged:detector-error@10', 'cleared:detector-error@11']);
  });
});

describe('MaskPlanner look-ahead and tracking', () => {
  it('masks a face entering at frame 10 from frame 10-K', () => {
    const plans = runFile(30, (i) => ({ faces: i >= 10 ? [face(200, 150)] : [] }));
    for (let i = 0; i < 10 - K; i++) {
      expect(plans[i]?.boxes, `frame ${i}`).toEqual([]);
    }
    for (let i = 10 - K; i < 30; i++) {
      expect(covers(plans[i], face(200, 150)), `frame ${i}`).toBe(true);
      expect(plans[i]?.fullFrame).toBe(false);
    }
  });

  it('fills a gap between detections by interpolation, covering a fast-moving face', () => {
    // Still until frame 5, then 40 px/frame; the detector misses frames 6..9,
    // so coasting (velocity 0 at frame 5) cannot cover it: only interpolation can.
    const at = (i: number): Box => face(40 + 40 * Math.max(0, i - 5), 150);
    const plans = runFile(15, (i) => ({ faces: i >= 6 && i <= 9 ? [] : [at(i)] }));
    for (let i = 0; i < 15; i++) {
      expect(covers(plans[i], at(i)), `frame ${i}`).toBe(true);
      expect(plans[i]?.fullFrame).toBe(false);
    }
  });

  it('keeps masking for holdFrames after the last detection, then stops', () => {
    const plans = runFile(40, (i) => ({ faces: i <= 10 ? [face(200, 150)] : [] }), { holdFrames: 10 });
    for (let i = 11; i <= 20; i++) {
      expect(covers(plans[i], face(200, 150)), `frame ${i}`).toBe(true);
    }
    expect(plans[21]?.boxes).toEqual([]);
  });

  it('a shot cut ends the coasting of the old faces at the cut, and the pre-roll of new ones does not cross it back', () => {
    const planner = new MaskPlanner({ ...base, holdFrames: 10 });
    const plans: MaskPlan[] = [];
    for (let i = 0; i < 30; i++) {
      planner.pushFrame(i, { cut: i === 8 });
      planner.pushResult(i, { faces: i < 5 ? [face(200, 150)] : i >= 10 ? [face(400, 150)] : [] });
      if (i >= K) {
        plans.push(planner.plan(i - K));
      }
    }
    expect(covers(plans[7], face(200, 150))).toBe(true);
    expect(plans[8]?.boxes.some((b) => b.x < 300)).toBe(false);
    expect(covers(plans[8], face(400, 150))).toBe(true);
    expect(plans[7]?.boxes.some((b) => b.x > 300)).toBe(false);
  });

  it('plans head boxes: expanded beyond the face box, whole pixels, at least minBoxSize, with the face size', () => {
    const plans = runFile(10, () => ({ faces: [face(300, 200, 100), face(10, 10, 4)] }), { minBoxSize: 24 });
    const [head, tiny] = plans[5]?.boxes ?? [];
    expect(head).toBeDefined();
    expect(head!.x).toBeLessThan(300 - 30);
    expect(head!.y).toBeLessThan(200 - 50);
    expect(head!.faceSize).toBe(100);
    for (const b of plans[5]?.boxes ?? []) {
      expect([b.x, b.y, b.w, b.h].every(Number.isInteger)).toBe(true);
    }
    expect(tiny!.w).toBeGreaterThanOrEqual(24);
  });

  it('a late result the tracker has passed still masks its own frame', () => {
    const p = new MaskPlanner(base);
    for (let i = 0; i < 8; i++) {
      p.pushFrame(i);
      if (i !== 3) {
        p.pushResult(i, { faces: [] });
      }
    }
    p.pushResult(3, { faces: [face(300, 200)] });
    expect(covers(p.plan(3), face(300, 200))).toBe(true);
  });

  it('rejects planning a frame that was never pushed, and a second result for a frame', () => {
    const p = new MaskPlanner(base);
    p.pushFrame(0);
    expect(() => p.plan(1)).toThrow(/plan\(1\)/);
    p.pushResult(0, { faces: [] });
    expect(() => p.pushResult(0, { faces: [] })).toThrow(/second/);
  });

  it('rejects invalid options, naming the field', () => {
    expect(() => new MaskPlanner({ ...base, lookahead: -1 })).toThrow(/lookahead/);
    expect(() => new MaskPlanner({ ...base, fps: 0 })).toThrow(/fps/);
  });
});

describe('MaskPlanner presence events', () => {
  it('emits face-present, face-lost after the hold, face-back, in order with seconds', () => {
    const p = new MaskPlanner({ ...base, holdFrames: 10, fps: 10 });
    const events: string[] = [];
    p.on('face-present', (e) => events.push(`present@${e.index}`));
    p.on('face-lost', (e) => events.push(`lost@${e.index} since ${e.sinceIndex} ${e.seconds}s`));
    p.on('face-back', (e) => events.push(`back@${e.index} after ${e.afterSeconds}s`));
    runFile(80, (i) => ({ faces: (i >= 3 && i < 20) || i >= 50 ? [face(100, 100)] : [] }), {}, p);
    expect(events).toEqual(['present@3', 'lost@30 since 20 1.1s', 'back@50 after 3s']);
  });

  it('a listener that throws does not stop planning', () => {
    const p = new MaskPlanner(base);
    const errors: unknown[] = [];
    p.on('listenererror', (_e, err) => errors.push(err));
    p.on('face-present', () => {
      throw new Error('listener bug');
    });
    const plans = runFile(10, () => ({ faces: [face(100, 100)] }), {}, p);
    expect(plans).toHaveLength(10);
    expect(errors).toHaveLength(1);
  });
});
