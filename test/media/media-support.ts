// Helpers shared by the media tests: temp files, ffmpeg one-liners, polling
// waits, and a registry of decoders/encoders that afterEach closes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { VideoDecoder, VideoEncoder } from '../../src/media/index.js';

const exec = promisify(execFile);

/** Runs ffmpeg (quiet) with these arguments; rejects on failure. */
export async function ffmpeg(...args: string[]): Promise<void> {
  await exec('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args]);
}

/** Runs ffprobe and returns the JSON it prints. */
export async function ffprobeJson(...args: string[]): Promise<unknown> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-print_format', 'json', ...args]);
  return JSON.parse(stdout) as unknown;
}

/** The md5 of a file's audio packets, stream-copied (unchanged by a copy). */
export async function audioPacketsMd5(file: string): Promise<string> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:a:0', '-c', 'copy', '-f', 'md5', '-']);
  return stdout.trim();
}

export function makeWorkDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `livemask-${prefix}-`));
}

export function removeWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Polls `check` until it is true or `timeoutMs` passes; rejects naming `what`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** True while the process exists and is not a zombie (an exited child nobody reaped yet). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Every decoder and encoder a test makes, so afterEach can close them and wait for ffmpeg to exit. */
export class MediaTracker {
  readonly #decoders: VideoDecoder[] = [];
  readonly #encoders: VideoEncoder[] = [];

  decoder(decoder: VideoDecoder): VideoDecoder {
    this.#decoders.push(decoder);
    return decoder;
  }

  encoder(encoder: VideoEncoder): VideoEncoder {
    this.#encoders.push(encoder);
    return encoder;
  }

  /** Closes everything (close() and abort() resolve only once ffmpeg exited) and checks no pid survived. */
  async closeAll(): Promise<void> {
    const decoders = this.#decoders.splice(0);
    const encoders = this.#encoders.splice(0);
    await Promise.all([...decoders.map((d) => d.close()), ...encoders.map((e) => e.abort())]);
    const pids = [...decoders.map((d) => d.pid), ...encoders.map((e) => e.pid)];
    await waitFor('every ffmpeg of the test to exit', () => pids.every((pid) => !isAlive(pid)), 10_000);
  }
}
