import { LivemaskError } from '../core/index.js';

/**
 * Retention: which sessions a sweep deletes. Pure: the times come in, the
 * verdicts go out (the I/O is in sweep.ts).
 *
 * The rule. A session's age counts from a reference time:
 * - a sealed session (it has a manifest): its end (`endedAt`), else its
 *   start (`startedAt`), else the newest mtime of its files;
 * - an open session (no manifest: still recording, or left by a crash and
 *   not yet recovered): its last write, i.e. the later of its start and the
 *   newest mtime of its files, so that a session still being written is
 *   never old.
 * A session is expired when its age is more than `retentionDays` days
 * (`now - reference > retentionDays * 86 400 000 ms`). An expired session is
 * deleted unless its room is held. A session with no usable time at all is
 * kept.
 */

export const DAY_MS = 86_400_000;

/** What the decision needs to know about a session. */
export interface SessionTimes {
  room: string;
  sessionId: string;
  /** True when the session has a manifest (sealed, or sealed by recovery). */
  sealed: boolean;
  /** ISO times from the manifest, or for an open session the start from its log. */
  startedAt?: string | undefined;
  endedAt?: string | undefined;
  /** The newest mtime (ms) of the session's files. */
  newestMtimeMs?: number | undefined;
}

/** Which time a session's age counts from. */
export type RetentionBasis = 'ended' | 'started' | 'modified';

export type RetentionOutcome =
  /** Expired and not held: the sweep deletes it. */
  | 'delete'
  /** Expired, but its room is held. */
  | 'held'
  /** Not expired. */
  | 'retained'
  /** No usable time: never deleted. */
  | 'no-age';

export interface RetentionVerdict<T extends SessionTimes = SessionTimes> {
  session: T;
  outcome: RetentionOutcome;
  /** Absent for `no-age`. */
  basis?: RetentionBasis;
  referenceMs?: number;
  ageMs?: number;
}

/** The time a session's age counts from, and which one it is; undefined when there is none. */
export function retentionReference(s: SessionTimes): { basis: RetentionBasis; ms: number } | undefined {
  const ended = isoMs(s.endedAt);
  const started = isoMs(s.startedAt);
  const modified = s.newestMtimeMs !== undefined && Number.isFinite(s.newestMtimeMs) ? s.newestMtimeMs : undefined;
  if (s.sealed) {
    if (ended !== undefined) {
      return { basis: 'ended', ms: ended };
    }
    if (started !== undefined) {
      return { basis: 'started', ms: started };
    }
    return modified !== undefined ? { basis: 'modified', ms: modified } : undefined;
  }
  if (started !== undefined && (modified === undefined || started >= modified)) {
    return { basis: 'started', ms: started };
  }
  return modified !== undefined ? { basis: 'modified', ms: modified } : undefined;
}

/** The verdict on each session, in input order. `heldRooms` holds the rooms on hold. */
export function judgeSessions<T extends SessionTimes>(
  sessions: readonly T[],
  heldRooms: ReadonlySet<string>,
  now: Date,
  retentionDays: number,
): RetentionVerdict<T>[] {
  checkRetentionDays(retentionDays);
  const limitMs = retentionDays * DAY_MS;
  return sessions.map((session) => {
    const ref = retentionReference(session);
    if (!ref) {
      return { session, outcome: 'no-age' };
    }
    const ageMs = now.getTime() - ref.ms;
    const outcome: RetentionOutcome = ageMs <= limitMs ? 'retained' : heldRooms.has(session.room) ? 'held' : 'delete';
    return { session, outcome, basis: ref.basis, referenceMs: ref.ms, ageMs };
  });
}

/** The sessions a sweep at `now` deletes: expired, and their room not held. */
export function expiredSessions<T extends SessionTimes>(sessions: readonly T[], heldRooms: ReadonlySet<string>, now: Date, retentionDays: number): T[] {
  return judgeSessions(sessions, heldRooms, now, retentionDays).filter((v) => v.outcome === 'delete').map((v) => v.session);
}

/** Throws BAD_USAGE unless `days` is a whole number, at least 1. */
export function checkRetentionDays(days: number): void {
  if (!Number.isInteger(days) || days < 1) {
    throw new LivemaskError('BAD_USAGE', `retention must be a whole number of days, at least 1 (got ${days})`);
  }
}

function isoMs(iso: string | undefined): number | undefined {
  if (iso === undefined) {
    return undefined;
  }
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}
