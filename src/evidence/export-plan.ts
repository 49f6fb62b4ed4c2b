import { LivemaskError } from '../core/index.js';
import type { ChainEntry } from './hash-chain.js';
import { EVENT, segmentRecords, type SegmentRecord } from './manifest.js';

/**
 * What an export holds, decided from a session's verified event log alone:
 * where each segment falls on the wall clock, which segments cover a time
 * range, the timeline of the range and how the clip is stitched. Pure, so
 * that the exporter and the bundle verifier decide the same thing.
 */

/** A segment and where it falls on the wall clock (ms since the epoch). */
export interface TimedSegment {
  segment: SegmentRecord;
  startMs: number;
  endMs: number;
  /**
   * `recorded`: from the segment's `startAt`/`endAt`. `estimated`: the
   * segment has none (sealed by an older recorder, or by crash recovery),
   * so its track's `track-added` time (else the session's start) plus the
   * track time of its first and last frame; the track clock starts at its
   * first packet, a moment after `track-added`.
   */
  clock: 'recorded' | 'estimated';
}

/** One event of an export's timeline: an entry of a session's chain, with its hash to find it there. */
export interface TimelineEvent {
  session: string;
  seq: number;
  at: string;
  type: string;
  data: Record<string, unknown>;
  hash: string;
}

/** One stream of the clip: a track's covering segments, concatenated. */
export interface ClipTrack {
  session: string;
  participant: string;
  kind: 'video' | 'audio';
  codec: string;
  /** Paths relative to the session directory, in order. */
  segments: string[];
  /** Per segment but the last: ms from its first frame to the next one's, on the track clock. */
  durationsMs: number[];
  /** Where the stream starts in the clip: ms after the earliest track's first frame. */
  offsetMs: number;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))$/;

/**
 * An ISO 8601 date and time with a `Z` or an offset (`2024-05-01T10:00:00Z`,
 * `2024-05-01T12:00+02:00`), as epoch ms; BAD_USAGE naming `what` otherwise.
 */
export function parseIsoTime(what: string, text: string): number {
  const m = ISO_RE.exec(text.trim());
  const n = (i: number): number => Number(m?.[i] ?? 0);
  const ms = Date.parse(text.trim());
  const valid = m !== null && Number.isFinite(ms) && n(2) >= 1 && n(2) <= 12 &&
    n(3) >= 1 && n(3) <= new Date(Date.UTC(n(1), n(2), 0)).getUTCDate() &&
    n(4) <= 23 && n(5) <= 59 && n(6) <= 59 && n(8) <= 23 && n(9) <= 59;
  if (!valid) {
    throw new LivemaskError('BAD_USAGE', `${what} must be an ISO 8601 time with a Z or an offset, e.g. 2024-05-01T10:00:00Z; got ${JSON.stringify(text)}`);
  }
  return ms;
}

/** The time range of an export, checked: both valid ISO times and `from` before `to`. */
export function parseRange(from: string, to: string): { fromMs: number; toMs: number } {
  const fromMs = parseIsoTime('--from', from);
  const toMs = parseIsoTime('--to', to);
  if (fromMs >= toMs) {
    throw new LivemaskError('BAD_USAGE', `--from (${new Date(fromMs).toISOString()}) must be before --to (${new Date(toMs).toISOString()})`);
  }
  return { fromMs, toMs };
}

