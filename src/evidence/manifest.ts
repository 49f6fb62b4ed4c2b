import type { ChainEntry } from './hash-chain.js';

/**
 * The final manifest of a session, built from its event log alone (so the
 * recorder and crash recovery write the same thing). Pure.
 */

export interface SegmentRecord {
  /** Relative to the session directory, e.g. `alice/video-000001.webm`. */
  path: string;
  participant: string;
  kind: 'video' | 'audio';
  index: number;
  sha256: string;
  bytes: number;
  frames: number;
  /** Track time (ms) of the first and last frame. */
  firstMs: number;
  lastMs: number;
  /** First and last RTP timestamps (90 kHz video, 48 kHz audio), when recorded live. */
  firstTimestamp?: number;
  lastTimestamp?: number;
  /**
   * Wall-clock ISO times of the first and last frame (video: the frame's
   * arrival; audio: its arrival, else the clock when it was pushed). Absent
   * from segments sealed before these were recorded and from segments
   * sealed by crash recovery: see `segmentWallTimes` for the fallback.
   */
  startAt?: string;
  endAt?: string;
  /** Sealed by crash recovery, from an open segment. */
  recovered?: boolean;
}

export interface TrackRecord {
  participant: string;
  kind: 'video' | 'audio';
  codec: string;
  segments: number;
}

export interface Manifest {
  version: 1;
  room: string;
  sessionId: string;
  startedAt: string | undefined;
  endedAt: string | undefined;
  recovered: boolean;
  participants: string[];
  tracks: TrackRecord[];
  segments: SegmentRecord[];
  chain: { count: number; head: string };
}

/** Event types the recorder itself writes. */
export const EVENT = {
  sessionStarted: 'session-started',
  sessionEnded: 'session-ended',
  sessionRecovered: 'session-recovered',
  trackAdded: 'track-added',
  segmentSealed: 'segment-sealed',
  segmentDiscarded: 'segment-discarded',
  evidenceError: 'evidence-error',
} as const;

export function segmentRecords(entries: readonly ChainEntry[]): SegmentRecord[] {
  return entries.filter((e) => e.type === EVENT.segmentSealed).map((e) => e.data as unknown as SegmentRecord);
}

export function buildManifest(room: string, sessionId: string, entries: readonly ChainEntry[]): Manifest {
  const segments = segmentRecords(entries);
  const participants = new Set<string>();
  const tracks = new Map<string, TrackRecord>();
  for (const e of entries) {
    const p = e.data.participant;
    if (typeof p === 'string') {
      participants.add(p);
    }
    if (e.type === EVENT.trackAdded && typeof p === 'string') {
      const kind = e.data.kind === 'audio' ? 'audio' : 'video';
      tracks.set(`${p}/${kind}`, { participant: p, kind, codec: String(e.data.codec), segments: 0 });
    }
  }
  for (const s of segments) {
    const t = tracks.get(`${s.participant}/${s.kind}`);
    if (t) {
      t.segments += 1;
    }
  }
  const last = entries.at(-1);
  return {
    version: 1,
    room,
    sessionId,
    startedAt: entries.find((e) => e.type === EVENT.sessionStarted)?.at,
    endedAt: entries.findLast((e) => e.type === EVENT.sessionEnded)?.at,
    recovered: entries.some((e) => e.type === EVENT.sessionRecovered),
    participants: [...participants].sort(),
    tracks: [...tracks.values()],
    segments,
    chain: { count: entries.length, head: last?.hash ?? '' },
  };
}

/** The manifest as written to `manifest.json` (and signed). */
export function manifestBytes(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
}
