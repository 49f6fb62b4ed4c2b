import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { EvidenceRecorder, type Manifest } from '../../src/evidence/index.js';
import { IvfReader, type IvfFrame } from '../../src/media/ivf.js';
import { clipPath, repoRoot } from '../support/paths.js';

const run = promisify(execFile);

/** A face clip encoded once to VP8 in IVF (320 wide, a keyframe every 30 frames), cached under .tmp/. */
export async function sourceIvf(seconds: number): Promise<string> {
  const dir = join(repoRoot, '.tmp', 'evidence');
  const out = join(dir, `franck-${seconds}s.ivf`);
  if (existsSync(out)) {
    return out;
  }
  mkdirSync(dir, { recursive: true });
  const temp = `${out}.${process.pid}.tmp`;
  await run('ffmpeg', [
    '-v', 'error', '-nostdin', '-y', '-t', String(seconds), '-i', clipPath('clm_franck_talking_face'), '-an',
    '-vf', 'scale=320:-2', '-c:v', 'libvpx', '-g', '30', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-f', 'ivf', temp,
  ]);
  renameSync(temp, out);
  return out;
}

export interface SourceFrame extends IvfFrame {
  /** Presentation time in ms from the IVF header's time base. */
  ms: number;
  keyframe: boolean;
}

/** The IVF's frames with their times. */
export function readIvf(path: string): SourceFrame[] {
  const bytes = readFileSync(path);
  const rate = bytes.readUInt32LE(16);
  const scale = bytes.readUInt32LE(20);
  return new IvfReader().push(bytes).map((f) => ({ ...f, ms: (f.pts * 1000 * scale) / rate, keyframe: ((f.data[0] ?? 1) & 1) === 0 }));
}

/** The MD5 of each decoded frame, in order (ffmpeg's framemd5), and whatever ffmpeg printed on stderr. */
export async function decodedFrameMd5(file: string): Promise<{ hashes: string[]; stderr: string }> {
  const { stdout, stderr } = await run('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-f', 'framemd5', '-'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const hashes = stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(',').at(-1)?.trim() ?? '');
  return { hashes, stderr };
}

/** ffprobe's view of a file's first stream; throws when ffprobe fails. */
export async function probeStream(file: string): Promise<{ codec: string; stderr: string }> {
  const { stdout, stderr } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file]);
  return { codec: stdout.trim(), stderr };
}

/** The packets of an Ogg stream (RFC 3533), joined across pages. */
export function oggPackets(bytes: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  let at = 0;
  while (at + 27 <= bytes.length && bytes.toString('ascii', at, at + 4) === 'OggS') {
    const nsegs = bytes[at + 26] ?? 0;
    let data = at + 27 + nsegs;
    for (const lace of bytes.subarray(at + 27, at + 27 + nsegs)) {
      partial.push(bytes.subarray(data, data + lace));
      data += lace;
      if (lace < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    at = data;
  }
  return packets;
}

/**
 * Records one sealed session: alice joins as an applicant and sends `frames`
 * as video, timed from now. Resolves with the manifest and the wall-clock
 * time the first frame was given (`t0`).
 */
export async function recordSession(
  root: string,
  room: string,
  sessionId: string,
  frames: readonly SourceFrame[],
  signingKey: KeyObject,
): Promise<{ manifest: Manifest; t0: number }> {
  const recorder = new EvidenceRecorder({ root, room, sessionId, signingKey });
  await recorder.start();
  recorder.event('participant-joined', { participant: 'alice', role: 'applicant' });
  const video = recorder.addVideoTrack('alice', 'vp8');
  const t0 = Date.now();
  for (const f of frames) {
    video.pushFrame({ data: f.data, timestamp90k: Math.round(f.ms * 90), keyframe: f.keyframe, arrivalMs: t0 + f.ms });
  }
  const closed = await recorder.close();
  if (!closed.ok) {
    throw closed.error;
  }
  return { manifest: closed.manifest, t0 };
}
