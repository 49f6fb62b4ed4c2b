import type { Box } from '../core/index.js';
import type { BoxMeasure } from './leak-measure.js';

/** One measured truth box. */
export interface BoxResult extends BoxMeasure {
  /** Decoded frame index. */
  readonly frame: number;
  readonly box: Box;
  readonly leak: boolean;
  readonly plainlyVisible: boolean;
}

export interface LeakReport {
  /** The threshold used on `score`. */
  readonly threshold: number;
  /** Frames compared (both videos decoded, truth covers them). */
  readonly frames: number;
  /** Frames the truth covers; differs from `frames` when a video ended early. */
  readonly truthFrames: number;
  /** Face-frames: (frame, truth box) pairs measured. */
  readonly faceFrames: number;
  /** Face-frames whose masked region still resembles the original (score >= threshold). */
  readonly leaks: number;
  /** leaks / faceFrames (0 when there are no face-frames). */
  readonly leakRate: number;
  /** Frames holding at least one leak. */
  readonly framesWithLeak: number;
  /** Frames with at least one plainly visible face. */
  readonly plainlyVisibleFaceFrames: number;
  /** Of those, frames that were fully masked. */
  readonly overMaskFrames: number;
  /** overMaskFrames / plainlyVisibleFaceFrames (0 when there are none). */
  readonly overMaskRate: number;
  /** The over-masked frames' indices, the first MAX_LISTED_FRAMES of them. */
  readonly overMaskedFrames: readonly number[];
  /** Corrections applied, if any: their reason and how many boxes they dropped. */
  readonly corrections?: { readonly reason: string; readonly dropped: number };
  /** The highest-scoring boxes, worst first. */
  readonly worst: readonly BoxResult[];
}

export const DEFAULT_WORST = 12;
/** How many over-masked frame indices a report lists. */
export const MAX_LISTED_FRAMES = 200;

/** Accumulates per-frame results into a LeakReport; pure, no I/O. */
export class LeakTally {
  readonly #threshold: number;
  readonly #keep: number;
  #frames = 0;
  #faceFrames = 0;
  #leaks = 0;
  #framesWithLeak = 0;
  #plain = 0;
  #overMask = 0;
  readonly #overMasked: number[] = [];
  #worst: BoxResult[] = [];

  constructor(threshold: number, keepWorst: number = DEFAULT_WORST) {
    this.#threshold = threshold;
    this.#keep = keepWorst;
  }

  /** The highest-scoring boxes so far, worst first. */
  get worst(): readonly BoxResult[] {
    return this.#worst;
  }

  /** Adds one frame's box results and whether the frame was fully masked; `frame` is its index (default: the count so far). */
  addFrame(results: readonly BoxResult[], fullyMasked: boolean, frame: number = this.#frames): void {
    this.#frames++;
    this.#faceFrames += results.length;
    const leaks = results.filter((r) => r.leak).length;
    this.#leaks += leaks;
    this.#framesWithLeak += leaks > 0 ? 1 : 0;
    if (results.some((r) => r.plainlyVisible)) {
      this.#plain++;
      if (fullyMasked) {
        this.#overMask++;
        if (this.#overMasked.length < MAX_LISTED_FRAMES) {
          this.#overMasked.push(frame);
        }
      }
    }
    if (results.length > 0) {
      this.#worst = [...this.#worst, ...results].sort(byWorst).slice(0, this.#keep);
    }
  }

  report(truthFrames: number, corrections?: { reason: string; dropped: number }): LeakReport {
    return {
      threshold: this.#threshold,
      frames: this.#frames,
      truthFrames,
      faceFrames: this.#faceFrames,
      leaks: this.#leaks,
      leakRate: ratio(this.#leaks, this.#faceFrames),
      framesWithLeak: this.#framesWithLeak,
      plainlyVisibleFaceFrames: this.#plain,
      overMaskFrames: this.#overMask,
      overMaskRate: ratio(this.#overMask, this.#plain),
      overMaskedFrames: [...this.#overMasked],
      ...(corrections ? { corrections } : {}),
      worst: this.#worst,
    };
  }
}

/** Highest score first; NaN (unmeasurable, counted as a leak) before everything; then frame order. */
function byWorst(a: BoxResult, b: BoxResult): number {
  const sa = Number.isNaN(a.score) ? Infinity : a.score;
  const sb = Number.isNaN(b.score) ? Infinity : b.score;
  return sb - sa || a.frame - b.frame;
}

function ratio(n: number, d: number): number {
  return d > 0 ? n / d : 0;
}

const pct = (r: number): string => `${(100 * r).toFixed(2)}%`;
const fmtBox = (b: Box): string => `[${[b.x, b.y, b.w, b.h].map((v) => Math.round(v)).join(', ')}]`;

/** The report as the CLI prints it. */
export function formatLeakReport(r: LeakReport): string {
  const lines = [
    `leaks: ${r.leaks} of ${r.faceFrames} face-frames (${pct(r.leakRate)}), in ${r.framesWithLeak} frames; threshold ${r.threshold}`,
    `over-mask: ${r.overMaskFrames} of ${r.plainlyVisibleFaceFrames} frames with a plainly visible face fully masked (${pct(r.overMaskRate)})`,
    `frames compared: ${r.frames} of ${r.truthFrames} covered by the truth`,
  ];
  if (r.overMaskedFrames.length > 0) {
    lines.push(`over-masked frames: ${formatRanges(r.overMaskedFrames)}${r.overMaskFrames > r.overMaskedFrames.length ? ' ...' : ''}`);
  }
  if (r.frames !== r.truthFrames) {
    lines.push(`warning: ${r.truthFrames - r.frames} truth frames were not compared (a video ended early)`);
  }
  if (r.corrections) {
    lines.push(`corrections: ${r.corrections.dropped} truth boxes dropped (${r.corrections.reason})`);
  }
  lines.push('worst:');
  for (const w of r.worst) {
    lines.push(
      `  frame ${w.frame} box ${fmtBox(w.box)} score ${w.score.toFixed(3)} ssim ${w.ssim.toFixed(3)}${w.leak ? ' LEAK' : ''}`,
    );
  }
  return lines.join('\n');
}

/** Sorted frame indices as ranges: [1, 2, 3, 7] -> "1-3, 7". */
export function formatRanges(frames: readonly number[]): string {
  const parts: string[] = [];
  let start = frames[0];
  let prev = start;
  for (const f of [...frames.slice(1), undefined]) {
    if (f !== undefined && prev !== undefined && f === prev + 1) {
      prev = f;
      continue;
    }
    if (start !== undefined && prev !== undefined) {
      parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    }
    start = f;
    prev = f;
  }
  return parts.join(', ');
}
