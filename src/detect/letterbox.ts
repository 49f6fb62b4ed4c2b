import type { Box, I420Frame } from '../core/index.js';
import type { ScoredBox } from './decode.js';

/**
 * Where a frame region sits inside a square model input: scaled by `scale`
 * (model pixels per frame pixel), keeping its aspect ratio, centred, with the
 * rest padded black.
 */
export interface Letterbox {
  readonly size: number;
  /** The frame region that is fitted, in frame pixels. */
  readonly region: Box;
  readonly scale: number;
  /** Left and top padding, in model pixels. */
  readonly padX: number;
  readonly padY: number;
}

/** Samples per axis when downscaling by more than 2 (stratified over the footprint). */
const WIDE_TAPS = 4;
/** Padding: black, i.e. -1 after normalisation (as MediaPipe's zero border). */
const PAD = -1;

export function planLetterbox(region: Box, size: number): Letterbox {
  const scale = Math.min(size / region.w, size / region.h);
  return { size, region, scale, padX: (size - region.w * scale) / 2, padY: (size - region.h * scale) / 2 };
}

/** Maps a box in the model's normalised input coordinates back to frame pixels. */
export function toFramePixels<T extends ScoredBox>(box: T, lb: Letterbox): T {
  const fx = (nx: number): number => lb.region.x + (nx * lb.size - lb.padX) / lb.scale;
  const fy = (ny: number): number => lb.region.y + (ny * lb.size - lb.padY) / lb.scale;
  const k = lb.size / lb.scale;
  const mapped = { ...box, x: fx(box.x), y: fy(box.y), w: box.w * k, h: box.h * k };
  if (box.keypoints) {
    return { ...mapped, keypoints: box.keypoints.map(([x, y]) => [fx(x), fy(y)] as const) };
  }
  return mapped;
}

/**
 * Sampling taps of one output axis: `taps` (2 or 4) source indices and
 * weights per output pixel. Upscaling or mild downscaling is bilinear (2
 * taps); downscaling by more than 2 takes 4 stratified samples over the
 * output pixel's footprint, so small faces do not alias away.
 */
interface AxisTaps {
  readonly taps: 2 | 4;
  readonly index: Int32Array;
  readonly weight: Float32Array;
  /** 0 where the output pixel is padding. */
  readonly inside: Uint8Array;
}

interface AxisSpec {
  readonly size: number;
  readonly pad: number;
  readonly scale: number;
  readonly origin: number;
  readonly extent: number;
  /** Plane pixels per frame pixel: 1 for luma, 0.5 for chroma. */
  readonly factor: number;
  readonly planeLen: number;
}

function axisTaps(s: AxisSpec): AxisTaps {
  const footprint = s.factor / s.scale;
  const taps = footprint <= 2 ? 2 : WIDE_TAPS;
  const index = new Int32Array(s.size * taps);
  const weight = new Float32Array(s.size * taps);
  const inside = new Uint8Array(s.size);
  const last = s.planeLen - 1;
  const clamp = (i: number): number => (i < 0 ? 0 : i > last ? last : i);
  for (let o = 0; o < s.size; o++) {
    const u = o + 0.5 - s.pad;
    if (u < 0 || u >= s.extent * s.scale) {
      continue;
    }
    inside[o] = 1;
    const centre = (s.origin + u / s.scale) * s.factor;
    const k = o * taps;
    if (taps === 2) {
      const p = centre - 0.5;
      const i0 = Math.floor(p);
      index[k] = clamp(i0);
      index[k + 1] = clamp(i0 + 1);
      weight[k] = 1 - (p - i0);
      weight[k + 1] = p - i0;
    } else {
      const start = centre - footprint / 2;
      for (let t = 0; t < taps; t++) {
        index[k + t] = clamp(Math.floor(start + ((t + 0.5) * footprint) / taps));
        weight[k + t] = 1 / taps;
      }
    }
  }
  return { taps, index, weight, inside };
}

interface PlaneTaps {
  readonly x: AxisTaps;
  readonly y: AxisTaps;
}

function planeTaps(frame: I420Frame, lb: Letterbox, chroma: boolean): PlaneTaps {
  const factor = chroma ? 0.5 : 1;
  const planeW = chroma ? Math.ceil(frame.width / 2) : frame.width;
  const planeH = chroma ? Math.ceil(frame.height / 2) : frame.height;
  const common = { size: lb.size, scale: lb.scale, factor };
  return {
    x: axisTaps({ ...common, pad: lb.padX, origin: lb.region.x, extent: lb.region.w, planeLen: planeW }),
    y: axisTaps({ ...common, pad: lb.padY, origin: lb.region.y, extent: lb.region.h, planeLen: planeH }),
  };
}

/**
 * Samples output row `oy` of one plane into `dst` (one value per output
 * column; padding columns are left alone). Both axes share one scale, so they
 * have the same tap count: the 2- and 4-tap loops are written out for speed.
 */
function sampleRow(plane: Uint8Array, stride: number, t: PlaneTaps, oy: number, dst: Float32Array): void {
  if (t.x.taps === 2) {
    sampleRow2(plane, stride, t, oy, dst);
  } else {
    sampleRow4(plane, stride, t, oy, dst);
  }
}

