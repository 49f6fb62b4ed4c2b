/**
 * evidence: the tamper-evident recording of a room's original media and
 * events. `EvidenceRecorder` records one room session; `recover` seals what
 * a killed process left open; `verify` proves nothing was altered or lost.
 */
export { EvidenceRecorder, type CloseResult, type EvidenceRecorderEvents, type EvidenceRecorderOptions } from './recorder.js';
export type { AudioPacketInput, AudioTrackHandle, VideoFrameInput, VideoTrackHandle } from './evidence-track.js';
export { recover, type RecoveredSession, type RecoverOptions } from './recover.js';
export { verify, type Problem, type ProblemKind, type VerifyCounts, type VerifyResult } from './verify.js';
export { demoKeyDir, KEY_ENV, loadEvidenceKeys, type EvidenceKeys, type LoadKeysOptions } from './keys.js';
export { FILES, listSessions, segmentName, type SessionRef } from './layout.js';
export { EVENT, type Manifest, type SegmentRecord, type TrackRecord } from './manifest.js';
export { canonicalJson, checkChain, checkpointMessage, GENESIS, nextEntry, parseLog, type ChainEntry, type ChainProblem } from './hash-chain.js';
export { SegmentPlanner, TimestampUnwrapper, type FrameDecision, type PlannedFrame } from './segment-planner.js';
export { scanWebm, webmFrame, webmFrames, webmHeader, type TrackSpec, type WebmFrame, type WebmScan } from './webm.js';
export { AUDIT_FILES, appendAudit, readAudit, verifyAudit, type AuditAction, type AuditRecord, type AuditVerifyResult } from './audit.js';
export { replayMedia, replayTracks, type ReplayMediaOptions, type ReplayTrackInfo } from './replay-media.js';
