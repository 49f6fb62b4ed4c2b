// runLeakEval end to end on a real clip: the original against itself, against
// masked renditions (face/4 and 8 px pixelation of the truth boxes), against a
// fully grey rendition, and with the hamilton corrections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Box, I420Frame } from '../../src/core/index.js';
import { formatLeakReport, runLeakEval } from '../../src/eval/index.js';
import { readFrames, rewriteVideo, truthBoxes } from '../support/clip-frames.js';
import { maskFrame, type FrameMask } from '../support/degrade.js';
import { clipPath, hasTestData, noDataReason, repoRoot, truthPath } from '../support/paths.js';
import { createYunet, hasYunet, YUNET_MODEL, yunetSeesFace, type Yunet } from '../support/yunet.js';

const CLIP = 'st_WDA_KatieHill_000';
const HAMILTON = 'fr_short_hamilton_clip';
const SAMPLES = [0, 100, 199];

function headBox(b: Box): Box {
  return { x: b.x - 0.3 * b.w, y: b.y - 0.4 * b.h, w: 1.6 * b.w, h: 1.7 * b.h };
}

function maskTruth(mask: (face: number) => FrameMask): (f: I420Frame) => I420Frame {
  return (f) => truthBoxes(CLIP, f.index).reduce((acc, t) => maskFrame(acc, headBox(t.box), mask(Math.max(t.box.w, t.box.h))), f);
}

const ready = hasTestData && hasYunet;
const why = hasTestData ? `needs the YuNet model at ${YUNET_MODEL} (set LIVEMASK_YUNET_MODEL)` : noDataReason;

describe.skipIf(!ready)(`runLeakEval on ${CLIP}${ready ? '' : ` (skipped: ${why})`}`, () => {
  let dir = '';
  let yunet: Yunet;
  const videos = { coarse: '', fine: '', grey: '' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'livemask-eval-run-'));
    videos.coarse = join(dir, 'coarse.mp4');
    videos.fine = join(dir, 'fine.mp4');
    videos.grey = join(dir, 'grey.mp4');
    await Promise.all([
      rewriteVideo(clipPath(CLIP), videos.coarse, maskTruth((face) => ({ kind: 'pixelate', block: Math.ceil(face / 4) }))),
      rewriteVideo(clipPath(CLIP), videos.fine, maskTruth(() => ({ kind: 'pixelate', block: 8 }))),
      rewriteVideo(clipPath(CLIP), videos.grey, (f) => maskFrame(f, { x: 0, y: 0, w: f.width, h: f.height }, { kind: 'solid' })),
    ]);
    yunet = await createYunet();
  });

  afterAll(async () => {
    await yunet.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function yunetVerdicts(masked: string): Promise<boolean[]> {
    const frames = await readFrames(masked, SAMPLES);
    const out: boolean[] = [];
    for (const i of SAMPLES) {
      for (const t of truthBoxes(CLIP, i)) {
        out.push(await yunetSeesFace(yunet, frames.get(i)!, t.box));
      }
    }
    return out;
  }

  it('counts every face of the unmasked original as a leak and draws the contact sheet', async () => {
    const sheet = join(dir, 'sheet.png');
    const r = await runLeakEval({ original: clipPath(CLIP), masked: clipPath(CLIP), truth: truthPath(CLIP), sheet, worst: 4 });
    expect(r.frames).toBe(200);
    expect(r.truthFrames).toBe(200);
    expect(r.faceFrames).toBe(200);
    expect(r).toMatchObject({ leaks: 200, leakRate: 1, overMaskFrames: 0, plainlyVisibleFaceFrames: 200 });
    expect(r.worst).toHaveLength(4);
    expect(existsSync(sheet)).toBe(true);
    const meta = await sharp(sheet).metadata();
    expect(meta.format).toBe('png');
    expect(meta.height).toBeGreaterThan(4 * 160);
    console.log(formatLeakReport(r));
  });

  it('finds no leak in face/4 pixelation, and YuNet agrees', async () => {
    const r = await runLeakEval({ original: clipPath(CLIP), masked: videos.coarse, truth: truthPath(CLIP) });
    expect(r.faceFrames).toBe(200);
    expect(r.leaks).toBe(0);
    expect(r.overMaskFrames).toBe(0);
    expect(r.worst[0]?.score).toBeLessThan(r.threshold);
    expect(await yunetVerdicts(videos.coarse)).not.toContain(true);
  });

  it('counts 8 px pixelation as leaking everywhere, and YuNet agrees', async () => {
    const r = await runLeakEval({ original: clipPath(CLIP), masked: videos.fine, truth: truthPath(CLIP) });
    expect(r.leakRate).toBe(1);
    expect(await yunetVerdicts(videos.fine)).not.toContain(false);
  });

  it('calls a fully grey rendition over-masked on every frame with a plainly visible face', async () => {
    const r = await runLeakEval({ original: clipPath(CLIP), masked: videos.grey, truth: truthPath(CLIP) });
    expect(r.leaks).toBe(0);
    expect(r.overMaskFrames).toBe(r.plainlyVisibleFaceFrames);
    expect(r.overMaskRate).toBe(1);
  });
});

describe.skipIf(!hasTestData)(`runLeakEval corrections on ${HAMILTON}${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  it('drops the raised-fist boxes of frames 11-19 listed in test/fixtures/truth', async () => {
    const corrections = join(repoRoot, 'test', 'fixtures', 'truth', `${HAMILTON}.json`);
    const base = { original: clipPath(HAMILTON), masked: clipPath(HAMILTON), truth: truthPath(HAMILTON) };
    const [plain, corrected] = await Promise.all([runLeakEval(base), runLeakEval({ ...base, corrections })]);
    expect(corrected.corrections?.dropped).toBe(7);
    expect(corrected.faceFrames).toBe(plain.faceFrames - 7);
    expect(corrected.frames).toBe(plain.frames);
  });
});

describe.skipIf(!hasTestData)(`runLeakEval corrections on lp_driving_d20${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  it('drops the foliage box of frame 1', async () => {
    const clip = 'lp_driving_d20';
    const corrections = join(repoRoot, 'test', 'fixtures', 'truth', `${clip}.json`);
    const r = await runLeakEval({ original: clipPath(clip), masked: clipPath(clip), truth: truthPath(clip), corrections });
    expect(r.corrections?.dropped).toBe(1);
    expect(r.faceFrames).toBe(r.frames);
  });
});
