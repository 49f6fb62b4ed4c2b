import { describe, expect, it } from 'vitest';
import { type Box, type I420Frame } from '../../src/core/index.js';
import { blockSizeFor, NEUTRAL_GREY, paintMask, type MaskBox, type MaskPlan } from '../../src/mask/index.js';
import { noiseFrame } from './helpers.js';

const planOf = (boxes: MaskBox[], fullFrame = false): MaskPlan => ({ index: 0, boxes, fullFrame });

interface PlaneView {
  offset: number;
  stride: number;
  width: number;
  height: number;
}

function planes(f: I420Frame): PlaneView[] {
  const cw = Math.ceil(f.width / 2);
  const ch = Math.ceil(f.height / 2);
  return [
    { offset: 0, stride: f.width, width: f.width, height: f.height },
    { offset: f.width * f.height, stride: cw, width: cw, height: ch },
    { offset: f.width * f.height + cw * ch, stride: cw, width: cw, height: ch },
  ];
}

/** The rule's block edges along one axis: blocks of `b`, the last absorbing the remainder. */
function edges(start: number, end: number, b: number): number[] {
  const n = Math.max(1, Math.floor((end - start) / b));
  return [...Array.from({ length: n }, (_, i) => start + i * b), end];
}

/** Asserts every block of rect r in plane p of `after` holds the rounded mean of `before` there. */
function expectBlockMeans(before: Buffer, after: Buffer, p: PlaneView, r: Box, b: number): void {
  const xe = edges(r.x, r.x + r.w, b);
  const ye = edges(r.y, r.y + r.h, b);
  for (let j = 0; j + 1 < ye.length; j++) {
    for (let i = 0; i + 1 < xe.length; i++) {
      let sum = 0;
      let n = 0;
      for (let y = ye[j]!; y < ye[j + 1]!; y++) {
        for (let x = xe[i]!; x < xe[i + 1]!; x++) {
          sum += before[p.offset + y * p.stride + x]!;
          n++;
        }
      }
      const mean = Math.round(sum / n);
      for (let y = ye[j]!; y < ye[j + 1]!; y++) {
        for (let x = xe[i]!; x < xe[i + 1]!; x++) {
          expect(after[p.offset + y * p.stride + x], `block ${i},${j} at ${x},${y}`).toBe(mean);
        }
      }
    }
  }
}

/** Asserts nothing outside rect r (per plane) changed. */
function expectOutsideUntouched(before: Buffer, after: Buffer, p: PlaneView, r: Box): void {
  let changed = 0;
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      const inside = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
      if (!inside && before[p.offset + y * p.stride + x] !== after[p.offset + y * p.stride + x]) {
        changed++;
      }
    }
  }
  expect(changed).toBe(0);
}

const chromaOf = (r: Box): Box => {
  const x0 = Math.floor(r.x / 2);
  const y0 = Math.floor(r.y / 2);
  return { x: x0, y: y0, w: Math.ceil((r.x + r.w) / 2) - x0, h: Math.ceil((r.y + r.h) / 2) - y0 };
};

describe('blockSizeFor', () => {
  it('is max(minBlockPx, ceil(faceSize / blocksAcross)), defaults 16 and 3', () => {
    expect(blockSizeFor(40)).toBe(16);
    expect(blockSizeFor(48)).toBe(16);
    expect(blockSizeFor(100)).toBe(34);
    expect(blockSizeFor(201)).toBe(67);
    expect(blockSizeFor(100, { blocksAcross: 4 })).toBe(25);
    expect(blockSizeFor(100, { blocksAcross: 2, minBlockPx: 8 })).toBe(50);
    expect(blockSizeFor(10, { minBlockPx: 8 })).toBe(8);
  });
});

