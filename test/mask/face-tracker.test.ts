import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/index.js';
import { FaceTracker, iou, trackBoxesInShot } from '../../src/mask/index.js';
import { CONFIRM_SCORE, UNCONFIRMED_MIN_HOLD } from '../../src/mask/track-geometry.js';

const face = (x: number, y: number, s = 80): Box => ({ x, y, w: s, h: s });
const contains = (outer: Box, inner: Box): boolean =>
  outer.x <= inner.x && outer.y <= inner.y && outer.x + outer.w >= inner.x + inner.w && outer.y + outer.h >= inner.y + inner.h;

describe('FaceTracker', () => {
  it('keeps one track for a face that moves a little each frame (IoU match)', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    for (let i = 0; i < 10; i++) {
      t.update(i, [face(100 + 5 * i, 100)]);
    }
    expect(t.tracks).toHaveLength(1);
    expect(t.tracks[0]?.firstIndex).toBe(0);
    expect(t.tracks[0]?.lastIndex).toBe(9);
  });

  it('keeps two faces apart, each detection on its own track', () => {
    const t = new FaceTracker();
    for (let i = 0; i < 5; i++) {
      // Reverse the order on odd frames: matching must not depend on it.
      const dets = [face(50 + i, 100), face(400 - i, 100)];
      t.update(i, i % 2 === 0 ? dets : dets.reverse());
    }
    expect(t.tracks).toHaveLength(2);
    const [a, b] = t.tracks;
    expect(a?.box.x).toBe(54);
    expect(b?.box.x).toBe(396);
  });

  it('estimates velocity (smoothed) in pixels per frame', () => {
    const t = new FaceTracker({ velocitySmoothing: 0.5 });
    for (let i = 0; i < 20; i++) {
      t.update(i, [face(10 + 7 * i, 50 - 2 * i)]);
    }
    expect(t.tracks[0]?.vx).toBeCloseTo(7, 5);
    expect(t.tracks[0]?.vy).toBeCloseTo(-2, 5);
  });

  it('smooths a single jittery sample rather than jumping to it', () => {
    const t = new FaceTracker({ velocitySmoothing: 0.5 });
    for (let i = 0; i < 10; i++) {
      t.update(i, [face(100 + 4 * i, 100)]);
    }
    t.update(10, [face(100 + 4 * 10 + 20, 100)]);
    expect(t.tracks[0]?.vx).toBeCloseTo(0.5 * 24 + 0.5 * 4, 5);
  });

  it('follows a face jumping 100 px per frame (IoU 0) by the centre-distance fallback', () => {
    const t = new FaceTracker();
    for (let i = 0; i < 5; i++) {
      const det = face(20 + 100 * i, 200);
      if (i > 0) {
        expect(iou(face(20 + 100 * (i - 1), 200), det)).toBe(0);
      }
      t.update(i, [det]);
    }
    expect(t.tracks).toHaveLength(1);
    expect(t.tracks[0]?.vx).toBeGreaterThan(90);
    // The prediction one frame on covers where the face goes next.
    const [next] = t.boxesAt(5);
    expect(next && contains(next, face(520, 200))).toBe(true);
  });

  it('does not join a face to a track of a very different size', () => {
    const t = new FaceTracker();
    t.update(0, [face(100, 100, 40)]);
    t.update(1, [face(200, 100, 160)]);
    expect(t.tracks).toHaveLength(2);
  });

  it('coasts a missed face along its velocity, growing, for holdFrames, then drops it', () => {
    const t = new FaceTracker({ holdFrames: 10 });
    for (let i = 0; i < 5; i++) {
      t.update(i, [face(100 + 10 * i, 100)]);
    }
    for (let i = 5; i <= 14; i++) {
      t.update(i, []);
      const [b] = t.boxesAt(i);
      expect(b, `frame ${i}`).toBeDefined();
      // Where linear motion puts the face, and where it was last seen.
      expect(contains(b!, face(100 + 10 * i, 100)), `frame ${i}`).toBe(true);
      expect(contains(b!, face(140, 100)), `frame ${i}`).toBe(true);
    }
    const w9 = t.boxesAt(9)[0]?.h ?? 0;
    expect(w9).toBeGreaterThan(80);
    t.update(15, []);
    expect(t.boxesAt(15)).toEqual([]);
    expect(t.tracks).toHaveLength(0);
  });

  it('re-attaches a face that comes back within the hold to the same track', () => {
    const t = new FaceTracker({ holdFrames: 10 });
    t.update(0, [face(100, 100)]);
    t.update(1, [face(102, 100)]);
    for (let i = 2; i < 8; i++) {
      t.update(i, []);
    }
    t.update(8, [face(115, 100)]);
    expect(t.tracks).toHaveLength(1);
    expect(t.tracks[0]?.history.map((o) => o.index)).toEqual([0, 1, 8]);
  });

  it('rejects updates that do not move forward', () => {
    const t = new FaceTracker();
    t.update(3, []);
    expect(() => t.update(3, [])).toThrow(/frame 3/);
  });
});

