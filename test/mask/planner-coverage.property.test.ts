import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/index.js';
import { MaskPlanner } from '../../src/mask/index.js';
import { coveredBy, pixelsOf, seeded } from './helpers.js';

const W = 640;
const H = 480;

interface Trial {
  truth: Box[];
  detected: boolean[];
}

/**
 * A face wandering with random, bounded acceleration (up to 4 px/frame², speed
 * up to 25 px/frame: fast for a head at 30 fps), pushed back softly by the
 * edges so that it partly leaves the frame at times; the detector misses runs
 * of up to K frames, and jitters the boxes it finds by a few percent.
 */
function makeTrial(rnd: () => number, frames: number, k: number): Trial {
  const size = 50 + rnd() * 110;
  let x = rnd() * (W - size);
  let y = rnd() * (H - size);
  let vx = (rnd() - 0.5) * 20;
  let vy = (rnd() - 0.5) * 20;
  const wall = (p: number, max: number): number => (p < -size / 3 ? 2 : p > max - (2 * size) / 3 ? -2 : 0);
  const truth: Box[] = [];
  const detected: boolean[] = [];
  let missLeft = 0;
  for (let i = 0; i < frames; i++) {
    vx = Math.max(-25, Math.min(25, vx + (rnd() - 0.5) * 4 + wall(x, W)));
    vy = Math.max(-25, Math.min(25, vy + (rnd() - 0.5) * 4 + wall(y, H)));
    x += vx;
    y += vy;
    truth.push({ x, y, w: size, h: size });
    if (i > 0 && missLeft === 0 && rnd() < 0.15) {
      missLeft = 1 + Math.floor(rnd() * k);
    }
    detected.push(missLeft === 0);
    missLeft = Math.max(0, missLeft - 1);
  }
  return { truth, detected };
}

function jitter(b: Box, rnd: () => number): Box {
  const j = (): number => (rnd() - 0.5) * 0.08 * b.w;
  return { x: b.x + j(), y: b.y + j(), w: b.w + j(), h: b.h + j() };
}

describe('planner coverage property', () => {
  // The true face is checked on the pixel grid: every pixel whose centre lies
  // in the true face box must be in a planned box (or the frame full-masked).
  it.each([1, 2])('with %i face(s): every frame\'s true face box is inside the planned boxes or the frame is full-masked', (faces) => {
    const k = 8;
    let checked = 0;
    let fullFrames = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const rnd = seeded(seed);
      const frames = 150;
      const trials = Array.from({ length: faces }, () => makeTrial(rnd, frames, k));
      const planner = new MaskPlanner({ width: W, height: H, lookahead: k, holdFrames: 30, requireFace: false, fps: 30 });
      const check = (n: number): void => {
        const plan = planner.plan(n);
        for (const { truth } of trials) {
          const t = pixelsOf(truth[n]!);
          const ok = plan.fullFrame || coveredBy(t, plan.boxes, { width: W, height: H });
          expect(ok, `seed ${seed} frame ${n}: ${JSON.stringify(t)} not in ${JSON.stringify(plan.boxes)}`).toBe(true);
        }
        checked++;
        fullFrames += plan.fullFrame ? 1 : 0;
      };
      for (let i = 0; i < frames; i++) {
        planner.pushFrame(i);
        const found = trials.flatMap(({ truth, detected }) => (detected[i] ? [jitter(truth[i]!, rnd)] : []));
        planner.pushResult(i, { faces: found });
        if (i >= k) {
          check(i - k);
        }
      }
      for (let n = frames - k; n < frames; n++) {
        check(n);
      }
    }
    expect(checked).toBe(60 * 150);
    // Results always arrive and never fail here: a planner that passed by masking everything would fail this.
    expect(fullFrames).toBe(0);
  });
});
