export {
  DETECTOR_DEFAULTS,
  FaceDetector,
  type DetectOptions,
  type DetectResult,
  type DetectTimings,
  type FaceDetectorOptions,
} from './face-detector.js';
export { type DetectorMode, type DetectPass, type TileMode, type TilePolicy, planPasses } from './detect-plan.js';
export { ModelSession, type ExecutionProviderName, type InferenceRunner, type ModelSessionOptions } from './model-session.js';
export { BatchingSession, SharedDetectorModels, type BatchPolicy, type BatchStats, type SharedDetectorModelsOptions } from './batching-session.js';
export { loadModelSessions, modelsFor } from './load-models.js';
export { batchedEntry, defaultModelsDir, loadVerifiedModel, readManifest, type ModelEntry } from './model-files.js';
export { blazeFaceAnchors, layerAnchors, BLAZEFACE_LAYERS, type AnchorLayer } from './anchors.js';
export { decodeLayers, sigmoid, type RawLayerOutput, type ScoredBox } from './decode.js';
export { iou, weightedNms } from './nms.js';
export { letterboxI420, LetterboxScratch, planLetterbox, toFramePixels, type Letterbox } from './letterbox.js';
export { planTiles } from './tiles.js';
export { LOW_LIGHT_DEFAULTS, type LowLightPolicy } from './low-light.js';
