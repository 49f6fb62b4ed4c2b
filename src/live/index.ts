export { registerLiveRoutes, type LiveRoutesContext } from './routes.js';
export { LiveSessions, type LiveSessionsOptions, type MediaKind, type SessionInfo } from './sessions.js';
export { AUDIO_CODECS, checkPublishOffer, checkSubscribeOffer, summarizeOffer, VIDEO_CODECS, type OfferSummary } from './sdp-checks.js';
