import { describe, expect, it } from 'vitest';
import { i420Size, type I420Frame } from '../../src/core/index.js';
import { FaceDetector, keepTileFace } from '../../src/detect/face-detector.js';
import { planLetterbox } from '../../src/detect/letterbox.js';
import { LOW_LIGHT_DEFAULTS, meanLuma, planLowLightTiles, stretchContrast } from '../../src/detect/low-light.js';
import { createLogger } from '../../src/core/index.js';
import { readFrames, truthBoxes } from '../support/clip-frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

function frameOf(width: number, height: number, luma: (x: number, y: number) => number): I420Frame {
  const data = Buffer.alloc(i420Size(width, height), 128);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data[y * width + x] = luma(x, y);
    }
  }
  return { width, height, data, index: 0, ptsMs: 0 };
}

describe('low-light pass (pure parts)', () => {
  it('measures the mean luma of a region', () => {
    const f = frameOf(64, 32, (x) => (x < 32 ? 20 : 200));
    expect(meanLuma(f, { x: 0, y: 0, w: 32, h: 32 })).toBe(20);
    expect(meanLuma(f, { x: 32, y: 0, w: 32, h: 32 })).toBe(200);
    expect(meanLuma(f, { x: 0, y: 0, w: 64, h: 32 })).toBe(110);
  });

  it('plans front-128 tiles at the low-light scale (320 px)', () => {
    const tiles = planLowLightTiles(640, 360, LOW_LIGHT_DEFAULTS, 128);
    expect(tiles.every((t) => t.w === 320 && t.h === 320)).toBe(true);
    expect(Math.max(...tiles.map((t) => t.x + t.w))).toBe(640);
    expect(Math.max(...tiles.map((t) => t.y + t.h))).toBe(360);
  });

  it('stretches the picture to mean 0 and the target sd, leaving padding black', () => {
    const lb = planLetterbox({ x: 0, y: 0, w: 100, h: 50 }, 8);
    const t = new Float32Array(8 * 8 * 3).fill(-1);
    // Rows 2..5 are the picture (8x4 px): a dim ramp in [-0.9, -0.8].
    for (let y = 2; y < 6; y++) {
      for (let x = 0; x < 8; x++) {
        t.fill(-0.9 + (0.1 * x) / 7, (y * 8 + x) * 3, (y * 8 + x + 1) * 3);
      }
    }
    stretchContrast(t, lb, { ...LOW_LIGHT_DEFAULTS, maxGain: 100 });
    const picture = t.slice(2 * 8 * 3, 6 * 8 * 3);
    const mean = picture.reduce((a, b) => a + b, 0) / picture.length;
    const sd = Math.sqrt(picture.reduce((a, b) => a + (b - mean) ** 2, 0) / picture.length);
    expect(mean).toBeCloseTo(0, 5);
    expect(sd).toBeCloseTo(LOW_LIGHT_DEFAULTS.targetSd, 3);
    expect([...t.slice(0, 2 * 8 * 3), ...t.slice(6 * 8 * 3)].every((v) => v === -1)).toBe(true);
  });

  it('caps the gain, so a flat black tile stays flat', () => {
    const lb = planLetterbox({ x: 0, y: 0, w: 8, h: 8 }, 8);
    const t = new Float32Array(8 * 8 * 3).map((_, i) => -0.95 + (i % 2) * 0.01);
    stretchContrast(t, lb, LOW_LIGHT_DEFAULTS);
    expect(Math.max(...t) - Math.min(...t)).toBeCloseTo(0.01 * LOW_LIGHT_DEFAULTS.maxGain, 5);
  });

  it('keeps small low-light tile boxes at the detector threshold, drops large ones', () => {
    const region = { x: 0, y: 0, w: 320, h: 320 };
    const face = (w: number, score: number) => ({ x: 10, y: 10, w, h: w, score, model: 'front128' as const });
    expect(keepTileFace(face(60, 0.3), { region, lowLight: true }, 0.25)).toBe(true);
    expect(keepTileFace(face(60, 0.3), { region }, 0.25)).toBe(false);
    expect(keepTileFace(face(200, 0.9), { region, lowLight: true }, 0.25)).toBe(false);
  });
});

describe.skipIf(!hasTestData)(`low-light pass on a dim stage audience (${hasTestData ? 'shared data found' : noDataReason})`, () => {
  // Regression: fr_short_hamilton_clip frames 211-253, a dim face behind the
  // WH.GOV logo at the right edge was never detected (41 leaks).
  it('finds the dim face behind the logo that the normal passes miss', async () => {
    const frames = await readFrames(clipPath('fr_short_hamilton_clip'), [220]);
    const frame = frames.get(220);
    expect(frame).toBeDefined();
    const target = truthBoxes('fr_short_hamilton_clip', 220).find((t) => t.box.x > 570);
    expect(target).toBeDefined();
    const logger = createLogger({ level: 'silent' });
    const hit = async (lowLight: boolean): Promise<boolean> => {
      const d = await FaceDetector.create({ mode: 'both', ep: 'cpu', logger, lowLight });
      try {
        const { faces } = await d.detect(frame!);
        const b = target!.box;
        return faces.some((f) => f.x < b.x + b.w && f.x + f.w > b.x && f.y < b.y + b.h && f.y + f.h > b.y && f.x + f.w / 2 > 560);
      } finally {
        await d.close();
      }
    };
    expect(await hit(false)).toBe(false);
    expect(await hit(true)).toBe(true);
  }, 60_000);
});
