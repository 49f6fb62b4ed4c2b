import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
