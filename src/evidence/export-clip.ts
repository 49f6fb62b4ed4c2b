import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { join } from 'node:path';
import { MediaError, type Logger } from '../core/index.js';
import { FfmpegProcess } from '../media/index.js';
import type { ClipTrack } from './export-plan.js';
import { webmFrames } from './webm.js';

/**
 * The export's clip: each track's covering segments joined by ffmpeg's
 * concat demuxer and all tracks mapped into one WebM, with `-c copy` (the
 * frames are the recorded frames, never re-encoded). Then the clip's
 * packets are compared with the segments' frames, stream by stream.
 */

/** The clip's container: WebM, or Matroska when a track is H.264 (which WebM cannot carry). */
export function clipExtension(tracks: readonly ClipTrack[]): 'webm' | 'mkv' {
  return tracks.some((t) => t.codec === 'h264') ? 'mkv' : 'webm';
}

export interface ClipOptions {
  tracks: readonly ClipTrack[];
  /** The directory holding a session's segments. */
  sessionDir: (sessionId: string) => string;
  /** The clip to write. */
  out: string;
  /** Where the concat lists go (the caller removes it). */
  workDir: string;
  signal?: AbortSignal;
  ffmpegPath?: string;
  logger?: Logger;
}

/** ffconcat quoting: inside single quotes, a quote is `'\''`. */
function quote(path: string): string {
  return `'${path.replace(/'/g, "'\\''")}'`;
}

/** A track's concat list; `duration` keeps each segment's place on the track clock. */
export function concatList(track: ClipTrack, dir: string): string {
  const lines = ['ffconcat version 1.0'];
  for (const [i, path] of track.segments.entries()) {
    lines.push(`file ${quote(join(dir, path))}`);
    const ms = track.durationsMs[i];
    if (ms !== undefined) {
      lines.push(`duration ${(ms / 1000).toFixed(3)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

async function runFfmpeg(args: string[], o: ClipOptions, what: string, collect: boolean): Promise<Buffer> {
  const proc = new FfmpegProcess({
    args,
    stdout: collect ? 'pipe' : 'ignore',
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.ffmpegPath !== undefined ? { ffmpegPath: o.ffmpegPath } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const stdout = proc.stdout;
  try {
    const [out] = await Promise.all([stdout ? buffer(stdout) : Promise.resolve(Buffer.alloc(0)), proc.wait()]);
    return out;
  } catch (err) {
    if (err instanceof MediaError && err.code === 'FFMPEG_FAILED') {
      throw new MediaError('FFMPEG_FAILED', `${what}: ${err.message}`, { cause: err, stderrTail: err.stderrTail });
    }
    throw err;
  }
}

/** Writes the clip; resolves with the packets per stream, checked against the segments' frames. */
export async function remuxClip(o: ClipOptions): Promise<number[]> {
  const inputs: string[] = [];
  for (const [i, track] of o.tracks.entries()) {
    const list = join(o.workDir, `track-${i}.ffconcat`);
    await writeFile(list, concatList(track, o.sessionDir(track.session)));
    if (track.offsetMs > 0) {
      inputs.push('-itsoffset', (track.offsetMs / 1000).toFixed(3));
    }
    inputs.push('-f', 'concat', '-safe', '0', '-i', list);
  }
  const args = [
    '-hide_banner', '-nostdin', '-v', 'error', '-y',
    ...inputs,
    ...o.tracks.flatMap((_, i) => ['-map', `${i}:0`]),
    '-c', 'copy', '-f', clipExtension(o.tracks) === 'mkv' ? 'matroska' : 'webm', o.out,
  ];
  await runFfmpeg(args, o, 'remuxing the clip failed', false);
  return checkPackets(o);
}

/** Compares each stream's packets (ffmpeg framemd5 with `-c copy`: no decode) with its segments' frames. */
async function checkPackets(o: ClipOptions): Promise<number[]> {
  const listing = await runFfmpeg(
    ['-hide_banner', '-nostdin', '-v', 'error', '-i', o.out, '-map', '0', '-c', 'copy', '-f', 'framemd5', '-'],
    o, 'reading the clip back failed', true,
  );
  const packets = new Map<number, string[]>();
  for (const line of listing.toString('utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const fields = line.split(',').map((f) => f.trim());
    const stream = Number(fields[0]);
    packets.set(stream, [...(packets.get(stream) ?? []), fields.at(-1) ?? '']);
  }
  const counts: number[] = [];
  for (const [i, track] of o.tracks.entries()) {
    const expected: string[] = [];
    for (const path of track.segments) {
      for (const f of webmFrames(await readFile(join(o.sessionDir(track.session), path)))) {
        expected.push(createHash('md5').update(f.data).digest('hex'));
      }
    }
    const got = packets.get(i) ?? [];
    const differs = got.findIndex((h, j) => h !== expected[j]);
    if (got.length !== expected.length || differs >= 0) {
      throw new MediaError('FFMPEG_FAILED', `the clip's stream ${i} (${track.participant} ${track.kind}) does not hold the segments' frames: ` +
        `${got.length} packets for ${expected.length} frames${differs >= 0 ? `, first difference at packet ${differs}` : ''}`);
    }
    counts.push(got.length);
  }
  return counts;
}
