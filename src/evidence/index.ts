/**
 * evidence: the tamper-evident recording of a room's original media and
 * events. `EvidenceRecorder` records one room session; `recover` seals what
 * a killed process left open; `verify` proves nothing was altered or lost;
 * `exportEvidence` makes a bundle of a time range that `verifyBundle`
 * checks with only the public key; `holdRoom`/`releaseRoom` keep a room
 * past retention, and `sweep` deletes the expired sessions of rooms not held.
 */
export { EvidenceRecorder, type CloseResult, type EvidenceRecorderEvents, type EvidenceRecorderOptions } from './recorder.js';
export type { AudioPacketInput, AudioTrackHandle, VideoFrameInput, VideoTrackHandle } from './evidence-track.js';
export { readSessionWriter, recover, writerAlive, type RecoveredSession, type RecoverOptions, type SessionWriter } from './recover.js';
export { verify, type Problem, type ProblemKind, type VerifyCounts, type VerifyResult } from './verify.js';
export { demoKeyDir, KEY_ENV, loadEvidenceKeys, type EvidenceKeys, type LoadKeysOptions } from './keys.js';
export { FILES, listSessions, OPEN_SUFFIX, participantFiles, segmentName, sessionDir, type SessionRef } from './layout.js';
export { fsyncDir, writeFileDurable } from './durable-file.js';
export { EVENT, type Manifest, type SegmentRecord, type TrackRecord } from './manifest.js';
export { canonicalJson, checkChain, checkpointMessage, GENESIS, nextEntry, parseLog, type ChainEntry, type ChainProblem } from './hash-chain.js';
export { SegmentPlanner, TimestampUnwrapper, type FrameDecision, type PlannedFrame } from './segment-planner.js';
export { scanWebm, webmFrame, webmFrames, webmHeader, type TrackSpec, type WebmFrame, type WebmScan } from './webm.js';
export { AUDIT_FILES, appendAudit, readAudit, verifyAudit, type AuditAction, type AuditRecord, type AuditVerifyResult } from './audit.js';
export { replayMedia, replayTracks, type ReplayMediaOptions, type ReplayTrackInfo } from './replay-media.js';
export { exportEvidence, verifyBundle, type ExportOptions, type ExportResult } from './export.js';
export { BUNDLE_FILES, type BundleIndex, type BundleTimeline, type ExportReport } from './export-report.js';
export { coveringSegments, parseIsoTime, parseRange, planClip, segmentWallTimes, timelineFor, type ClipTrack, type TimedSegment, type TimelineEvent } from './export-plan.js';
export { HOLD_FILE, holdRoom, isHeld, readHold, releaseRoom, type HoldAccess, type HoldResult, type HoldState } from './holds.js';
export { checkRetentionDays, DAY_MS, expiredSessions, judgeSessions, retentionReference, type RetentionBasis, type RetentionOutcome, type RetentionVerdict, type SessionTimes } from './retention.js';
export { sweep, TOMBSTONE_PREFIX, type KeptSession, type SessionKey, type SweepOptions, type SweepResult, type SweptSession } from './sweep.js';
export { continuity, describeTakeover, type Continuity, type SessionSpan, type Takeover } from './continuity.js';
export { type DerivedCopies, type DerivedSweepResult } from './sweep-derived.js';
