import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError, type Logger } from '../core/index.js';
import { clipExtension, remuxClip } from './export-clip.js';
import { planClip, segmentWallTimes, type TimedSegment } from './export-plan.js';
import type { ChainEntry } from './hash-chain.js';
import { checkId, isFile, type SessionRef } from './layout.js';
import { EVENT, type Manifest } from './manifest.js';

/**
 * What the replay page plays: one WebM per participant with its recorded
 * video and audio (the export's clip machinery, limited to one
 * participant: the sealed segments joined with `-c copy`, never
 * re-encoded, and checked packet by packet against the segments), and where
 * it starts on the session's clock. Built on first request into a cache
 * outside the evidence root (it is derived, and can be deleted).
 */

export interface ReplayTrackInfo {
  participant: string;
  /** The kinds recorded for this participant, video first. */
  tracks: ('video' | 'audio')[];
  /** Where the participant's media (its time 0) falls, in ms after the session started. */
  offsetMs: number;
}

function sessionStartMs(manifest: Manifest, entries: readonly ChainEntry[]): number {
  return Date.parse(manifest.startedAt ?? entries.find((e) => e.type === EVENT.sessionStarted)?.at ?? entries[0]?.at ?? '');
}

function participantSegments(entries: readonly ChainEntry[], participant: string): TimedSegment[] {
  return segmentWallTimes(entries).filter((t) => t.segment.participant === participant);
}

/** Where each participant's recorded media starts on the session clock (ms after its start). Pure. */
export function replayTracks(manifest: Manifest, entries: readonly ChainEntry[]): ReplayTrackInfo[] {
  const t0 = sessionStartMs(manifest, entries);
  const out: ReplayTrackInfo[] = [];
  for (const participant of manifest.participants) {
    const timed = participantSegments(entries, participant);
    if (timed.length === 0) {
      continue;
    }
    const kinds = (['video', 'audio'] as const).filter((k) => timed.some((t) => t.segment.kind === k));
    out.push({ participant, tracks: [...kinds], offsetMs: Math.round(Math.min(...timed.map((t) => t.startMs)) - t0) });
  }
  return out;
}

export interface ReplayMediaOptions {
  ref: SessionRef;
  manifest: Manifest;
  /** The session's event log (the segments' wall-clock times). */
  entries: readonly ChainEntry[];
  participant: string;
  /** Where derived files are kept, e.g. `<data>/replay-cache`. */
  cacheDir: string;
  signal?: AbortSignal;
  logger?: Logger;
}

/** The path of the participant's replay WebM (Matroska for H.264), built on first use from the sealed segments. */
export async function replayMedia(options: ReplayMediaOptions): Promise<string> {
  const { ref, manifest, entries, participant } = options;
  checkId('participant', participant);
  const timed = participantSegments(entries, participant);
  if (timed.length === 0) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no recorded media of ${participant} in session ${ref.sessionId}`);
  }
  // Named by the signed chain head: a different (re-sealed) session never reuses a stale file.
  const dir = join(options.cacheDir, ref.room, ref.sessionId);
  const tracks = planClip([{ sessionId: ref.sessionId, entries, covering: timed }]);
  const ext = clipExtension(tracks);
  const out = join(dir, `${participant}-${manifest.chain.head.slice(0, 16)}.${ext}`);
  if (await isFile(out)) {
    return out;
  }
  const work = join(dir, `.${participant}-${process.pid}-${Date.now()}`);
  await mkdir(work, { recursive: true });
  try {
    const temp = join(work, `out.${ext}`);
    await remuxClip({
      tracks,
      sessionDir: () => ref.dir,
      out: temp,
      workDir: work,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    await rename(temp, out);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
