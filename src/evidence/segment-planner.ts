/**
 * Where segments start and end, per track. Pure: the track adapter asks it
 * what to do with each frame and does the I/O.
 *
 * A segment opens on a keyframe and rolls over at the first keyframe once it
 * is `segmentMs` long (or at a keyframe whose resolution differs, since the
 * resolution is in the segment's header). Frames before the first keyframe
 * are dropped: nothing could decode them. When a segment is due to roll and
 * no keyframe has come yet, the planner asks once for one (the caller sends
 * a PLI).
 */

export interface PlannedFrame {
  /** Track time in ms. */
  ms: number;
  keyframe: boolean;
  /** Set on keyframes of video: the coded size. */
  size?: { width: number; height: number } | undefined;
}

export interface FrameDecision {
  action: 'drop' | 'open' | 'append';
  /** True once per overdue segment, and while frames are dropped waiting for the first keyframe. */
  requestKeyframe: boolean;
}

export class SegmentPlanner {
  readonly #segmentMs: number;
  #openedAtMs: number | undefined;
  #size: { width: number; height: number } | undefined;
  #requested = false;

  constructor(segmentMs: number) {
    this.#segmentMs = segmentMs;
  }

  /** True while the open segment is due to roll and waits for a keyframe (or none is open yet). */
  get needsKeyframe(): boolean {
    return this.#openedAtMs === undefined || this.#requested;
  }

  decide(frame: PlannedFrame): FrameDecision {
    const opened = this.#openedAtMs;
    if (opened === undefined) {
      if (!frame.keyframe) {
        return { action: 'drop', requestKeyframe: true };
      }
      return this.#open(frame);
    }
    const due = frame.ms - opened >= this.#segmentMs;
    const resized = frame.keyframe && frame.size !== undefined && this.#size !== undefined &&
      (frame.size.width !== this.#size.width || frame.size.height !== this.#size.height);
    if (frame.keyframe && (due || resized)) {
      return this.#open(frame);
    }
    if (due && !this.#requested) {
      this.#requested = true;
      return { action: 'append', requestKeyframe: true };
    }
    return { action: 'append', requestKeyframe: false };
  }

  /** Forget the open segment: the next frame must be a keyframe. */
  reset(): void {
    this.#openedAtMs = undefined;
    this.#requested = false;
  }

  #open(frame: PlannedFrame): FrameDecision {
    this.#openedAtMs = frame.ms;
    this.#size = frame.size ?? this.#size;
    this.#requested = false;
    return { action: 'open', requestKeyframe: false };
  }
}

/**
 * Extends 32-bit RTP timestamps that wrap into a monotonic count from the
 * track's first one, taking each step as a signed 32-bit difference.
 */
export class TimestampUnwrapper {
  #lastRaw: number | undefined;
  #ext = 0;

  /** Ticks since the first timestamp pushed. */
  push(raw: number): number {
    const r = raw >>> 0;
    if (this.#lastRaw !== undefined) {
      this.#ext += ((r - this.#lastRaw) | 0);
    }
    this.#lastRaw = r;
    return this.#ext;
  }
}
