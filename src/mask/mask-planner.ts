import { LivemaskError, type Box } from '../core/index.js';
import { clipBox, ensureMinSize, isEmptyBox, isFiniteBox } from './box-geometry.js';
import { expandBox, resolveExpansion, type BoxExpansion } from './expand-box.js';
import { FaceTracker, trackBoxesInShot, type FaceTrackerOptions } from './face-tracker.js';
import type { TrackGeometryOptions } from './track-geometry.js';
import { TypedEmitter } from '../core/index.js';

/** Why a frame is masked whole. */
export type FailsafeReason = 'no-result' | 'detector-error' | 'stale' | 'no-face' | 'size-change';

/** A region to mask, with the size of the face it holds when known (it sets the pixelation block). */
export interface MaskBox extends Box {
  readonly faceSize?: number;
}

/** What to paint on one released frame. */
export interface MaskPlan {
  readonly index: number;
  /** Whole-pixel head boxes inside the frame (also filled in when fullFrame, for reports). */
  readonly boxes: MaskBox[];
  /** Mask the whole frame: the planner cannot vouch for the boxes. */
  readonly fullFrame: boolean;
  readonly reason?: FailsafeReason;
}

/** The detector's answer for one frame. */
export type DetectionResult = { readonly faces: readonly Box[] } | { readonly error: Error };

export interface MaskPlannerOptions {
  width: number;
  height: number;
  /** K: the mask of frame n may use detections of frames n..n+K. */
  lookahead: number;
  /** Keep masking a track this many frames after its last detection; also the presence hold. */
  holdFrames: number;
  /** Full frame when the newest result is older than n - staleBudgetFrames. Default 2. */
  staleBudgetFrames?: number;
  /** Full frame while no face was detected in the last holdFrames frames (and from stream start until one is). */
  requireFace: boolean;
  /** Head box around the face box. Default DEFAULT_BOX_EXPANSION. */
  expansion?: Partial<BoxExpansion>;
  /** Every mask box is grown about its centre to at least this many pixels a side. Default 16. */
  minBoxSize?: number;
  /** Frame rate, for the seconds in presence events. Default 30. */
  fps?: number;
  /** Tracker tuning; holdFrames and retainFrames are set by the planner. */
  tracker?: Omit<FaceTrackerOptions, 'holdFrames' | 'retainFrames' | 'historyFrames'>;
}

export interface FailsafeEvent {
  /** engaged: from this frame on, frames are full-masked; cleared: this frame is the first that is not. */
  readonly state: 'engaged' | 'cleared';
  /** The reason engaged, or the reason that was cleared. */
  readonly reason: FailsafeReason;
  readonly index: number;
}

export type MaskPlannerEvents = {
  'face-present': [{ index: number }];
  'face-lost': [{ index: number; sinceIndex: number; seconds: number }];
  'face-back': [{ index: number; afterSeconds: number }];
  failsafe: [FailsafeEvent];
};

interface StoredResult {
  readonly error: boolean;
  readonly faces: number;
}

interface Resolved {
  width: number;
  height: number;
  lookahead: number;
  holdFrames: number;
  staleBudgetFrames: number;
  requireFace: boolean;
  expansion: BoxExpansion;
  minBoxSize: number;
  fps: number;
}

