import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { LivemaskError, type Box } from '../core/index.js';

/**
 * Ground truth per frame (see ../shared/data/truth/README.md):
 * `{video, width, height, fps, detector, thr, frames: [{i, boxes: [[x, y, w, h, score], ...]}]}`,
 * in the clip's own pixels; `i` counts decoded frames from 0.
 *
 * Corrections drop known false boxes:
 * `{ "reason": "...", "drop": [{ "i": 11, "box": [x, y, w, h] }, ...] }`.
 * Each entry removes the box of frame `i` that overlaps `box` best, with IoU
 * >= 0.5; an entry that matches nothing is an error, so stale corrections
 * are caught rather than silently ignored.
 */
const num = z.number().finite();
const boxTuple = z.tuple([num, num, num, num]).rest(num);

const truthSchema = z.object({
  video: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  fps: num.positive(),
  detector: z.string().optional(),
  thr: num.optional(),
  frames: z.array(z.object({ i: z.number().int().nonnegative(), boxes: z.array(boxTuple) })),
});

const correctionsSchema = z.object({
  reason: z.string().min(1),
  drop: z.array(z.object({ i: z.number().int().nonnegative(), box: boxTuple })),
});

export interface TruthBox {
  readonly box: Box;
  /** The truth detector's score; NaN when the file gives none. */
  readonly score: number;
}

export interface Truth {
  readonly video: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Boxes per decoded frame index; frames absent here are not covered by the truth. */
  readonly frames: ReadonlyMap<number, readonly TruthBox[]>;
}

export interface Corrections {
  readonly reason: string;
  readonly drop: readonly { readonly i: number; readonly box: Box }[];
}

export const CORRECTION_MIN_IOU = 0.5;

function toBox(t: readonly number[]): Box {
  return { x: t[0] ?? NaN, y: t[1] ?? NaN, w: t[2] ?? NaN, h: t[3] ?? NaN };
}

function parseWith<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LivemaskError('BAD_USAGE', `${what} is not JSON`, { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LivemaskError('BAD_USAGE', `${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

export function parseTruth(text: string, what = 'truth file'): Truth {
  const t = parseWith(truthSchema, text, what);
  const frames = new Map<number, TruthBox[]>();
  for (const f of t.frames) {
    frames.set(f.i, f.boxes.map((b) => ({ box: toBox(b), score: b[4] ?? NaN })));
  }
  return { video: t.video, width: t.width, height: t.height, fps: t.fps, frames };
}

export function parseCorrections(text: string, what = 'corrections file'): Corrections {
  const c = parseWith(correctionsSchema, text, what);
  return { reason: c.reason, drop: c.drop.map((d) => ({ i: d.i, box: toBox(d.box) })) };
}

export async function loadTruth(path: string): Promise<Truth> {
  return parseTruth(await readFile(path, 'utf8'), path);
}

export async function loadCorrections(path: string): Promise<Corrections> {
  return parseCorrections(await readFile(path, 'utf8'), path);
}

/** Intersection over union; 0 when either box is empty. */
export function boxIou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  const union = Math.max(0, a.w) * Math.max(0, a.h) + Math.max(0, b.w) * Math.max(0, b.h) - inter;
  return union > 0 ? inter / union : 0;
}

/** A copy of `truth` without the corrected boxes; throws when an entry matches no box. */
export function applyCorrections(truth: Truth, corrections: Corrections): Truth {
  const frames = new Map<number, readonly TruthBox[]>(truth.frames);
  for (const d of corrections.drop) {
    const boxes = frames.get(d.i) ?? [];
    let best = -1;
    let bestIou = CORRECTION_MIN_IOU;
    boxes.forEach((b, k) => {
      const v = boxIou(b.box, d.box);
      if (v >= bestIou) {
        best = k;
        bestIou = v;
      }
    });
    if (best < 0) {
      throw new LivemaskError('BAD_USAGE', `correction for frame ${d.i} matches no truth box (IoU >= ${CORRECTION_MIN_IOU})`);
    }
    frames.set(d.i, boxes.filter((_, k) => k !== best));
  }
  return { ...truth, frames };
}

/**
 * A face is *plainly visible* when its truth box is at least 24 px wide and
 * the truth detector scored it at least 0.9: big enough to recognise, and a
 * face the detector is sure of (the clips' real faces score >= 0.9; the
 * hard clips' dim, small faces score 0.6-0.9).
 */
export const PLAIN_MIN_WIDTH = 24;
export const PLAIN_MIN_SCORE = 0.9;

export function isPlainlyVisible(t: TruthBox): boolean {
  return t.box.w >= PLAIN_MIN_WIDTH && t.score >= PLAIN_MIN_SCORE;
}
