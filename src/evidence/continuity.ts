import { segmentWallTimes } from './export-plan.js';
import { EVENT } from './manifest.js';
import type { SignedSession } from './verify.js';

/**
 * How a room's sessions follow each other: which worker recorded each, when
 * its media started and stopped, and, for each fleet takeover a session logs
 * (`room:failover` or `room:handover`), the session it continues and the gap
 * in the recording between the two. Built from verified sessions only. Pure.
 */

export interface SessionSpan {
  sessionId: string;
  /** The worker that recorded it, from `session-started` (absent in sessions recorded before this was logged). */
  workerId?: string;
  startedAt?: string;
  endedAt?: string;
  recovered: boolean;
  /** Wall-clock times of the first and last recorded frame of any track; absent when nothing was recorded. */
  firstMediaAt?: string;
  lastMediaAt?: string;
}

export interface Takeover {
  type: 'failover' | 'handover';
  /** The session that logs the takeover (recorded by the new holder). */
  sessionId: string;
  fromWorker: string;
  toWorker: string;
  /** When the new holder took the room. */
  at: string;
  /** The latest session recorded by `fromWorker` before this one; absent when it is not under this evidence root. */
  previousSessionId?: string;
  /** From the previous session's last recorded frame to this session's first: nothing was recorded in between. */
  gapMs?: number;
}

export interface Continuity {
  sessions: SessionSpan[];
  takeovers: Takeover[];
}

export function continuity(sessions: readonly { sessionId: string; session: SignedSession }[]): Continuity {
  const spans = sessions.map(({ sessionId, session }) => spanOf(sessionId, session)).sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
  const takeovers: Takeover[] = [];
  for (const { sessionId, session } of sessions) {
    const span = spans.find((s) => s.sessionId === sessionId);
    for (const e of session.entries) {
      if (e.type !== 'room:failover' && e.type !== 'room:handover') {
        continue;
      }
      const fromWorker = String(e.data.fromWorker);
      const at = typeof e.data.roomAt === 'string' ? e.data.roomAt : e.at;
      const previous = spans.filter((s) => s.workerId === fromWorker && s.sessionId !== sessionId && (s.startedAt ?? '') <= (span?.startedAt ?? '')).at(-1);
      const gapMs = previous?.lastMediaAt !== undefined && span?.firstMediaAt !== undefined
        ? Math.max(0, Date.parse(span.firstMediaAt) - Date.parse(previous.lastMediaAt))
        : undefined;
      takeovers.push({
        type: e.type === 'room:failover' ? 'failover' : 'handover',
        sessionId,
        fromWorker,
        toWorker: String(e.data.toWorker),
        at,
        ...(previous ? { previousSessionId: previous.sessionId } : {}),
        ...(gapMs !== undefined ? { gapMs } : {}),
      });
    }
  }
  return { sessions: spans, takeovers };
}

function spanOf(sessionId: string, session: SignedSession): SessionSpan {
  const started = session.entries.find((e) => e.type === EVENT.sessionStarted);
  const timed = segmentWallTimes(session.entries);
  const first = timed.length > 0 ? Math.min(...timed.map((t) => t.startMs)) : undefined;
  const last = timed.length > 0 ? Math.max(...timed.map((t) => t.endMs)) : undefined;
  const workerId = started?.data.workerId;
  return {
    sessionId,
    ...(typeof workerId === 'string' ? { workerId } : {}),
    ...(session.manifest.startedAt !== undefined ? { startedAt: session.manifest.startedAt } : {}),
    ...(session.manifest.endedAt !== undefined ? { endedAt: session.manifest.endedAt } : {}),
    recovered: session.manifest.recovered,
    ...(first !== undefined ? { firstMediaAt: new Date(first).toISOString() } : {}),
    ...(last !== undefined ? { lastMediaAt: new Date(last).toISOString() } : {}),
  };
}

/** One line per takeover, for people: what happened and the gap it left. */
export function describeTakeover(t: Takeover): string {
  const gap = t.gapMs !== undefined ? `${(t.gapMs / 1000).toFixed(1)} s not recorded` : 'gap unknown';
  const previous = t.previousSessionId !== undefined ? `session ${t.previousSessionId}` : `no session of ${t.fromWorker} under this evidence root (fetch it: livemask evidence fetch)`;
  return `${t.type} at ${t.at}: ${t.fromWorker} -> ${t.toWorker}, continues ${previous} in session ${t.sessionId}; ${gap}`;
}
