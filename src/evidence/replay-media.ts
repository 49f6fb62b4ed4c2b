import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError, MediaError } from '../core/index.js';
import { resolveFfmpegPath, runTool, stderrReason } from '../media/index.js';
import type { ChainEntry } from './hash-chain.js';
import { checkId, isFile, type SessionRef } from './layout.js';
import { EVENT, type Manifest, type SegmentRecord } from './manifest.js';
import { vp8KeyframeSize, webmFrame, webmFrames, webmHeader, type TrackSpec, type WebmFrame } from './webm.js';

/**
 * What the replay page plays: one WebM per participant with its recorded
 * video and audio, remuxed from the sealed segments without re-encoding,
 * and where it starts on the session's clock. Built on first request into a
 * cache outside the evidence root (it is derived, and can be deleted).
 */

export interface ReplayTrackInfo {
  participant: string;
  /** The kinds recorded for this participant, video first. */
  tracks: ('video' | 'audio')[];
  /** Where the media's time 0 falls, in ms after the session started. */
  offsetMs: number;
}

/** A frame of a participant's track, on the session's clock. */
interface SessionFrame extends WebmFrame {
  sessionMs: number;
}

/**
 * Wall-clock ms of each segment's track time 0: the `track-added` entry of
 * its participant and kind that precedes its `segment-sealed` entry (a
 * re-publish adds the track again and restarts its clock). The track's
 * clock starts at its first packet, a moment after the entry.
 */
function segmentOrigins(entries: readonly ChainEntry[]): Map<string, number> {
  const added = new Map<string, number>();
  const origins = new Map<string, number>();
  for (const e of entries) {
    const key = `${String(e.data.participant)}/${String(e.data.kind)}`;
    if (e.type === EVENT.trackAdded) {
      added.set(key, Date.parse(e.at));
    } else if (e.type === EVENT.segmentSealed) {
      const origin = added.get(key);
      if (origin !== undefined && typeof e.data.path === 'string') {
        origins.set(e.data.path, origin);
      }
    }
  }
  return origins;
}

function sessionStartMs(manifest: Manifest, entries: readonly ChainEntry[]): number {
  return Date.parse(manifest.startedAt ?? entries[0]?.at ?? '');
}

/** A participant's segments of one kind, in order. */
function trackSegments(manifest: Manifest, participant: string, kind: 'video' | 'audio'): SegmentRecord[] {
  return manifest.segments.filter((s) => s.participant === participant && s.kind === kind).sort((a, b) => a.index - b.index);
}

/** Where each participant's recorded media starts on the session clock (ms after its start). Pure. */
export function replayTracks(manifest: Manifest, entries: readonly ChainEntry[]): ReplayTrackInfo[] {
  const t0 = sessionStartMs(manifest, entries);
  const origins = segmentOrigins(entries);
  const out: ReplayTrackInfo[] = [];
  for (const participant of manifest.participants) {
    const firsts = (['video', 'audio'] as const)
      .map((kind) => ({ kind, first: trackSegments(manifest, participant, kind)[0] }))
      .filter((t): t is { kind: 'video' | 'audio'; first: SegmentRecord } => t.first !== undefined);
    if (firsts.length === 0) {
      continue;
    }
    const starts = firsts.map(({ first }) => (origins.get(first.path) ?? t0) + first.firstMs - t0);
    out.push({ participant, tracks: firsts.map((t) => t.kind), offsetMs: Math.round(Math.min(...starts)) });
  }
  return out;
}

export interface ReplayMediaOptions {
  ref: SessionRef;
  manifest: Manifest;
  /** The session's event log (for the track origins). */
  entries: readonly ChainEntry[];
  participant: string;
  /** Where derived files are kept, e.g. `<data>/replay-cache`. */
  cacheDir: string;
  signal?: AbortSignal;
}

/** The path of the participant's replay WebM, built on first use from the sealed segments. */
export async function replayMedia(options: ReplayMediaOptions): Promise<string> {
  const { ref, manifest, participant } = options;
  checkId('participant', participant);
  const segments = manifest.segments.filter((s) => s.participant === participant);
  if (segments.length === 0) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no recorded media of ${participant} in session ${ref.sessionId}`);
  }
  // Named by the signed chain head: a different (re-sealed) session never reuses a stale file.
  const dir = join(options.cacheDir, ref.room, ref.sessionId);
  const out = join(dir, `${participant}-${manifest.chain.head.slice(0, 16)}.webm`);
  if (await isFile(out)) {
    return out;
  }
  await mkdir(dir, { recursive: true });
  const work = join(dir, `.${participant}-${process.pid}-${Date.now()}`);
  await mkdir(work, { recursive: true });
  try {
    const t0 = sessionStartMs(manifest, options.entries);
    const origins = segmentOrigins(options.entries);
    const offsetMs = replayTracks(manifest, options.entries).find((t) => t.participant === participant)?.offsetMs ?? 0;
    const inputs: string[] = [];
    for (const kind of ['video', 'audio'] as const) {
      const frames: SessionFrame[] = [];
      for (const s of trackSegments(manifest, participant, kind)) {
        const origin = (origins.get(s.path) ?? t0) - t0;
        for (const f of webmFrames(await readFile(join(ref.dir, s.path)))) {
          frames.push({ ...f, sessionMs: origin + f.timecodeMs - offsetMs });
        }
      }
      if (frames.length === 0) {
        continue;
      }
      const path = join(work, `${kind}.webm`);
      await writeFile(path, trackWebm(kind, frames));
      inputs.push(path);
    }
    const temp = join(work, 'out.webm');
    const args = [
      '-hide_banner', '-nostdin', '-v', 'error', '-y',
      ...inputs.flatMap((i) => ['-i', i]),
      ...inputs.flatMap((_, i) => ['-map', `${i}:0`]),
      '-c', 'copy', '-f', 'webm', temp,
    ];
    const result = await runTool(resolveFfmpegPath(), args, options.signal ? { signal: options.signal } : {});
    if (result.code !== 0) {
      const lines = result.stderr.split('\n');
      throw new MediaError('FFMPEG_FAILED', `remuxing ${participant}'s recording failed: ${stderrReason(lines) ?? `exit ${String(result.code)}`}`, {
        stderrTail: lines.slice(-10),
      });
    }
    await rename(temp, out);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** One track's frames, on the participant's replay clock, as one WebM (passthrough; a frame that would step back in time is left out). */
function trackWebm(kind: 'video' | 'audio', frames: readonly SessionFrame[]): Buffer {
  const size = kind === 'video' ? frames.map((f) => (f.keyframe ? vp8KeyframeSize(f.data) : undefined)).find((v) => v !== undefined) : undefined;
  const spec: TrackSpec = kind === 'video'
    ? { kind: 'video', codec: 'vp8', width: size?.width ?? 0, height: size?.height ?? 0 }
    : { kind: 'audio', codec: 'opus', channels: 2, sampleRate: 48_000 };
  const parts = [webmHeader(spec)];
  let last = -Infinity;
  for (const f of frames) {
    if (f.sessionMs >= last) {
      last = f.sessionMs;
      parts.push(webmFrame(f.data, f.sessionMs, f.keyframe));
    }
  }
  return Buffer.concat(parts);
}
