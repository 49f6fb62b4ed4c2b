export { clipBox, hullBox, iou, type FrameSize } from './box-geometry.js';
export { DEFAULT_BOX_EXPANSION, expandBox, resolveExpansion, type BoxExpansion } from './expand-box.js';
export { FaceTracker, trackBoxesInShot, type FaceTrackerOptions, type Track } from './face-tracker.js';
export type { TrackGeometryOptions, TrackObservation } from './track-geometry.js';
export {
  MaskPlanner,
  type DetectionResult,
  type FailsafeEvent,
  type FailsafeReason,
  type MaskBox,
  type MaskPlan,
  type MaskPlannerEvents,
  type MaskPlannerOptions,
} from './mask-planner.js';
export { blockSizeFor, DEFAULT_BLOCKS_ACROSS, NEUTRAL_GREY, paintMask, type MaskStyle, type PaintOptions, type YuvColour } from './paint-mask.js';
export { lumaSignature, SCENE_CUT_DEFAULTS, SceneCutDetector, signatureDistance, type SceneCutPolicy } from './scene-cut.js';