function sampleRow2(plane: Uint8Array, stride: number, t: PlaneTaps, oy: number, dst: Float32Array): void {
  const { index: xi, weight: xw, inside } = t.x;
  const k = oy * 2;
  const r0 = t.y.index[k]! * stride;
  const r1 = t.y.index[k + 1]! * stride;
  const w0 = t.y.weight[k]!;
  const w1 = t.y.weight[k + 1]!;
  for (let ox = 0; ox < inside.length; ox++) {
    if (inside[ox] === 0) {
      continue;
    }
    const j = ox * 2;
    const i0 = xi[j]!;
    const i1 = xi[j + 1]!;
    const a = xw[j]!;
    const b = xw[j + 1]!;
    dst[ox] = w0 * (a * plane[r0 + i0]! + b * plane[r0 + i1]!) + w1 * (a * plane[r1 + i0]! + b * plane[r1 + i1]!);
  }
}

/** 4×4 stratified samples, equal weights (1/16). */
function sampleRow4(plane: Uint8Array, stride: number, t: PlaneTaps, oy: number, dst: Float32Array): void {
  const { index: xi, inside } = t.x;
  const k = oy * 4;
  const r0 = t.y.index[k]! * stride;
  const r1 = t.y.index[k + 1]! * stride;
  const r2 = t.y.index[k + 2]! * stride;
  const r3 = t.y.index[k + 3]! * stride;
  for (let ox = 0; ox < inside.length; ox++) {
    if (inside[ox] === 0) {
      continue;
    }
    const j = ox * 4;
    const i0 = xi[j]!;
    const i1 = xi[j + 1]!;
    const i2 = xi[j + 2]!;
    const i3 = xi[j + 3]!;
    const sum =
      plane[r0 + i0]! + plane[r0 + i1]! + plane[r0 + i2]! + plane[r0 + i3]! +
      plane[r1 + i0]! + plane[r1 + i1]! + plane[r1 + i2]! + plane[r1 + i3]! +
      plane[r2 + i0]! + plane[r2 + i1]! + plane[r2 + i2]! + plane[r2 + i3]! +
      plane[r3 + i0]! + plane[r3 + i1]! + plane[r3 + i2]! + plane[r3 + i3]!;
    dst[ox] = sum * 0.0625;
  }
}

/** Scratch rows reused between calls for one input size. */
export class LetterboxScratch {
  readonly y: Float32Array;
  readonly u: Float32Array;
  readonly v: Float32Array;

  constructor(readonly size: number) {
    this.y = new Float32Array(size);
    this.u = new Float32Array(size);
    this.v = new Float32Array(size);
  }
}

/**
 * Fills `out` (NHWC, size×size×3, float32 RGB in [-1,1]) with the letterboxed
 * frame region, sampled straight from the I420 planes (BT.601 limited range).
 */
export function letterboxI420(frame: I420Frame, lb: Letterbox, out: Float32Array, scratch?: LetterboxScratch): void {
  const size = lb.size;
  const s = scratch?.size === size ? scratch : new LetterboxScratch(size);
  // Hot loops below index typed arrays with indices built in range by axisTaps, hence the `!`s.
  const cw = Math.ceil(frame.width / 2);
  const ch = Math.ceil(frame.height / 2);
  const data = frame.data;
  const lumaLen = frame.width * frame.height;
  const yPlane = new Uint8Array(data.buffer, data.byteOffset, lumaLen);
  const uPlane = new Uint8Array(data.buffer, data.byteOffset + lumaLen, cw * ch);
  const vPlane = new Uint8Array(data.buffer, data.byteOffset + lumaLen + cw * ch, cw * ch);
  const luma = planeTaps(frame, lb, false);
  const chroma = planeTaps(frame, lb, true);
  for (let oy = 0; oy < size; oy++) {
    if (luma.y.inside[oy] === 0) {
      out.fill(PAD, oy * size * 3, (oy + 1) * size * 3);
      continue;
    }
    sampleRow(yPlane, frame.width, luma, oy, s.y);
    sampleRow(uPlane, cw, chroma, oy, s.u);
    sampleRow(vPlane, cw, chroma, oy, s.v);
    rowToRgb(s, luma.x.inside, out, oy * size * 3);
  }
}

const clamp1 = (v: number): number => (v < -1 ? -1 : v > 1 ? 1 : v);

/** BT.601 limited range YUV → RGB, then mapped from [0,255] to [-1,1]. */
function rowToRgb(s: LetterboxScratch, inside: Uint8Array, out: Float32Array, base: number): void {
  const k = 1 / 127.5;
  for (let ox = 0; ox < s.size; ox++) {
    const o = base + ox * 3;
    if (inside[ox] === 0) {
      out[o] = PAD;
      out[o + 1] = PAD;
      out[o + 2] = PAD;
      continue;
    }
    const c = 1.164 * ((s.y[ox] ?? 0) - 16);
    const d = (s.u[ox] ?? 0) - 128;
    const e = (s.v[ox] ?? 0) - 128;
    out[o] = clamp1((c + 1.596 * e) * k - 1);
    out[o + 1] = clamp1((c - 0.392 * d - 0.813 * e) * k - 1);
    out[o + 2] = clamp1((c + 2.017 * d) * k - 1);
  }
}
