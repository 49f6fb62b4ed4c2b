import type { Box } from '../core/index.js';
import { centreOf, growBox, hullBox, lerpBox, translateBox } from './box-geometry.js';

/** One detection assigned to a track, with the track's smoothed velocity then. */
export interface TrackObservation {
  readonly index: number;
  readonly box: Box;
  /** Smoothed centre velocity in pixels per frame at this observation. */
  readonly vx: number;
  readonly vy: number;
  /**
   * Joined to the track by the centre-distance fallback, not by overlap: the
   * link to the previous observation may be wrong (another face).
   */
  readonly weak?: boolean;
  /** The detector's score, when the detection carried one. */
  readonly score?: number;
}

export interface TrackGeometryOptions {
  /** A track coasts this many frames after its last observation. */
  readonly holdFrames: number;
  /** A track is drawn this many frames before an observation it has not reached yet. */
  readonly lookahead: number;
  /** Each side grows by this fraction of the box per frame away from an observation. */
  readonly coastGrowth: number;
  /** Plus coastAccel·frames²/2: room for an unknown acceleration, in box sizes per frame². */
  readonly coastAccel: number;
  /** Cap on that growth, per side. */
  readonly maxCoastGrowth: number;
  /**
   * Cap on how far a coasting box is moved along its velocity, in face sizes
   * (default DEFAULT_MAX_COAST_SHIFT), but never below one frame's motion. Linear motion is not believable for
   * long: a velocity from a few noisy detections, carried for a second,
   * smeared single boxes over most of a crowd frame.
   */
  readonly maxCoastShift?: number;
}

export const DEFAULT_MAX_COAST_SHIFT = 1;

/** A box to mask for one track at one frame, and the size of the face in it. */
export interface TrackBox {
  readonly box: Box;
  /** max(w, h) of the face box before any uncertainty growth. */
  readonly faceSize: number;
}

function growth(opts: TrackGeometryOptions, frames: number): number {
  const f = Math.max(0, frames);
  return Math.min(opts.maxCoastGrowth, opts.coastGrowth * f + (opts.coastAccel * f * f) / 2);
}

function faceSize(b: Box): number {
  return Math.max(b.w, b.h);
}

/**
 * Where a track may be `dt` frames after observation `obs`: the hull of where
 * it was and where its velocity takes it (so that a face that stopped is
 * covered as well as one that kept going), grown with the uncertainty.
 */
export function coastBox(obs: TrackObservation, dt: number, opts: TrackGeometryOptions): Box {
  const moved = extrapolate(obs.box, obs.vx, obs.vy, dt, opts);
  return growBox(hullBox(obs.box, moved), growth(opts, dt));
}

/**
 * `box` moved `dt` frames along (vx, vy), the shift capped at maxCoastShift
 * face sizes but never below one frame's motion (the next frame is still
 * predictable, however fast).
 */
function extrapolate(box: Box, vx: number, vy: number, dt: number, opts: TrackGeometryOptions): Box {
  const speed = Math.hypot(vx, vy);
  const maxShift = Math.max(speed, (opts.maxCoastShift ?? DEFAULT_MAX_COAST_SHIFT) * faceSize(box));
  const shift = speed * Math.max(0, dt);
  const k = shift > maxShift ? maxShift / shift : 1;
  return translateBox(box, vx * dt * k, vy * dt * k);
}

