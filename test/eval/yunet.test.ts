// The independent auditor: YuNet (test/support/yunet.ts). First proves its
// decoding against the truth files (made with the same model), then pins
// what it sees through masks: faces through 8 px pixelation, none through a
// solid fill; through 16 px blocks on faces of about 100 px and more, none
// through face/4 blocks (the pixelation the masker uses).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Box, I420Frame } from '../../src/core/index.js';
import { boxIou } from '../../src/eval/index.js';
import { readFrames, truthBoxes } from '../support/clip-frames.js';
import { maskFrame, type FrameMask } from '../support/degrade.js';
import { clipPath, hasTestData, noDataReason, repoRoot, truthPath } from '../support/paths.js';
import { createYunet, hasYunet, YUNET_MODEL, type Yunet, type YunetFace } from '../support/yunet.js';

const FRAMES = [0, 30, 60];
const VALIDATE = ['clm_cap12_edit', 'lp_driving_d9', 'lp_source_s18', 'fnp_crowd_video'];
const MASK_CLIPS = ['clm_cap12_edit', 'clm_franck_talking_face', 'lp_driving_d9', 'st_WDA_KatieHill_000'];

function headBox(b: Box): Box {
  return { x: b.x - 0.3 * b.w, y: b.y - 0.4 * b.h, w: 1.6 * b.w, h: 1.7 * b.h };
}

function bestIou(faces: readonly YunetFace[], box: Box): number {
  return Math.max(0, ...faces.map((f) => boxIou(f.box, box)));
}

function truthThr(clip: string): number {
  return (JSON.parse(readFileSync(truthPath(clip), 'utf8')) as { thr: number }).thr;
}

const ready = hasTestData && hasYunet;
const why = hasTestData ? `needs the YuNet model at ${YUNET_MODEL} (set LIVEMASK_YUNET_MODEL)` : noDataReason;

describe('YuNet is test-only', () => {
  it('is imported nowhere under src/', () => {
    const files = readdirSync(join(repoRoot, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const importsAuditor = /(from\s*|import\s*\(\s*)['"][^'"]*(yunet|test\/support)[^'"]*['"]/i;
    const offenders = files.filter((f) => importsAuditor.test(readFileSync(join(repoRoot, 'src', f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});

describe.skipIf(!ready)(`YuNet auditor on real clips${ready ? '' : ` (skipped: ${why})`}`, () => {
  let yunet: Yunet;
  const frames = new Map<string, Map<number, I420Frame>>();

  beforeAll(async () => {
    yunet = await createYunet();
    for (const clip of new Set([...VALIDATE, ...MASK_CLIPS])) {
      frames.set(clip, await readFrames(clipPath(clip), FRAMES));
    }
  });

  afterAll(async () => {
    await yunet.close();
  });

  for (const clip of VALIDATE) {
    it(`decodes boxes that match the truth of ${clip} (IoU >= 0.8, same count)`, async () => {
      for (const i of FRAMES) {
        const frame = frames.get(clip)?.get(i);
        expect(frame).toBeDefined();
        const found = await yunet.detect(frame!, undefined, { scoreThreshold: truthThr(clip), scales: [1] });
        const truth = truthBoxes(clip, i);
        expect(found.length).toBe(truth.length);
        for (const t of truth) {
          const match = found.find((f) => boxIou(f.box, t.box) >= 0.8);
          expect(match, `frame ${i} box ${JSON.stringify(t.box)}`).toBeDefined();
          expect(Math.abs((match?.score ?? 0) - t.score)).toBeLessThan(0.05);
        }
      }
    });
  }

  async function seenThrough(mask: (face: number) => FrameMask): Promise<{ clip: string; frame: number; iou: number }[]> {
    const out: { clip: string; frame: number; iou: number }[] = [];
    for (const clip of MASK_CLIPS) {
      for (const i of FRAMES) {
        const frame = frames.get(clip)?.get(i);
        for (const { box } of truthBoxes(clip, i)) {
          const masked = maskFrame(frame!, headBox(box), mask(Math.max(box.w, box.h)));
          out.push({ clip, frame: i, iou: bestIou(await yunet.detect(masked), box) });
        }
      }
    }
    return out;
  }

  it('still finds the face through 8 px pixelation', async () => {
    const seen = await seenThrough(() => ({ kind: 'pixelate', block: 8 }));
    expect(seen.filter((s) => s.iou < 0.5)).toEqual([]);
  });

  it('finds no face through a solid fill', async () => {
    const seen = await seenThrough(() => ({ kind: 'solid' }));
    expect(seen.filter((s) => s.iou > 0.1)).toEqual([]);
  });

  it('still finds these faces (>= 98 px) through 16 px pixelation, looking at half size', async () => {
    const seen = await seenThrough(() => ({ kind: 'pixelate', block: 16 }));
    expect(seen.filter((s) => s.iou < 0.5)).toEqual([]);
  });

  it('finds no face through face/4 blocks', async () => {
    const seen = await seenThrough((face) => ({ kind: 'pixelate', block: Math.ceil(face / 4) }));
    expect(seen.filter((s) => s.iou > 0.1)).toEqual([]);
  });
});
