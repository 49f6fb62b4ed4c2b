export { maskFile, type FileMaskerOptions, type FrameReport, type MaskReport } from './file-masker.js';
export { percentile, StageTimer, type StageSummary } from './stage-timer.js';