/** Index in `history` (ascending by index) of the first observation after `n`. */
function firstAfter(history: readonly TrackObservation[], n: number): number {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((history[mid]?.index ?? Infinity) <= n) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/** Before a track's first observation: back-extrapolated along its early velocity. */
function preAppearance(first: TrackObservation, second: TrackObservation | undefined, n: number, opts: TrackGeometryOptions): TrackBox {
  const dt = first.index - n;
  let box = first.box;
  if (second && second.index - first.index <= opts.lookahead) {
    const a = centreOf(first.box);
    const b = centreOf(second.box);
    const span = second.index - first.index;
    box = hullBox(box, extrapolate(first.box, (a.cx - b.cx) / span, (a.cy - b.cy) / span, dt, opts));
  }
  return { box: growBox(box, growth(opts, dt)), faceSize: faceSize(first.box) };
}

/**
 * The boxes to mask for a track at frame `n`, from its observations: the
 * observation at n; else linear interpolation between the observations around
 * n (grown with the distance to the nearer one); else coasting after the last
 * one for up to holdFrames; else, up to `lookahead` frames before its first
 * observation, that observation back-extrapolated. Empty when none apply.
 *
 * A weak link (an observation joined by the distance fallback) may be another
 * face: then the face before the link may have carried on unseen, so it also
 * coasts, and the face after the link may have been there before, so its
 * lead-in is masked too.
 */
export function trackBoxesAt(history: readonly TrackObservation[], n: number, opts: TrackGeometryOptions): TrackBox[] {
  const i = firstAfter(history, n);
  const out = baseBoxes(history, i, n, opts);
  const next = history[i];
  const prev = history[i - 1];
  if (next?.weak === true && prev && next.index - n <= opts.lookahead && n - prev.index <= holdFor(history, i, opts)) {
    out.push(coasting(prev, n, opts), preAppearance(next, history[i + 1], n, opts));
  }
  for (let j = i - 1; j >= 1 && history[j]?.weak === true; j--) {
    const before = history[j - 1];
    if (!before || n - before.index > holdFor(history, j, opts)) {
      break;
    }
    out.push(coasting(before, n, opts));
  }
  return out;
}

function baseBoxes(history: readonly TrackObservation[], i: number, n: number, opts: TrackGeometryOptions): TrackBox[] {
  const prev = history[i - 1];
  const next = history[i];
  const nextInReach = next !== undefined && next.index - n <= opts.lookahead;
  const prevInHold = prev !== undefined && n - prev.index <= holdFor(history, i, opts);
  if (prev && prev.index === n) {
    return [{ box: prev.box, faceSize: faceSize(prev.box) }];
  }
  if (prev && next && nextInReach && prevInHold) {
    const t = (n - prev.index) / (next.index - prev.index);
    const base = lerpBox(prev.box, next.box, t);
    const away = Math.min(n - prev.index, next.index - n);
    return [{ box: growBox(base, growth(opts, away)), faceSize: faceSize(base) }];
  }
  if (prev && prevInHold) {
    return [coasting(prev, n, opts)];
  }
  if (next && nextInReach) {
    return [preAppearance(next, history[i + 1], n, opts)];
  }
  return [];
}

/**
 * How long a track coasts after its observation number `seen` (1-based): the
 * full hold once the track is confirmed, that is detected a second time with
 * a score of at least CONFIRM_SCORE in one of its detections; otherwise only
 * for the look-ahead, at least UNCONFIRMED_MIN_HOLD frames. Single detections
 * and tracks that never score well are most often texture (a shirt, foliage,
 * a stage set) that the low threshold lets through, and a real face is
 * detected again within that time in practice. Observations without a score
 * count as confident.
 */
export const UNCONFIRMED_MIN_HOLD = 8;
export const CONFIRM_SCORE = 0.5;

function holdFor(history: readonly TrackObservation[], seen: number, opts: TrackGeometryOptions): number {
  let confident = false;
  for (let k = 0; k < seen && !confident; k++) {
    confident = (history[k]?.score ?? 1) >= CONFIRM_SCORE;
  }
  return seen >= 2 && confident ? opts.holdFrames : Math.min(opts.holdFrames, Math.max(UNCONFIRMED_MIN_HOLD, opts.lookahead));
}

function coasting(prev: TrackObservation, n: number, opts: TrackGeometryOptions): TrackBox {
  return { box: coastBox(prev, n - prev.index, opts), faceSize: faceSize(prev.box) };
}
