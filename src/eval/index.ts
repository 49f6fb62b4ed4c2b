/**
 * eval: measures a masked video against its original and per-frame truth
 * boxes (leaks, over-masking, worst frames, contact sheet). See README.md for
 * the measure, the threshold and the numbers behind it.
 */
export { runLeakEval, type LeakEvalOptions } from './run-leak-eval.js';
export { DEFAULT_WORST, formatLeakReport, formatRanges, LeakTally, MAX_LISTED_FRAMES, type BoxResult, type LeakReport } from './leak-report.js';
export {
  CANONICAL_FACE_WIDTH,
  isLeak,
  LEAK_THRESHOLD,
  leakScore,
  measureBox,
  type BoxMeasure,
} from './leak-measure.js';
export { isFullyMasked, structureKept, OVER_MASK_TILE, type StructureKept } from './over-mask.js';
export { ssim, SSIM_C1, SSIM_C2, type LumaRegion, type SsimOptions } from './ssim.js';
export { clipRect, copyRegion, lumaOf, lumaRegion, resampleArea, subRegion, type PixelRect } from './region.js';
export {
  applyCorrections,
  boxIou,
  isPlainlyVisible,
  loadCorrections,
  loadTruth,
  parseCorrections,
  parseTruth,
  PLAIN_MIN_SCORE,
  PLAIN_MIN_WIDTH,
  type Corrections,
  type Truth,
  type TruthBox,
} from './truth.js';
export { i420ToRgb, type RgbImage } from './i420-rgb.js';
export { writeContactSheet, type ContactSheetOptions, type SheetRow } from './contact-sheet.js';
