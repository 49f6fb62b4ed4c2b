export { i420Size, type Box, type FaceDetection, type I420Frame, type ModelName } from './types.js';
export {
  AbortedError,
  AuthError,
  DetectorError,
  EvidenceError,
  LivemaskError,
  MediaError,
  StoreError,
  type LivemaskErrorCode,
} from './errors.js';
export { createLogger, REDACT_PATHS, type Logger } from './logger.js';
export { TypedEmitter, type EventMap, type TypedEmitterEvents } from './typed-emitter.js';
