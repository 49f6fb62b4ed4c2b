import { describe, expect, it } from 'vitest';
import { planPasses, rotateTiles } from '../../src/detect/detect-plan.js';
import { planTiles } from '../../src/detect/tiles.js';

describe('planTiles', () => {
  it.each([
    [1920, 1080, 0.5, 64],
    [1280, 720, 0.75, 96],
    [640, 360, 1, 48],
  ])('covers %ix%i at scale %f with neighbours overlapping by ≥ %i px', (w, h, scale, overlap) => {
    const tiles = planTiles(w, h, 256, scale, overlap);
    const side = Math.round(256 / scale);
    for (const t of tiles) {
      expect(t.x).toBeGreaterThanOrEqual(0);
      expect(t.y).toBeGreaterThanOrEqual(0);
      expect(t.x + t.w).toBeLessThanOrEqual(w);
      expect(t.y + t.h).toBeLessThanOrEqual(h);
      expect(t.w).toBe(Math.min(side, w));
    }
    const xs = [...new Set(tiles.map((t) => t.x))].sort((a, b) => a - b);
    expect(xs[0]).toBe(0);
    expect((xs.at(-1) ?? 0) + Math.min(side, w)).toBe(w);
    for (let i = 1; i < xs.length; i++) {
      expect((xs[i - 1] ?? 0) + side - (xs[i] ?? 0)).toBeGreaterThanOrEqual(overlap);
    }
    // Any square of `overlap` px lies wholly inside one tile.
    for (let y = 0; y + overlap <= h; y += 37) {
      for (let x = 0; x + overlap <= w; x += 41) {
        const inside = tiles.some((t) => t.x <= x && t.y <= y && x + overlap <= t.x + t.w && y + overlap <= t.y + t.h);
        expect(inside).toBe(true);
      }
    }
  });

  it('gives one letterboxed tile on an axis shorter than a tile', () => {
    expect(planTiles(200, 100, 256, 1, 32)).toEqual([{ x: 0, y: 0, w: 200, h: 100 }]);
  });
});

describe('planPasses', () => {
  const auto = { mode: 'auto', scale: 0.75, overlap: 96 } as const;

  it('runs one model per single mode and never tiles front', () => {
    expect(planPasses(1920, 1080, 'front', { ...auto, mode: 'on' }).map((p) => p.model)).toEqual(['front128']);
    expect(planPasses(1920, 1080, 'back', auto).map((p) => p.model)).toEqual(['back256']);
  });

  it('tiles in both mode only when the frame is large relative to the model', () => {
    expect(planPasses(256, 256, 'both', auto).filter((p) => p.tile)).toHaveLength(0);
    const big = planPasses(1920, 1080, 'both', auto);
    expect(big.slice(0, 2).map((p) => p.model)).toEqual(['front128', 'back256']);
    expect(big.filter((p) => p.tile).length).toBeGreaterThan(4);
    expect(planPasses(1920, 1080, 'both', { ...auto, mode: 'off' })).toHaveLength(2);
  });
});

describe('rotateTiles', () => {
  const policy = { mode: 'auto', scale: 0.5, overlap: 64 } as const;
  const key = (p: { region: { x: number; y: number } }): string => `${p.region.x},${p.region.y}`;

  it('runs the whole-frame passes on every frame and each tile at least once every `every` frames', () => {
    for (const [w, h] of [[1280, 720], [1920, 1080], [640, 360]] as const) {
      const passes = planPasses(w, h, 'both', policy);
      const tiles = passes.filter((p) => p.tile).map(key);
      for (const every of [2, 3, 4, 8]) {
        const lastSeen = new Map<string, number>();
        for (let i = 0; i < 40; i++) {
          const chosen = rotateTiles(passes, i, every);
          expect(chosen.filter((p) => !p.tile)).toHaveLength(passes.filter((p) => !p.tile).length);
          for (const t of chosen.filter((p) => p.tile)) {
            const prev = lastSeen.get(key(t));
            expect(prev === undefined ? i + 1 : i - prev, `${w}x${h} every ${every} tile ${key(t)} frame ${i}`).toBeLessThanOrEqual(every);
            lastSeen.set(key(t), i);
          }
        }
        expect([...lastSeen.keys()].sort()).toEqual([...tiles].sort());
        const perFrame = Math.max(...Array.from({ length: 8 }, (_, i) => rotateTiles(passes, i, every).filter((p) => p.tile).length));
        expect(perFrame).toBe(Math.ceil(tiles.length / every));
      }
    }
  });

  it('runs every tile on every frame when every <= 1', () => {
    const passes = planPasses(1920, 1080, 'both', policy);
    expect(rotateTiles(passes, 7, 1)).toEqual(passes);
    expect(rotateTiles(passes, 7, 0)).toEqual(passes);
  });
});
