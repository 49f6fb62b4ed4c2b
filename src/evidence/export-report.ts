import type { ClipTrack, TimedSegment } from './export-plan.js';
import type { VerifyCounts } from './verify.js';

/**
 * The files of an export bundle that describe it: `bundle.json` (what the
 * bundle holds, read by `verifyBundle`) and the verification report
 * (`report.json`, and `report.txt` for people). Pure.
 *
 *     <bundle>/bundle.json                      this index
 *     <bundle>/report.json, report.txt          what was verified at export time
 *     <bundle>/timeline.json                    the events of the range
 *     <bundle>/clip.webm                        the covering segments remuxed, every track (clip.mkv with H.264)
 *     <bundle>/<room>/<session>/manifest.json   the session's signed files, as recorded:
 *     <bundle>/<room>/<session>/manifest.sig      manifest, signature, checkpoints and
 *     <bundle>/<room>/<session>/checkpoints.jsonl the whole event log
 *     <bundle>/<room>/<session>/events.jsonl
 *     <bundle>/<room>/<session>/<participant>/video-000002.webm   the covering segments, byte for byte
 */

export const BUNDLE_FILES = {
  index: 'bundle.json',
  report: 'report.json',
  reportText: 'report.txt',
  timeline: 'timeline.json',
  clip: 'clip.webm',
  /** The clip when a track is H.264. */
  clipMatroska: 'clip.mkv',
} as const;

export const BUNDLE_FORMAT = 'livemask-evidence-bundle';

/** `bundle.json`. */
export interface BundleIndex {
  format: typeof BUNDLE_FORMAT;
  version: 1;
  room: string;
  /** The exported range, `[from, to)`, as ISO times in UTC. */
  from: string;
  to: string;
  exportedAt: string;
  /** Each session in the bundle and the segment paths (relative to its directory) it includes: exactly those covering the range. */
  sessions: { sessionId: string; segments: string[] }[];
  clip: { path: string; sha256: string; bytes: number; tracks: ClipTrack[] };
  timeline: string;
}

/** The timeline file. */
export interface BundleTimeline {
  room: string;
  from: string;
  to: string;
  events: { session: string; seq: number; at: string; type: string; data: Record<string, unknown>; hash: string }[];
}

export interface ReportSegment {
  session: string;
  path: string;
  sha256: string;
  bytes: number;
  frames: number;
  startAt: string;
  endAt: string;
  clock: TimedSegment['clock'];
}

export interface ReportSession {
  sessionId: string;
  startedAt: string | undefined;
  endedAt: string | undefined;
  recovered: boolean;
  chainHead: string;
  counts: VerifyCounts;
}

/** `report.json`: what was verified when the bundle was made. */
export interface ExportReport {
  format: 'livemask-evidence-export-report';
  version: 1;
  room: string;
  from: string;
  to: string;
  exportedAt: string;
  actor: string;
  reason: string;
  /** SHA-256 of the DER (SPKI) of the public key everything was verified with. */
  publicKeySha256: string;
  /** The source sessions in the evidence root, verified in full before anything was copied. */
  source: { intact: true; sessions: ReportSession[] };
  /** The bundle as written, verified as `livemask evidence verify --bundle` does. */
  bundle: { intact: true; counts: VerifyCounts; segments: ReportSegment[] };
  /** The clip: remuxed without re-encoding; each stream's packets were compared with the segments' frames. */
  clip: {
    path: string;
    sha256: string;
    bytes: number;
    remux: string;
    tracks: (ClipTrack & { stream: number; packets: number; packetsIdentical: true })[];
  };
  timeline: { path: string; events: number };
  notes: string[];
}

export const REPORT_NOTES = [
  'The segments are the evidence: byte-identical copies of the sealed originals, each checked against the SHA-256 in the signed event log.',
  'The clip is derived from them for viewing (ffmpeg concat demuxer, -c copy: no re-encode); it is not signed itself.',
  'The bundle proves its sessions authentic and complete over the range; it cannot show sessions of the room that it does not include.',
  'Check the bundle with: livemask evidence verify --bundle <dir> (needs only the public key, in LIVEMASK_EVIDENCE_PUBLIC_KEY).',
];

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The human-readable report. */
export function reportText(r: ExportReport): string {
  const lines = [
    'livemask evidence export: verification report',
    '',
    `room:          ${r.room}`,
    `range:         ${r.from} .. ${r.to}`,
    `exported at:   ${r.exportedAt}`,
    `exported by:   ${r.actor}`,
    `reason:        ${r.reason}`,
    `public key:    sha256 ${r.publicKeySha256}`,
    '',
    'Verified before export (the evidence root):',
    ...r.source.sessions.map((s) =>
      `  session ${s.sessionId}: intact; manifest and ${plural(s.counts.checkpoints, 'checkpoint')} signed, ` +
      `${plural(s.counts.events, 'event')} chained to head ${s.chainHead.slice(0, 16)}, ` +
      `${plural(s.counts.segments, 'segment')} (${s.counts.bytes} bytes) match their sealed SHA-256` +
      `${s.recovered ? ' (sealed by crash recovery)' : ''}`),
    '',
    `Verified after export (this bundle): intact; ${plural(r.bundle.counts.sessions, 'session')}, ` +
      `${plural(r.bundle.counts.segments, 'segment')} (${r.bundle.counts.bytes} bytes), exactly those covering the range:`,
    ...r.bundle.segments.map((s) => `  ${s.session}/${s.path}  ${s.startAt} .. ${s.endAt}${s.clock === 'estimated' ? ' (time estimated)' : ''}  sha256 ${s.sha256}`),
    '',
    `Clip ${r.clip.path} (sha256 ${r.clip.sha256}, ${r.clip.bytes} bytes), ${r.clip.remux}:`,
    ...r.clip.tracks.map((t) =>
      `  stream ${t.stream}: ${t.session}/${t.participant} ${t.kind} (${t.codec}), ${plural(t.segments.length, 'segment')}, ` +
      `${plural(t.packets, 'packet')} identical to the segments' frames, starts at +${(t.offsetMs / 1000).toFixed(3)} s`),
    '',
    `Timeline ${r.timeline.path}: ${plural(r.timeline.events, 'event')} in the range.`,
    '',
    ...r.notes.map((n) => `- ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}