describe('paintMask pixelate', () => {
  it('fills every block inside the box with its mean, Y and chroma, and leaves the rest untouched', () => {
    const f = noiseFrame(160, 120, 3);
    const before = Buffer.from(f.data);
    const box = { x: 20, y: 10, w: 100, h: 90, faceSize: 100 };
    paintMask(f, planOf([box]));
    const [py, pu, pv] = planes(f);
    const b = blockSizeFor(100);
    expectBlockMeans(before, f.data, py!, box, b);
    expectBlockMeans(before, f.data, pu!, chromaOf(box), Math.ceil(b / 2));
    expectBlockMeans(before, f.data, pv!, chromaOf(box), Math.ceil(b / 2));
    expectOutsideUntouched(before, f.data, py!, box);
    expectOutsideUntouched(before, f.data, pu!, chromaOf(box));
    expectOutsideUntouched(before, f.data, pv!, chromaOf(box));
  });

  it('scales blocks with the face: a 200 px face gets 67 px blocks (the remainder joins the last, never a thin strip)', () => {
    const f = noiseFrame(320, 240, 4);
    // A horizontal ramp, so that neighbouring blocks never share a mean.
    for (let i = 0; i < 320 * 240; i++) {
      f.data[i] = i % 320;
    }
    const box = { x: 10, y: 10, w: 200, h: 200, faceSize: 200 };
    paintMask(f, planOf([box]), 'pixelate');
    const row = 10 * 320;
    const runs: number[] = [];
    let run = 1;
    for (let x = 11; x < 210; x++) {
      if (f.data[row + x] === f.data[row + x - 1]) {
        run++;
      } else {
        runs.push(run);
        run = 1;
      }
    }
    runs.push(run);
    expect(runs).toEqual([67, 133]);
  });

  it('estimates the face size from the head box when the box carries none', () => {
    const f = noiseFrame(400, 400, 5);
    const before = Buffer.from(f.data);
    // A default head box around a 100 px face is 180 x 220: blocks of 34.
    const box = { x: 0, y: 0, w: 180, h: 220 };
    paintMask(f, planOf([box]));
    expectBlockMeans(before, f.data, planes(f)[0]!, box, 34);
  });

  it('covers at least the luma box on the chroma planes, for odd sizes and odd box edges', () => {
    const f = noiseFrame(101, 75, 6);
    for (let i = 0; i < f.data.length; i++) {
      f.data[i] = 7;
    }
    const box = { x: 33, y: 21, w: 31, h: 17 };
    paintMask(f, planOf([box]), 'solid');
    const [, pu, pv] = planes(f);
    for (let y = box.y; y < box.y + box.h; y++) {
      for (let x = box.x; x < box.x + box.w; x++) {
        const c = Math.floor(y / 2) * pu!.stride + Math.floor(x / 2);
        expect(f.data[pu!.offset + c], `U for ${x},${y}`).toBe(128);
        expect(f.data[pv!.offset + c], `V for ${x},${y}`).toBe(128);
      }
    }
    // A box reaching the odd right and bottom edges covers the last chroma column and row.
    const g = noiseFrame(101, 75, 7);
    paintMask(g, planOf([{ x: 99, y: 73, w: 2, h: 2 }]), 'solid');
    const [, gu] = planes(g);
    expect(g.data[gu!.offset + 37 * gu!.stride + 50]).toBe(128);
  });

  it('carries no more than the block means: pixelating twice changes nothing', () => {
    const f = noiseFrame(200, 200, 8);
    const plan = planOf([{ x: 13, y: 17, w: 150, h: 160, faceSize: 120 }]);
    paintMask(f, plan);
    const once = Buffer.from(f.data);
    paintMask(f, plan);
    expect(f.data.equals(once)).toBe(true);
  });
});

describe('paintMask blur', () => {
  it('depends only on the block means (same guarantee as pixelate), changes the box, leaves the rest', () => {
    const box = { x: 13, y: 17, w: 150, h: 160, faceSize: 120 };
    const a = noiseFrame(200, 200, 9);
    const before = Buffer.from(a.data);
    const b = noiseFrame(200, 200, 9);
    paintMask(b, planOf([box]), 'pixelate');
    paintMask(a, planOf([box]), 'blur');
    paintMask(b, planOf([box]), 'blur');
    expect(a.data.equals(b.data)).toBe(true);
    expect(a.data.equals(before)).toBe(false);
    const [py, pu] = planes(a);
    expectOutsideUntouched(before, a.data, py!, box);
    expectOutsideUntouched(before, a.data, pu!, chromaOf(box));
  });

  it('is smooth: neighbouring pixels differ by at most the step between block means over a block', () => {
    const f = noiseFrame(200, 200, 10);
    const box = { x: 0, y: 0, w: 200, h: 200, faceSize: 128 };
    paintMask(f, planOf([box]), 'blur');
    let maxStep = 0;
    for (let y = 0; y < 200; y++) {
      for (let x = 1; x < 200; x++) {
        maxStep = Math.max(maxStep, Math.abs(f.data[y * 200 + x]! - f.data[y * 200 + x - 1]!));
      }
    }
    expect(maxStep).toBeLessThanOrEqual(4);
  });
});

describe('paintMask solid and full frame', () => {
  it('solid fills the box with exact values, default neutral grey, or the given colour', () => {
    const f = noiseFrame(64, 48, 11);
    paintMask(f, planOf([{ x: 8, y: 8, w: 16, h: 16 }]), 'solid', { fill: { y: 16, u: 100, v: 200 } });
    const [py, pu, pv] = planes(f);
    expect(f.data[py!.offset + 8 * 64 + 8]).toBe(16);
    expect(f.data[py!.offset + 23 * 64 + 23]).toBe(16);
    expect(f.data[pu!.offset + 4 * 32 + 4]).toBe(100);
    expect(f.data[pv!.offset + 11 * 32 + 11]).toBe(200);
    expect(NEUTRAL_GREY).toEqual({ y: 128, u: 128, v: 128 });
  });

  it('a full-frame plan fills every byte of every plane, whatever the style', () => {
    for (const style of ['pixelate', 'blur', 'solid'] as const) {
      const f = noiseFrame(33, 17, 12);
      paintMask(f, planOf([], true), style);
      expect(f.data.every((v) => v === 128), style).toBe(true);
    }
  });

  it('fails closed on a non-finite box: the whole frame is filled', () => {
    const f = noiseFrame(32, 32, 13);
    paintMask(f, planOf([{ x: Number.NaN, y: 0, w: 10, h: 10 }]));
    expect(f.data.every((v) => v === 128)).toBe(true);
  });

  it('refuses a buffer too short for the frame size', () => {
    const f = { ...noiseFrame(32, 32, 14), width: 64 };
    expect(() => paintMask(f, planOf([]))).toThrow(/short/);
  });
});