function nonNegativeInt(name: string, value: number, min = 0): number {
  if (!Number.isInteger(value) || value < min) {
    throw new LivemaskError('CONFIG_INVALID', `${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function resolve(o: MaskPlannerOptions): Resolved {
  const fps = o.fps ?? 30;
  if (!(Number.isFinite(fps) && fps > 0)) {
    throw new LivemaskError('CONFIG_INVALID', `fps must be a number > 0, got ${fps}`);
  }
  return {
    width: nonNegativeInt('width', o.width, 1),
    height: nonNegativeInt('height', o.height, 1),
    lookahead: nonNegativeInt('lookahead', o.lookahead),
    holdFrames: nonNegativeInt('holdFrames', o.holdFrames),
    staleBudgetFrames: nonNegativeInt('staleBudgetFrames', o.staleBudgetFrames ?? 2),
    requireFace: o.requireFace,
    expansion: resolveExpansion(o.expansion),
    minBoxSize: nonNegativeInt('minBoxSize', o.minBoxSize ?? 16),
    fps,
  };
}

/**
 * The look-ahead, fail-closed mask policy that every pipeline runs frame by
 * frame. Frames enter a delay line (`pushFrame`), detection results arrive
 * (`pushResult`, possibly late or never), and `plan(n)` is asked for frame n
 * when it leaves the line, once frame n+K has entered or at end of stream.
 * Pure: no I/O, no clocks.
 */
export class MaskPlanner extends TypedEmitter<MaskPlannerEvents> {
  readonly #o: Resolved;
  readonly #trackerOptions: FaceTrackerOptions;
  readonly #geometry: TrackGeometryOptions;
  #tracker: FaceTracker;
  readonly #results = new Map<number, StoredResult>();
  #orphans: { index: number; box: Box }[] = [];
  /** Shot cuts not yet given to the tracker, ascending. */
  #cuts: number[] = [];
  #newestFrame = -Infinity;
  #epochStart = 0;
  #resized = false;
  #firstResult = Infinity;
  #newestResult = -Infinity;
  #newestIsError = false;
  #engaged: FailsafeReason | undefined;
  readonly #presence = { index: -Infinity, lastFace: -Infinity, seen: false, lost: false };

  constructor(options: MaskPlannerOptions) {
    super();
    this.#o = resolve(options);
    const { holdFrames, lookahead } = this.#o;
    // Tracks and observations must outlive the delay line (K plus detector latency).
    const retainFrames = holdFrames + Math.max(4 * lookahead, 60);
    this.#trackerOptions = { ...options.tracker, holdFrames, retainFrames, historyFrames: retainFrames + holdFrames };
    this.#tracker = new FaceTracker(this.#trackerOptions);
    const t = this.#tracker.options;
    this.#geometry = { holdFrames, lookahead, coastGrowth: t.coastGrowth, coastAccel: t.coastAccel, maxCoastGrowth: t.maxCoastGrowth };
  }

  get width(): number {
    return this.#o.width;
  }

  get height(): number {
    return this.#o.height;
  }

  /**
   * Frame `index` entered the delay line. Indices must increase. `cut`: the
   * frame opens a new shot (SceneCutDetector); tracks end there.
   */
  pushFrame(index: number, info: { cut?: boolean } = {}): void {
    if (!(Number.isInteger(index) && index > this.#newestFrame)) {
      throw new LivemaskError('BAD_USAGE', `pushFrame(${index}) after frame ${this.#newestFrame}`);
    }
    this.#newestFrame = index;
    if (info.cut === true) {
      this.#cuts.push(index);
    }
  }

  /**
   * The detector's result for frame `index`. A result with a non-finite or
   * empty face box counts as a detector error (fail closed). Results for frames
   * before the last resize are dropped.
   */
  pushResult(index: number, result: DetectionResult): void {
    if (index < this.#epochStart) {
      return;
    }
    if (this.#results.has(index)) {
      throw new LivemaskError('BAD_USAGE', `a second detection result for frame ${index}`);
    }
    const faces = 'faces' in result && result.faces.every((f) => isFiniteBox(f) && !isEmptyBox(f)) ? result.faces : undefined;
    this.#results.set(index, { error: faces === undefined, faces: faces?.length ?? 0 });
    this.#firstResult = Math.min(this.#firstResult, index);
    if (index > this.#newestResult) {
      this.#newestResult = index;
      this.#newestIsError = faces === undefined;
    }
    if (faces === undefined) {
      return;
    }
    if (index > this.#tracker.lastUpdate) {
      this.#applyCuts(index);
      this.#tracker.update(index, faces);
    } else {
      // A late result the tracker has moved past: its faces still mask their frames.
      this.#orphans.push(...faces.map((box) => ({ index, box })));
    }
    this.#updatePresence(index, faces.length);
  }

  /**
   * The frame size changes from frame `fromIndex` on. All state is dropped;
   * frames are full-masked ('size-change') until a result at the new size
   * arrives, and so are frames before `fromIndex` still to be planned.
   */
  resize(width: number, height: number, fromIndex: number): void {
    this.#o.width = nonNegativeInt('width', width, 1);
    this.#o.height = nonNegativeInt('height', height, 1);
    this.#epochStart = fromIndex;
    this.#resized = true;
    this.#results.clear();
    this.#orphans = [];
    this.#cuts = [];
    this.#tracker = new FaceTracker(this.#trackerOptions);
    this.#firstResult = Infinity;
    this.#newestResult = -Infinity;
    this.#newestIsError = false;
  }

  /** The plan for frame `index`, which must have been pushed. Plan frames in order. */
  plan(index: number): MaskPlan {
    if (!(index <= this.#newestFrame)) {
      throw new LivemaskError('BAD_USAGE', `plan(${index}) before pushFrame(${index})`);
    }
    const reason = this.#failsafeReason(index);
    const boxes = this.#boxesAt(index);
    this.#noteFailsafe(index, reason);
    this.#prune(index);
    return reason === undefined ? { index, boxes, fullFrame: false } : { index, boxes, fullFrame: true, reason };
  }

  /** Gives the tracker the cuts at or before frame `index`. */
  #applyCuts(index: number): void {
    while (this.#cuts.length > 0 && (this.#cuts[0] ?? Infinity) <= index) {
      const c = this.#cuts.shift() ?? index;
      if (c > this.#tracker.lastUpdate) {
        this.#tracker.cut(c);
      }
    }
  }

  #failsafeReason(n: number): FailsafeReason | undefined {
    const o = this.#o;
    if (n < this.#epochStart || this.#firstResult > n) {
      return this.#resized ? 'size-change' : 'no-result';
    }
    if (this.#results.get(n)?.error === true || this.#newestIsError) {
      return 'detector-error';
    }
    if (this.#newestResult < n - o.staleBudgetFrames) {
      return 'stale';
    }
    if (o.requireFace && !this.#faceWithin(n - o.holdFrames, n)) {
      return 'no-face';
    }
    return undefined;
  }

  #faceWithin(from: number, to: number): boolean {
    for (let i = to; i >= from; i--) {
      if ((this.#results.get(i)?.faces ?? 0) > 0) {
        return true;
      }
    }
    return false;
  }

  #boxesAt(n: number): MaskBox[] {
    const out: MaskBox[] = [];
    for (const track of this.#tracker.tracks) {
      for (const tb of trackBoxesInShot(track, n, this.#geometry)) {
        this.#addBox(out, tb.box, tb.faceSize);
      }
    }
    for (const o of this.#orphans) {
      if (n >= o.index - this.#o.lookahead && n <= o.index) {
        this.#addBox(out, o.box, Math.max(o.box.w, o.box.h));
      }
    }
    return out;
  }

  #addBox(out: MaskBox[], face: Box, faceSize: number): void {
    const frame = { width: this.#o.width, height: this.#o.height };
    const head = expandBox(face, frame, this.#o.expansion);
    const box = clipBox(ensureMinSize(head, this.#o.minBoxSize), frame);
    if (!isEmptyBox(box)) {
      out.push({ ...box, faceSize });
    }
  }

  #noteFailsafe(index: number, reason: FailsafeReason | undefined): void {
    const prev = this.#engaged;
    if (reason === prev) {
      return;
    }
    this.#engaged = reason;
    if (reason === undefined) {
      if (prev !== undefined) {
        this.safeEmit('failsafe', { state: 'cleared', reason: prev, index });
      }
      return;
    }
    this.safeEmit('failsafe', { state: 'engaged', reason, index });
  }

  #updatePresence(index: number, faces: number): void {
    const p = this.#presence;
    if (index <= p.index) {
      return;
    }
    p.index = index;
    const fps = this.#o.fps;
    if (faces > 0) {
      if (!p.seen) {
        p.seen = true;
        this.safeEmit('face-present', { index });
      } else if (p.lost) {
        p.lost = false;
        this.safeEmit('face-back', { index, afterSeconds: (index - p.lastFace - 1) / fps });
      }
      p.lastFace = index;
      return;
    }
    if (p.seen && !p.lost && index - p.lastFace > this.#o.holdFrames) {
      p.lost = true;
      this.safeEmit('face-lost', { index, sinceIndex: p.lastFace + 1, seconds: (index - p.lastFace) / fps });
    }
  }

  #prune(n: number): void {
    const keepFrom = n - this.#o.holdFrames - this.#o.staleBudgetFrames - 1;
    for (const i of this.#results.keys()) {
      if (i < keepFrom) {
        this.#results.delete(i);
      }
    }
    if (this.#orphans.length > 0) {
      this.#orphans = this.#orphans.filter((o) => o.index >= n);
    }
  }
}
