import type { Box } from '../core/index.js';
import { centreDistance, iou } from './box-geometry.js';

export interface MatchOptions {
  /** Pairs with at least this IoU are matched first, best IoU first. */
  readonly iouThreshold: number;
  /**
   * Fallback for fast motion (IoU 0): a pair matches when the centres are at
   * most this many face sizes apart per frame elapsed since the track's last
   * observation, nearest first.
   */
  readonly maxCentreJump: number;
  /** The fallback also needs the two sizes within this ratio of each other. */
  readonly maxSizeRatio: number;
}

/** A track as the matcher sees it: where it is predicted now, and how long ago it was seen. */
export interface MatchCandidate {
  readonly predicted: Box;
  readonly elapsed: number;
}

interface Pair {
  readonly t: number;
  readonly d: number;
  readonly cost: number;
}

/** Which detection a track got, and whether by overlap or by the distance fallback (a weaker link). */
export interface Match {
  readonly d: number;
  readonly by: 'iou' | 'distance';
}

function sizeRatio(a: Box, b: Box): number {
  const sa = Math.max(a.w, a.h);
  const sb = Math.max(b.w, b.h);
  return Math.max(sa, sb) / Math.max(1e-9, Math.min(sa, sb));
}

function assign(pairs: Pair[], by: Match['by'], used: { t: Set<number>; d: Set<number> }, out: Map<number, Match>): void {
  pairs.sort((a, b) => a.cost - b.cost);
  for (const p of pairs) {
    if (!used.t.has(p.t) && !used.d.has(p.d)) {
      used.t.add(p.t);
      used.d.add(p.d);
      out.set(p.t, { d: p.d, by });
    }
  }
}

/**
 * Greedy matching of tracks to detections: first by IoU, then the leftovers by
 * centre distance. Returns a map from track position to its match.
 */
export function matchDetections(tracks: readonly MatchCandidate[], detections: readonly Box[], opts: MatchOptions): Map<number, Match> {
  const out = new Map<number, Match>();
  const used = { t: new Set<number>(), d: new Set<number>() };
  const byIou: Pair[] = [];
  tracks.forEach((tr, t) => {
    detections.forEach((det, d) => {
      const v = iou(tr.predicted, det);
      if (v >= opts.iouThreshold && v > 0) {
        byIou.push({ t, d, cost: -v });
      }
    });
  });
  assign(byIou, 'iou', used, out);
  const byDistance: Pair[] = [];
  tracks.forEach((tr, t) => {
    detections.forEach((det, d) => {
      if (used.t.has(t) || used.d.has(d) || sizeRatio(tr.predicted, det) > opts.maxSizeRatio) {
        return;
      }
      const dist = centreDistance(tr.predicted, det);
      const size = Math.max(det.w, det.h);
      if (dist <= opts.maxCentreJump * size * Math.max(1, tr.elapsed)) {
        byDistance.push({ t, d, cost: dist });
      }
    });
  });
  assign(byDistance, 'distance', used, out);
  return out;
}
