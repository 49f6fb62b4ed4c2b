export {
  DETECTOR_DEFAULTS,
  FaceDetector,
  type DetectOptions,
  type DetectResult,
  type DetectTimings,
  type FaceDetectorOptions,
} from './face-detector.js';
export { type DetectorMode, type DetectPass, type TileMode, type TilePolicy, planPasses } from './detect-plan.js';
export { ModelSession, type ExecutionProviderName, type ModelSessionOptions } from './model-session.js';
export { defaultModelsDir, loadVerifiedModel, readManifest, type ModelEntry } from './model-files.js';
export { blazeFaceAnchors, layerAnchors, BLAZEFACE_LAYERS, type AnchorLayer } from './anchors.js';
export { decodeLayers, sigmoid, type RawLayerOutput, type ScoredBox } from './decode.js';
export { iou, weightedNms } from './nms.js';
export { letterboxI420, LetterboxScratch, planLetterbox, toFramePixels, type Letterbox } from './letterbox.js';
export { planTiles } from './tiles.js';
export { LOW_LIGHT_DEFAULTS, type LowLightPolicy } from './low-light.js';