function isoMs(value: unknown): number | undefined {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/** Every sealed segment of a session's log, with its wall-clock span. */
export function segmentWallTimes(entries: readonly ChainEntry[]): TimedSegment[] {
  const sessionStart = isoMs(entries.find((e) => e.type === EVENT.sessionStarted)?.at) ?? isoMs(entries[0]?.at) ?? 0;
  const origins = new Map<string, number>();
  const out: TimedSegment[] = [];
  for (const e of entries) {
    if (e.type === EVENT.trackAdded) {
      origins.set(`${String(e.data.participant)}/${String(e.data.kind)}`, isoMs(e.at) ?? sessionStart);
      continue;
    }
    if (e.type !== EVENT.segmentSealed) {
      continue;
    }
    const [segment] = segmentRecords([e]);
    if (!segment) {
      continue;
    }
    const startAt = isoMs(segment.startAt);
    const endAt = isoMs(segment.endAt);
    if (startAt !== undefined && endAt !== undefined) {
      out.push({ segment, startMs: startAt, endMs: Math.max(startAt, endAt), clock: 'recorded' });
    } else {
      const origin = origins.get(`${segment.participant}/${segment.kind}`) ?? sessionStart;
      out.push({ segment, startMs: origin + segment.firstMs, endMs: origin + Math.max(segment.firstMs, segment.lastMs), clock: 'estimated' });
    }
  }
  return out;
}

/** The segments with a frame in `[fromMs, toMs)`: those from the first frame to the last overlap the range. */
export function coveringSegments(timed: readonly TimedSegment[], fromMs: number, toMs: number): TimedSegment[] {
  return timed.filter((t) => t.startMs < toMs && t.endMs >= fromMs);
}

/** The session's events whose time falls in `[fromMs, toMs)`. */
export function timelineFor(session: string, entries: readonly ChainEntry[], fromMs: number, toMs: number): TimelineEvent[] {
  return entries
    .filter((e) => {
      const at = isoMs(e.at);
      return at !== undefined && at >= fromMs && at < toMs;
    })
    .map((e) => ({ session, seq: e.seq, at: e.at, type: e.type, data: e.data, hash: e.hash }));
}

/** The codec each participant's track was added with. */
function trackCodecs(entries: readonly ChainEntry[]): Map<string, string> {
  const codecs = new Map<string, string>();
  for (const e of entries) {
    if (e.type === EVENT.trackAdded) {
      codecs.set(`${String(e.data.participant)}/${String(e.data.kind)}`, String(e.data.codec));
    }
  }
  return codecs;
}

/**
 * The clip's streams: one per session, participant and kind, each the
 * track's covering segments in order, offset so that the streams keep their
 * wall-clock distance. Video streams come first, then audio; each in
 * session order, then by participant.
 */
export function planClip(sessions: readonly { sessionId: string; entries: readonly ChainEntry[]; covering: readonly TimedSegment[] }[]): ClipTrack[] {
  const groups: { track: Omit<ClipTrack, 'offsetMs' | 'durationsMs'>; timed: TimedSegment[] }[] = [];
  for (const s of sessions) {
    const codecs = trackCodecs(s.entries);
    for (const t of s.covering) {
      const { participant, kind } = t.segment;
      let group = groups.find((g) => g.track.session === s.sessionId && g.track.participant === participant && g.track.kind === kind);
      if (!group) {
        const codec = codecs.get(`${participant}/${kind}`) ?? (kind === 'video' ? 'vp8' : 'opus');
        group = { track: { session: s.sessionId, participant, kind, codec, segments: [] }, timed: [] };
        groups.push(group);
      }
      group.timed.push(t);
    }
  }
  const sessionOrder = new Map(sessions.map((s, i) => [s.sessionId, i]));
  const earliest = Math.min(...groups.flatMap((g) => g.timed.map((t) => t.startMs)));
  const tracks = groups.map(({ track, timed }) => {
    const ordered = [...timed].sort((a, b) => a.segment.index - b.segment.index);
    return {
      ...track,
      segments: ordered.map((t) => t.segment.path),
      durationsMs: ordered.slice(0, -1).map((t, i) => concatDuration(t, ordered[i + 1] ?? t)),
      offsetMs: Math.round(Math.min(...ordered.map((t) => t.startMs)) - earliest),
    };
  });
  const order = (t: ClipTrack): string => `${t.kind === 'video' ? 0 : 1}/${String(sessionOrder.get(t.session) ?? 0).padStart(6, '0')}/${t.participant}`;
  return tracks.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

/**
 * How long a segment lasts in the concatenation: up to the next one's first
 * frame on the track clock (as the WebM stores it, in whole ms), so the
 * concatenated stream keeps the recorded timestamps. A re-published track
 * restarts its clock; the wall clock spaces those.
 */
function concatDuration(t: TimedSegment, next: TimedSegment): number {
  const first = Math.round(t.segment.firstMs);
  const last = Math.round(t.segment.lastMs);
  const nextFirst = Math.round(next.segment.firstMs);
  if (nextFirst > last) {
    return nextFirst - first;
  }
  return Math.max(last - first + 1, Math.round(next.startMs - t.startMs));
}
