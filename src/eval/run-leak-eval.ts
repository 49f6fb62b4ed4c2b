import { AbortedError, LivemaskError, type Box, type I420Frame } from '../core/index.js';
import { VideoDecoder } from '../media/index.js';
import { writeContactSheet, type SheetRow } from './contact-sheet.js';
import { i420ToRgb, type RgbImage } from './i420-rgb.js';
import { isLeak, LEAK_THRESHOLD, measureBox } from './leak-measure.js';
import { DEFAULT_WORST, LeakTally, type BoxResult, type LeakReport } from './leak-report.js';
import { isFullyMasked } from './over-mask.js';
import { clipRect } from './region.js';
import { applyCorrections, isPlainlyVisible, loadCorrections, loadTruth, type Truth, type TruthBox } from './truth.js';

export interface LeakEvalOptions {
  /** The unmasked video. */
  original: string;
  /** The masked rendition of it, frame for frame. */
  masked: string;
  /** The truth file (per-frame face boxes in the clip's pixels). */
  truth: string;
  /** Leak threshold on the score. Default LEAK_THRESHOLD. */
  threshold?: number;
  /** Write a contact sheet PNG of the worst boxes here. */
  sheet?: string;
  /** A corrections file that drops known false truth boxes. */
  corrections?: string;
  /** How many worst boxes to report and show. Default 12. */
  worst?: number;
  signal?: AbortSignal;
}

type Crops = { original: RgbImage; masked: RgbImage };

async function prepareTruth(o: LeakEvalOptions): Promise<{ truth: Truth; corrections?: { reason: string; dropped: number } }> {
  const raw = await loadTruth(o.truth);
  if (o.corrections === undefined) {
    return { truth: raw };
  }
  const c = await loadCorrections(o.corrections);
  return { truth: applyCorrections(raw, c), corrections: { reason: c.reason, dropped: c.drop.length } };
}

function checkSizes(truth: Truth, a: I420Frame, b: I420Frame): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new LivemaskError('BAD_USAGE', `original is ${a.width}x${a.height} but masked is ${b.width}x${b.height}`);
  }
  if (a.width !== truth.width || a.height !== truth.height) {
    throw new LivemaskError('BAD_USAGE', `truth is for ${truth.width}x${truth.height} but the videos are ${a.width}x${a.height}`);
  }
}

function measureFrame(a: I420Frame, b: I420Frame, boxes: readonly TruthBox[], threshold: number): BoxResult[] {
  const out: BoxResult[] = [];
  for (const t of boxes) {
    const m = measureBox(a, b, t.box);
    if (m) {
      out.push({ frame: a.index, box: t.box, ...m, leak: isLeak(m.score, threshold), plainlyVisible: isPlainlyVisible(t) });
    }
  }
  return out;
}

/** The box with a quarter of its size as context on each side, clipped. */
function cropsOf(a: I420Frame, b: I420Frame, box: Box): Crops | undefined {
  const rect = clipRect({ x: box.x - box.w / 4, y: box.y - box.h / 4, w: box.w * 1.5, h: box.h * 1.5 }, a.width, a.height);
  return rect ? { original: i420ToRgb(a, rect), masked: i420ToRgb(b, rect) } : undefined;
}

/** Keeps crops for exactly the boxes currently in the worst list. */
function updateCrops(crops: Map<BoxResult, Crops>, worst: readonly BoxResult[], a: I420Frame, b: I420Frame): void {
  const keep = new Set(worst);
  for (const k of crops.keys()) {
    if (!keep.has(k)) {
      crops.delete(k);
    }
  }
  for (const w of worst) {
    if (w.frame === a.index && !crops.has(w)) {
      const c = cropsOf(a, b, w.box);
      if (c) {
        crops.set(w, c);
      }
    }
  }
}

function sheetRows(worst: readonly BoxResult[], crops: Map<BoxResult, Crops>): SheetRow[] {
  return worst.flatMap((w) => {
    const c = crops.get(w);
    const caption = `frame ${w.frame}  score ${w.score.toFixed(3)}  ssim ${w.ssim.toFixed(3)}${w.leak ? '  LEAK' : ''}`;
    return c ? [{ ...c, caption }] : [];
  });
}

/**
 * Decodes the original and the masked video in lock-step, measures every
 * truth box of every frame the truth covers, and returns the report; writes
 * the contact sheet when `sheet` is given. Decoding stops after the last
 * truth frame (long clips are covered for their first 600 frames).
 */
export async function runLeakEval(options: LeakEvalOptions): Promise<LeakReport> {
  const threshold = options.threshold ?? LEAK_THRESHOLD;
  const { truth, corrections } = await prepareTruth(options);
  const lastFrame = Math.max(-1, ...truth.frames.keys());
  const signal = options.signal;
  const decA = new VideoDecoder({ input: options.original, ...(signal ? { signal } : {}) });
  const decB = new VideoDecoder({ input: options.masked, ...(signal ? { signal } : {}) });
  const tally = new LeakTally(threshold, options.worst ?? DEFAULT_WORST);
  const crops = new Map<BoxResult, Crops>();
  try {
    const itA = decA.frames();
    const itB = decB.frames();
    for (let n = 0; n <= lastFrame; n++) {
      if (signal?.aborted === true) {
        throw new AbortedError('leak evaluation aborted', { cause: signal.reason });
      }
      const [ra, rb] = await Promise.all([itA.next(), itB.next()]);
      if (ra.done === true || rb.done === true) {
        break;
      }
      const boxes = truth.frames.get(n);
      if (!boxes) {
        continue;
      }
      checkSizes(truth, ra.value, rb.value);
      tally.addFrame(
        measureFrame(ra.value, rb.value, boxes, threshold),
        isFullyMasked(ra.value, rb.value, boxes.map((b) => b.box)),
        n,
      );
      updateCrops(crops, tally.worst, ra.value, rb.value);
    }
  } finally {
    await Promise.all([decA.close(), decB.close()]);
  }
  const report = tally.report(truth.frames.size, corrections);
  if (options.sheet !== undefined) {
    await writeContactSheet(options.sheet, sheetRows(report.worst, crops));
  }
  return report;
}
