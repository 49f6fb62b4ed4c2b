/**
 * livemask's error classes. Each has a stable `code` that tests and callers
 * match on, a `name`, and keeps its `cause`.
 */
export type LivemaskErrorCode =
  | 'FFMPEG_MISSING'
  | 'FFMPEG_TOO_OLD'
  | 'FFMPEG_FAILED'
  | 'INPUT_UNREADABLE'
  | 'MODEL_MISSING'
  | 'MODEL_MISMATCH'
  | 'DETECTOR_FAILED'
  | 'BAD_USAGE'
  | 'ABORTED'
  | 'CLOSED'
  | 'CONFIG_INVALID'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'BAD_REQUEST'
  | 'REDIS_UNAVAILABLE'
  | 'EVIDENCE_IO'
  | 'EVIDENCE_NOT_FOUND'
  | 'EVIDENCE_KEY'
  | 'EVIDENCE_BAD_ID'
  | 'EVIDENCE_INVALID'
  | 'EVIDENCE_NOT_HELD'
  | 'STORE_NOT_FOUND'
  | 'STORE_BAD_KEY'
  | 'STORE_CONFLICT'
  | 'STORE_INTEGRITY'
  | 'STORE_IO'
  | 'ROOM_START_TIMEOUT'
  | 'ROOM_FAILED'
  | 'ROOM_NOT_HELD'
  | 'COMMAND_TIMEOUT'
  | 'COMMAND_FAILED'
  | 'EVENTS_OVERFLOW';

export class LivemaskError extends Error {
  readonly code: LivemaskErrorCode;

  constructor(code: LivemaskErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LivemaskError';
    this.code = code;
  }
}

/** ffmpeg could not be found, is too old, or a process of it failed. */
export class MediaError extends LivemaskError {
  /** The last lines ffmpeg wrote to stderr, when it ran. */
  readonly stderrTail: readonly string[];

  constructor(
    code: Extract<LivemaskErrorCode, 'FFMPEG_MISSING' | 'FFMPEG_TOO_OLD' | 'FFMPEG_FAILED' | 'INPUT_UNREADABLE'>,
    message: string,
    options?: { cause?: unknown; stderrTail?: readonly string[] },
  ) {
    super(code, message, options);
    this.name = 'MediaError';
    this.stderrTail = options?.stderrTail ?? [];
  }
}

/** The face detector could not load its models or failed to run. */
export class DetectorError extends LivemaskError {
  constructor(
    code: Extract<LivemaskErrorCode, 'MODEL_MISSING' | 'MODEL_MISMATCH' | 'DETECTOR_FAILED'>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'DetectorError';
  }
}

/** Work was aborted through an AbortSignal or because its owner closed. */
export class AbortedError extends LivemaskError {
  constructor(message = 'aborted', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
    this.name = 'AbortedError';
  }
}

/**
 * A request's bearer token was refused: `UNAUTHORIZED` (401) when it is
 * missing, malformed, forged or expired; `FORBIDDEN` (403) when it is valid
 * but not for this room or this endpoint. The message is safe to send to the
 * client: it never holds the token or its claims.
 */
export class AuthError extends LivemaskError {
  declare readonly code: 'UNAUTHORIZED' | 'FORBIDDEN';

  constructor(code: Extract<LivemaskErrorCode, 'UNAUTHORIZED' | 'FORBIDDEN'>, message: string) {
    super(code, message);
    this.name = 'AuthError';
  }

  get status(): 401 | 403 {
    return this.code === 'UNAUTHORIZED' ? 401 : 403;
  }
}

/**
 * The evidence recorder or archive failed: `EVIDENCE_IO` (a write or fsync
 * failed, e.g. a full disk), `EVIDENCE_NOT_FOUND` (no such room or session),
 * `EVIDENCE_KEY` (no usable signing or verification key), `EVIDENCE_BAD_ID`
 * (a room, session or participant id that cannot name a directory),
 * `EVIDENCE_INVALID` (evidence that does not verify, refused for export),
 * `EVIDENCE_NOT_HELD` (a release of a room that is not on hold).
 */
export class EvidenceError extends LivemaskError {
  constructor(
    code: Extract<LivemaskErrorCode, 'EVIDENCE_IO' | 'EVIDENCE_NOT_FOUND' | 'EVIDENCE_KEY' | 'EVIDENCE_BAD_ID' | 'EVIDENCE_INVALID' | 'EVIDENCE_NOT_HELD' | 'CLOSED'>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'EvidenceError';
  }
}

/**
 * The evidence store (src/storage/) refused or failed: `STORE_NOT_FOUND` (no
 * object at that key), `STORE_BAD_KEY` (a key that is not
 * `<room>/<session>/[<participant>/]<file>`), `STORE_CONFLICT` (the key holds
 * other bytes: sealed evidence is never replaced), `STORE_INTEGRITY` (bytes
 * read back differ from the sealed SHA-256), `STORE_IO` (the disk or the S3
 * server failed), `CLOSED` (the store was closed). Messages never hold
 * credentials.
 */
export class StoreError extends LivemaskError {
  constructor(
    code: Extract<LivemaskErrorCode, 'STORE_NOT_FOUND' | 'STORE_BAD_KEY' | 'STORE_CONFLICT' | 'STORE_INTEGRITY' | 'STORE_IO' | 'CLOSED'>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'StoreError';
  }
}
