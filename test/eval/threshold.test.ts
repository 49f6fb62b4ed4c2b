// Pins the leak threshold's justification on real faces: a mild H.264
// re-encode and 8/16 px pixelation leave a face recognisable (leak), face/4
// blocks, a strong blur and a solid fill do not. See src/eval/README.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Box, I420Frame } from '../../src/core/index.js';
import { isLeak, LEAK_THRESHOLD, measureBox } from '../../src/eval/index.js';
import { readFrames, reencode, truthBoxes } from '../support/clip-frames.js';
import { maskFrame, type FrameMask } from '../support/degrade.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

// Single-person clips whose faces are >= 90 px wide (16 px blocks leave >= 6 across the face).
const CLIPS = ['clm_cap12_edit', 'clm_franck_talking_face', 'lp_driving_d9', 'st_WDA_KatieHill_000', 'lp_source_s18'];
const FRAMES = [0, 30];

/** The head box a masker paints: the face box grown 30% sideways, 40% up, 30% down. */
function headBox(b: Box): Box {
  return { x: b.x - 0.3 * b.w, y: b.y - 0.4 * b.h, w: 1.6 * b.w, h: 1.7 * b.h };
}

const masks: Record<string, (face: number) => FrameMask> = {
  px8: () => ({ kind: 'pixelate', block: 8 }),
  px16: () => ({ kind: 'pixelate', block: 16 }),
  'px face/4': (face) => ({ kind: 'pixelate', block: Math.ceil(face / 4) }),
  'blur sigma=face/8': (face) => ({ kind: 'blur', sigma: face / 8 }),
  solid: () => ({ kind: 'solid' }),
};
const RECOGNISABLE = new Set(['crf23', 'crf28', 'px8', 'px16']);

interface Row {
  clip: string;
  frame: number;
  width: number;
  kind: string;
  score: number;
  ssim: number;
}

describe.skipIf(!hasTestData)(`leak threshold on real faces${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  const rows: Row[] = [];
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'livemask-eval-thr-'));
    for (const clip of CLIPS) {
      const originals = await readFrames(clipPath(clip), FRAMES);
      const encoded: Record<string, Map<number, I420Frame>> = {};
      for (const crf of [23, 28]) {
        const out = join(dir, `${clip}-crf${crf}.mp4`);
        await reencode(clipPath(clip), out, crf, Math.max(...FRAMES) + 1);
        encoded[`crf${crf}`] = await readFrames(out, FRAMES);
      }
      for (const i of FRAMES) {
        const a = originals.get(i);
        for (const { box } of truthBoxes(clip, i)) {
          if (!a) {
            continue;
          }
          const face = Math.max(box.w, box.h);
          const variants: [string, I420Frame | undefined][] = [
            ...Object.entries(encoded).map(([k, m]): [string, I420Frame | undefined] => [k, m.get(i)]),
            ...Object.entries(masks).map(([k, m]): [string, I420Frame] => [k, maskFrame(a, headBox(box), m(face))]),
          ];
          for (const [kind, b] of variants) {
            const m = b ? measureBox(a, b, box) : undefined;
            if (m) {
              rows.push({ clip, frame: i, width: Math.round(box.w), kind, ...m });
            }
          }
        }
      }
    }
    console.table(rows.map((r) => ({ ...r, score: r.score.toFixed(3), ssim: r.ssim.toFixed(3) })));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('measured every face of every clip under every treatment', () => {
    expect(rows.length).toBe(CLIPS.length * FRAMES.length * (2 + Object.keys(masks).length));
  });

  for (const kind of ['crf23', 'crf28', ...Object.keys(masks)]) {
    const leak = RECOGNISABLE.has(kind);
    it(`${kind}: ${leak ? 'still recognisable, counts as a leak' : 'not recognisable, no leak'}`, () => {
      const mine = rows.filter((r) => r.kind === kind);
      expect(mine.length).toBeGreaterThan(0);
      for (const r of mine) {
        expect({ clip: r.clip, frame: r.frame, leak: isLeak(r.score) }).toEqual({ clip: r.clip, frame: r.frame, leak });
      }
    });
  }

  it('plain full-resolution SSIM alone could not separate 16 px from face/4 blocks (why the score is canonical)', () => {
    const min16 = Math.min(...rows.filter((r) => r.kind === 'px16').map((r) => r.ssim));
    const maxF4 = Math.max(...rows.filter((r) => r.kind === 'px face/4').map((r) => r.ssim));
    expect(min16).toBeLessThan(maxF4);
    expect(LEAK_THRESHOLD).toBeGreaterThan(0.5);
  });
});
