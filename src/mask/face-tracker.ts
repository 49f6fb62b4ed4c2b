import { LivemaskError, type Box } from '../core/index.js';
import { centreOf, translateBox } from './box-geometry.js';
import { matchDetections, type MatchCandidate } from './match-detections.js';
import { trackBoxesAt, type TrackBox, type TrackGeometryOptions, type TrackObservation } from './track-geometry.js';

export interface FaceTrackerOptions {
  /** Keep a track alive (matchable, coasting) this many frames after its last detection. Default 30. */
  holdFrames?: number;
  /** Minimum IoU for a match. Default 0.1. */
  iouThreshold?: number;
  /** Centre-distance fallback: face sizes per elapsed frame. Default 1.5. */
  maxCentreJump?: number;
  /** Centre-distance fallback: largest size ratio. Default 2. */
  maxSizeRatio?: number;
  /** Weight of the newest velocity sample in the smoothed velocity, 0..1. Default 0.5. */
  velocitySmoothing?: number;
  /**
   * A centre-distance (weak) link whose velocity differs from the track's by
   * more than this many face sizes per frame is not believed as motion: the
   * track's velocity is reset to 0 (in a crowd the fallback often links
   * another face, and extrapolating that jump smears the mask over the
   * frame). Default 0.25.
   */
  maxWeakVelocityChange?: number;
  /** While coasting, each side grows by this fraction of the box per frame. Default 0.03. */
  coastGrowth?: number;
  /**
   * And by coastAccel·dt²/2 (fraction of the box): an unknown acceleration of
   * this many box sizes per frame², since a head can turn round. Default 0.01.
   */
  coastAccel?: number;
  /** Cap on coasting growth, per side. Default 1. */
  maxCoastGrowth?: number;
  /**
   * Keep a track this many frames beyond its hold (no longer matched or
   * predicted) so that a caller planning older frames can still read its
   * history. Default 0.
   */
  retainFrames?: number;
  /** Keep observations this many frames back from the newest update. Default 120. */
  historyFrames?: number;
}

/** A face followed across frames. */
export interface Track {
  readonly id: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** The last detected box. */
  readonly box: Box;
  /** Smoothed centre velocity, pixels per frame. */
  readonly vx: number;
  readonly vy: number;
  /** Observations, ascending by index, pruned to historyFrames. */
  readonly history: readonly TrackObservation[];
  /** The shot the track belongs to: it is masked on frames from..until-1 only (see cut()). */
  readonly from: number;
  readonly until: number;
}

interface MutableTrack {
  id: number;
  from: number;
  until: number;
  firstIndex: number;
  lastIndex: number;
  box: Box;
  vx: number;
  vy: number;
  history: TrackObservation[];
}

const DEFAULTS: Required<FaceTrackerOptions> = {
  holdFrames: 30,
  iouThreshold: 0.1,
  maxCentreJump: 1.5,
  maxSizeRatio: 2,
  velocitySmoothing: 0.5,
  maxWeakVelocityChange: 0.25,
  coastGrowth: 0.03,
  coastAccel: 0.01,
  maxCoastGrowth: 1,
  retainFrames: 0,
  historyFrames: 120,
};

function checkOptions(o: Required<FaceTrackerOptions>): void {
  for (const [key, value] of Object.entries(o)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new LivemaskError('CONFIG_INVALID', `tracker option ${key} must be a finite number >= 0, got ${String(value)}`);
    }
  }
  if (o.velocitySmoothing > 1) {
    throw new LivemaskError('CONFIG_INVALID', 'tracker option velocitySmoothing must be at most 1');
  }
}

/**
 * Follows faces across frames: greedy IoU matching with a centre-distance
 * fallback for fast motion, smoothed velocity, and a hold time during which a
 * track that is not detected coasts along its velocity and grows. Pure: no I/O.
 */
export class FaceTracker {
  readonly options: Readonly<Required<FaceTrackerOptions>>;
  readonly #tracks: MutableTrack[] = [];
  #nextId = 1;
  #lastUpdate = -Infinity;
  #shotStart = -Infinity;

  constructor(options: FaceTrackerOptions = {}) {
    const merged = { ...DEFAULTS, ...options };
    checkOptions(merged);
    this.options = Object.freeze(merged);
  }

  /** Tracks, alive or retained, in creation order. */
  get tracks(): readonly Track[] {
    return this.#tracks;
  }

  /** The frame index of the newest update, -Infinity before the first. */
  get lastUpdate(): number {
    return this.#lastUpdate;
  }

  get geometry(): TrackGeometryOptions {
    const o = this.options;
    return { holdFrames: o.holdFrames, lookahead: 0, coastGrowth: o.coastGrowth, coastAccel: o.coastAccel, maxCoastGrowth: o.maxCoastGrowth };
  }

