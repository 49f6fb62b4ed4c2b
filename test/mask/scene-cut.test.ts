import { describe, expect, it } from 'vitest';
import { i420Size, type I420Frame } from '../../src/core/index.js';
import { SceneCutDetector, signatureDistance, lumaSignature } from '../../src/mask/index.js';
import { decodeAll } from '../support/frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

const W = 160;
const H = 96;

/** A frame whose luma is `paint(x, y)`; chroma neutral. */
function frame(paint: (x: number, y: number) => number, index = 0, w = W, h = H): I420Frame {
  const data = Buffer.alloc(i420Size(w, h), 128);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      data[y * w + x] = Math.max(0, Math.min(255, Math.round(paint(x, y))));
    }
  }
  return { width: w, height: h, data, index, ptsMs: 0 };
}

const shotA = (dx = 0, gain = 1) => (x: number, y: number): number => gain * (40 + ((x + dx) * 160) / W + (y > H / 2 ? 30 : 0));
const shotB = (x: number, y: number): number => 200 - (y * 150) / H - (x < W / 3 ? 40 : 0);

describe('SceneCutDetector', () => {
  it('calls a change of layout a cut, and neither the first frame nor a size change', () => {
    const d = new SceneCutDetector();
    expect(d.push(frame(shotA()))).toBe(false);
    expect(d.push(frame(shotA(2)))).toBe(false);
    expect(d.push(frame(shotB))).toBe(true);
    expect(d.push(frame(shotB))).toBe(false);
    expect(d.push(frame(shotA(), 0, 96, 64))).toBe(false);
  });

  it('does not call a light flash (same layout, brighter) or motion a cut', () => {
    const d = new SceneCutDetector();
    d.push(frame(shotA()));
    expect(d.push(frame(shotA(0, 1.6)))).toBe(false);
    expect(d.push(frame(shotA(12)))).toBe(false);
    const flash = signatureDistance(lumaSignature(frame(shotA())), lumaSignature(frame(shotA(0, 1.6))));
    expect(flash.mean).toBeGreaterThan(20);
    expect(flash.correlation).toBeGreaterThan(0.9);
  });

  it('calls two flat frames alike however far apart their levels (no layout to compare)', () => {
    const d = signatureDistance(lumaSignature(frame(() => 20)), lumaSignature(frame(() => 200)));
    expect(d).toEqual({ mean: 180, correlation: 1 });
  });

  describe.skipIf(!hasTestData)(`on the shared clips${hasTestData ? '' : ` (${noDataReason})`}`, () => {
    const cutsOf = async (clip: string, frames: number): Promise<number[]> => {
      const d = new SceneCutDetector();
      return (await decodeAll(clipPath(clip), frames)).filter((f) => d.push(f)).map((f) => f.index);
    };

    it('finds the three shot cuts of the edited stage clip (checked by eye) and nothing else', async () => {
      expect(await cutsOf('fr_short_hamilton_clip', 300)).toEqual([20, 82, 211]);
    });

    it('finds no cut in a close-up with fast head turns, nor in a crowd walking', async () => {
      expect(await cutsOf('lp_driving_d12', 300)).toEqual([]);
      expect(await cutsOf('fnp_crowd_video', 120)).toEqual([]);
    });
  });
});
