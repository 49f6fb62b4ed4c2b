export { maskFile, type FileMaskerOptions, type FrameReport, type MaskReport, type PipelineEvent } from './file-masker.js';
export { createFrameDetector, detectWithDeadline, type FrameDetector } from './frame-detector.js';
export { percentile, StageTimer, type StageSummary } from './stage-timer.js';
export { createWorkerFrameDetector, WorkerFrameDetector } from './worker-detector.js';