  /** Feeds the detections of one frame. Frame indices must increase. */
  update(frameIndex: number, detections: readonly Box[]): void {
    if (!(frameIndex > this.#lastUpdate)) {
      throw new LivemaskError('BAD_USAGE', `tracker update for frame ${frameIndex} after frame ${this.#lastUpdate}`);
    }
    this.#expire(frameIndex);
    const alive = this.#tracks.filter((t) => frameIndex < t.until && frameIndex - t.lastIndex <= this.options.holdFrames);
    const candidates: MatchCandidate[] = alive.map((t) => {
      const dt = frameIndex - t.lastIndex;
      return { predicted: translateBox(t.box, t.vx * dt, t.vy * dt), elapsed: dt };
    });
    const matches = matchDetections(candidates, detections, this.options);
    const matchedDetections = new Set<number>();
    for (const [t, m] of matches) {
      const track = alive[t];
      const det = detections[m.d];
      if (track && det) {
        this.#observe(track, frameIndex, det, m.by === 'distance');
        matchedDetections.add(m.d);
      }
    }
    detections.forEach((det, d) => {
      if (!matchedDetections.has(d)) {
        this.#start(frameIndex, det);
      }
    });
    this.#lastUpdate = frameIndex;
  }

  /**
   * Predicted boxes at `frameIndex` (meant for frames at or after the last
   * update): each live track's last box moved along its velocity, hulled with
   * where it was, and grown while coasting.
   */
  boxesAt(frameIndex: number): Box[] {
    const out: Box[] = [];
    for (const t of this.#tracks) {
      for (const tb of trackBoxesInShot(t, frameIndex, this.geometry)) {
        out.push(tb.box);
      }
    }
    return out;
  }

  /**
   * A shot cut at frame `index` (no update for it yet): every track ends
   * there. A face's motion before a cut says nothing about the next shot, so
   * no track coasts across it or links to a face after it, and tracks that
   * start after it are not masked before it.
   */
  cut(index: number): void {
    if (!(index > this.#lastUpdate)) {
      throw new LivemaskError('BAD_USAGE', `cut at frame ${index} after an update for frame ${this.#lastUpdate}`);
    }
    for (const t of this.#tracks) {
      t.until = Math.min(t.until, index);
    }
    this.#shotStart = index;
  }

  /** Drops every track. */
  reset(): void {
    this.#tracks.length = 0;
    this.#lastUpdate = -Infinity;
    this.#shotStart = -Infinity;
  }

  #start(index: number, box: Box): void {
    this.#tracks.push({
      id: this.#nextId++,
      from: this.#shotStart,
      until: Infinity,
      firstIndex: index,
      lastIndex: index,
      box,
      vx: 0,
      vy: 0,
      history: [{ index, box, vx: 0, vy: 0, ...scoreOf(box) }],
    });
  }

  #observe(t: MutableTrack, index: number, box: Box, weak: boolean): void {
    const dt = index - t.lastIndex;
    const a = centreOf(t.box);
    const b = centreOf(box);
    const ix = (b.cx - a.cx) / dt;
    const iy = (b.cy - a.cy) / dt;
    const first = t.firstIndex === t.lastIndex;
    if (weak && !first && Math.hypot(ix - t.vx, iy - t.vy) > this.options.maxWeakVelocityChange * Math.max(box.w, box.h)) {
      // A distance link against the track's motion is as likely another face: no motion to extrapolate.
      t.vx = 0;
      t.vy = 0;
    } else {
      const k = first ? 1 : this.options.velocitySmoothing;
      t.vx = k * ix + (1 - k) * t.vx;
      t.vy = k * iy + (1 - k) * t.vy;
    }
    t.box = box;
    t.lastIndex = index;
    t.history.push({ index, box, vx: t.vx, vy: t.vy, ...(weak ? { weak } : {}), ...scoreOf(box) });
    const oldest = index - this.options.historyFrames;
    while (t.history.length > 1 && (t.history[0]?.index ?? Infinity) < oldest) {
      t.history.shift();
    }
  }

  #expire(frameIndex: number): void {
    const limit = this.options.holdFrames + this.options.retainFrames;
    for (let i = this.#tracks.length - 1; i >= 0; i--) {
      const t = this.#tracks[i];
      if (t && frameIndex - t.lastIndex > limit) {
        this.#tracks.splice(i, 1);
      }
    }
  }
}

/** A track's boxes at frame `n` (trackBoxesAt), none outside its shot. */
export function trackBoxesInShot(track: Track, n: number, geometry: TrackGeometryOptions): TrackBox[] {
  return n >= track.from && n < track.until ? trackBoxesAt(track.history, n, geometry) : [];
}

/** A detection's score, when the box is a detection that carries one. */
function scoreOf(box: Box): { score?: number } {
  const score = (box as { score?: unknown }).score;
  return typeof score === 'number' && Number.isFinite(score) ? { score } : {};
}