describe('FaceTracker in a crowd', () => {
  // Regression (fnp_crowd_video): the centre-distance fallback linked a track
  // to another face 100 px away; the jump became its velocity and coasting
  // smeared the mask over the whole frame.
  it('does not take a distance link against the track motion as velocity', () => {
    const t = new FaceTracker({ maxCentreJump: 1.5 });
    for (let i = 0; i < 5; i++) {
      t.update(i, [face(500 + 2 * i, 300)]);
    }
    t.update(5, [face(510, 400)]);
    expect(t.tracks).toHaveLength(1);
    expect(t.tracks[0]?.history.at(-1)?.weak).toBe(true);
    expect(t.tracks[0]?.vx).toBe(0);
    expect(t.tracks[0]?.vy).toBe(0);
  });

  it('caps how far a coasting box moves along its velocity', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    for (let i = 0; i < 5; i++) {
      t.update(i, [face(100 + 30 * i, 100)]);
    }
    const [b] = t.boxesAt(34);
    // Uncapped, 30 frames at 30 px/frame would move it 900 px. Capped: the hull of the
    // last box and that box moved one face size (160 px wide), grown by at most its size a side.
    expect(b && b.x + b.w).toBeLessThanOrEqual(220 + 80 + 80 + 160);
    expect(b && contains(b, face(220, 100))).toBe(true);
  });
});

describe('FaceTracker hold by confidence', () => {
  const scored = (x: number, score: number): Box & { score: number } => ({ ...face(x, 100), score });

  it('holds a track only the short hold while none of its detections scored CONFIRM_SCORE', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    t.update(0, [scored(100, 0.3)]);
    t.update(1, [scored(100, 0.3)]);
    expect(t.boxesAt(1 + UNCONFIRMED_MIN_HOLD)).toHaveLength(1);
    expect(t.boxesAt(2 + UNCONFIRMED_MIN_HOLD)).toEqual([]);
  });

  it('holds a confirmed track (two detections, one confident) for the whole hold', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    t.update(0, [scored(100, 0.3)]);
    t.update(1, [scored(100, CONFIRM_SCORE)]);
    expect(t.boxesAt(31)).toHaveLength(1);
    expect(t.boxesAt(32)).toEqual([]);
  });

  it('counts a box without a score (not from the detector) as confident', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    t.update(0, [face(100, 100)]);
    t.update(1, [face(100, 100)]);
    expect(t.boxesAt(31)).toHaveLength(1);
  });
});

describe('FaceTracker at a shot cut', () => {
  it('ends every track at the cut: no coasting after it, no link across it', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    for (let i = 0; i < 5; i++) {
      t.update(i, [face(100, 100)]);
    }
    expect(t.boxesAt(6)).toHaveLength(1);
    t.cut(6);
    expect(t.boxesAt(5)).toHaveLength(1);
    expect(t.boxesAt(6)).toEqual([]);
    t.update(7, [face(105, 100)]);
    expect(t.tracks).toHaveLength(2);
    const [old, fresh] = t.tracks;
    expect(old?.lastIndex).toBe(4);
    expect([fresh?.from, fresh?.firstIndex]).toEqual([6, 7]);
  });

  it('masks a track that starts after a cut only from the cut on', () => {
    const t = new FaceTracker({ holdFrames: 30 });
    t.cut(10);
    t.update(12, [face(100, 100)]);
    const [track] = t.tracks;
    const geometry = { ...t.geometry, lookahead: 8 };
    expect(track && trackBoxesInShot(track, 10, geometry)).toHaveLength(1);
    expect(track && trackBoxesInShot(track, 9, geometry)).toEqual([]);
  });

  it('rejects a cut at or before the last update', () => {
    const t = new FaceTracker();
    t.update(3, []);
    expect(() => t.cut(3)).toThrow(/frame 3/);
  });
});
