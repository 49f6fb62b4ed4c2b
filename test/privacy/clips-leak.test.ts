// The promise of the masking core, on every real clip of the shared data:
// with the default settings no truth face stays recognisable in the masked
// video (zero leaks, by the low-resolution SSIM measure and by YuNet), and no
// more than 5% of the frames with a plainly visible face are fully masked.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMaskConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/core/index.js';
import { maskFile } from '../../src/pipeline/index.js';
import { audit, correctionsFor } from '../support/audit.js';
import { clipPath, hasTestData, noDataReason, testData, truthPath } from '../support/paths.js';
import { hasYunet } from '../support/yunet.js';

/** What each clip puts to the test (../shared/data/MANIFEST.md). */
const WHAT: Record<string, string> = {
  clm_cap12_edit: 'real webcam, a hand over the face at times',
  clm_franck_talking_face: 'talking face, long',
  lp_driving_d3: 'head turns toward profile',
  lp_driving_d6: 'extreme expressions',
  lp_driving_d11: 'a child',
  lp_driving_d20: 'foliage near the start',
  lp_source_s13: 'small face, full-body motion',
  lp_source_s18: '720p interview framing',
  lp_source_s20: 'portrait framing',
  fr_short_hamilton_clip: 'stage light, shot cuts, small dim audience faces',
  fnp_crowd_video: '1080p crowd walking toward the camera',
};

const clips = hasTestData
  ? readdirSync(join(testData, 'truth')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
  : [];
const work = mkdtempSync(join(tmpdir(), 'livemask-clips-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const ready = hasTestData && hasYunet;

describe.skipIf(!ready)(`zero leaks with the default settings on every clip (${ready ? `${clips.length} clips` : noDataReason})`, () => {
  it.each(clips)('%s', async (clip) => {
    const truth = JSON.parse(readFileSync(truthPath(clip), 'utf8')) as { frames: unknown[] };
    const output = join(work, `${clip}.mp4`);
    const sheet = join(tmpdir(), `livemask-leaks-${clip}.png`);
    const result = await maskFile({
      input: clipPath(clip),
      output,
      config: parseMaskConfig({}),
      logger: createLogger({ level: 'silent' }),
      maxFrames: truth.frames.length,
    });
    expect(result.totals.frames).toBe(truth.frames.length);
    const { report, yunetHits, yunetChecked } = await audit({
      original: clipPath(clip),
      masked: output,
      truth: truthPath(clip),
      corrections: correctionsFor(clip),
      sheet,
    });
    const what = WHAT[clip] ?? 'talking head';
    console.log(
      `${clip} (${what}): ${report.faceFrames} face-frames, leaks ${report.leaks}, YuNet hits ${yunetHits.length}/${yunetChecked}, ` +
        `over-mask ${(report.overMaskRate * 100).toFixed(1)}%, fail-safe frames ${result.totals.failsafeFrames}, ` +
        `${result.totals.realtimeFactor.toFixed(2)}x real time`,
    );
    expect(report.frames).toBe(truth.frames.length);
    expect(report.faceFrames).toBeGreaterThan(0);
    expect(report.leaks, `leaks in ${clip}; worst boxes in ${sheet}`).toBe(0);
    expect(yunetHits, `YuNet still finds faces in ${clip}`).toEqual([]);
    expect(yunetChecked).toBeGreaterThan(0);
    expect(report.overMaskRate, `over-masked frames in ${clip}`).toBeLessThanOrEqual(0.05);
  }, 600_000);
});
