import type { ScoredBox } from './decode.js';

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: ScoredBox, b: ScoredBox): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * MediaPipe's weighted non-maximum suppression: take the best remaining box,
 * gather every remaining box overlapping it with IoU ≥ `iouThreshold`, and
 * replace the group by its score-weighted mean (box and key points). The
 * group keeps the best score. Output is sorted by score, best first.
 *
 * `group` lets a caller carry extra fields: it gets the best member and the
 * blended geometry and returns the output item.
 */
export function weightedNms<T extends ScoredBox>(
  boxes: readonly T[],
  iouThreshold: number,
  group: (best: T, blended: ScoredBox, members: readonly T[]) => T = (best, blended) => ({ ...best, ...blended }),
): T[] {
  const remaining = [...boxes].sort((a, b) => b.score - a.score);
  const out: T[] = [];
  while (remaining.length > 0) {
    const best = remaining[0] as T;
    const members: T[] = [];
    const rest: T[] = [];
    for (const b of remaining) {
      (iou(best, b) >= iouThreshold ? members : rest).push(b);
    }
    out.push(members.length === 1 ? best : group(best, blend(members), members));
    remaining.length = 0;
    remaining.push(...rest);
  }
  return out;
}

/** Score-weighted mean of boxes and key points; the score is the best one. */
export function blend(members: readonly ScoredBox[]): ScoredBox {
  let total = 0;
  let x = 0;
  let y = 0;
  let w = 0;
  let h = 0;
  let best = 0;
  for (const m of members) {
    total += m.score;
    x += m.x * m.score;
    y += m.y * m.score;
    w += m.w * m.score;
    h += m.h * m.score;
    best = Math.max(best, m.score);
  }
  const base = { x: x / total, y: y / total, w: w / total, h: h / total, score: best };
  const keypoints = blendKeypoints(members, total);
  return keypoints ? { ...base, keypoints } : base;
}

function blendKeypoints(members: readonly ScoredBox[], total: number): [number, number][] | undefined {
  const first = members[0]?.keypoints;
  if (!first || members.some((m) => m.keypoints?.length !== first.length)) {
    return undefined;
  }
  return first.map((_, k) => {
    let kx = 0;
    let ky = 0;
    for (const m of members) {
      const p = m.keypoints?.[k] ?? [0, 0];
      kx += p[0] * m.score;
      ky += p[1] * m.score;
    }
    return [kx / total, ky / total];
  });
}
