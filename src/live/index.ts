export { registerLiveRoutes, type LiveRoutesContext } from './routes.js';
export { LIVE_MASK_DEFAULTS, LiveSessions, type LiveSessionsOptions, type MediaKind, type SessionInfo } from './sessions.js';
export { AUDIO_CODECS, checkPublishOffer, checkSubscribeOffer, summarizeOffer, VIDEO_CODECS, type OfferSummary } from './sdp-checks.js';
