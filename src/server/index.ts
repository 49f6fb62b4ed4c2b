export { LivemaskServer, type LivemaskServerOptions } from './app.js';
export { DEFAULT_RETENTION_DAYS, describeServerConfig, MIN_SECRET_BYTES, parseRetentionConfig, parseServerConfig, parseStoreConfig, prepareDataDir, type ServeFlags, type ServerConfig } from './config.js';
export { postRoomEvent, switchMask } from './room-routes.js';
export { STAGES, type MediaMetrics, type ServerMetrics, type Stage } from './metrics.js';
export {
  RoomRegistry,
  type MediaEventBody,
  type ParticipantState,
  type RoomEvent,
  type RoomEventBody,
  type RoomEventType,
  type RoomRegistryEvents,
  type RoomRegistryOptions,
} from './rooms.js';
export {
  bearerToken,
  HIRING_ROLES,
  mintToken,
  renditionFor,
  ROLES,
  TokenVerifier,
  type MintOptions,
  type Rendition,
  type Role,
  type SigningKey,
  type TokenAlgorithm,
  type TokenClaims,
  type TokenVerifierOptions,
} from './tokens.js';
