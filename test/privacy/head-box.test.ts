// Box expansion on real faces: BlazeFace's tight box, grown by the default
// expansion, must cover the whole face as an independent detector (YuNet,
// the truth files) draws it, on talking heads, a child, a profile turn and
// a portrait framing.
import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/index.js';
import { FaceDetector } from '../../src/detect/index.js';
import { expandBox } from '../../src/mask/index.js';
import { readFrames, truthBoxes } from '../support/clip-frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

function covered(outer: Box, inner: Box): number {
  const w = Math.min(outer.x + outer.w, inner.x + inner.w) - Math.max(outer.x, inner.x);
  const h = Math.min(outer.y + outer.h, inner.y + inner.h) - Math.max(outer.y, inner.y);
  return (Math.max(0, w) * Math.max(0, h)) / (inner.w * inner.h);
}

const CLIPS = ['lp_driving_d3', 'lp_driving_d11', 'lp_driving_d6', 'lp_source_s18', 'lp_source_s20', 'clm_cap12_edit'];
const FRAMES = [0, 40, 80, 120, 160];

describe.skipIf(!hasTestData)(`head box on real faces (${hasTestData ? CLIPS.join(', ') : noDataReason})`, () => {
  it('the expanded box covers at least 97% of every truth face, while the tight box does not', async () => {
    const detector = await FaceDetector.create({ mode: 'both', ep: 'cpu' });
    let checked = 0;
    let tightShort = 0;
    try {
      for (const clip of CLIPS) {
        const frames = await readFrames(clipPath(clip), FRAMES);
        for (const [i, frame] of frames) {
          const { faces } = await detector.detect(frame);
          for (const t of truthBoxes(clip, i)) {
            const truth = t.box;
            const best = faces
              .map((f) => ({ f, c: covered(expandBox(f, frame), truth) }))
              .sort((a, b) => b.c - a.c)[0];
            expect(best, `${clip} frame ${i}: a detection for the truth face`).toBeDefined();
            expect(best!.c, `${clip} frame ${i}: head box covers the truth face`).toBeGreaterThanOrEqual(0.97);
            if (covered(best!.f, truth) < 0.9) {
              tightShort++;
            }
            checked++;
          }
        }
      }
    } finally {
      await detector.close();
    }
    expect(checked).toBeGreaterThanOrEqual(25);
    // The expansion matters: BlazeFace's own box misses part of most faces.
    expect(tightShort / checked).toBeGreaterThan(0.5);
  }, 120_000);
});
