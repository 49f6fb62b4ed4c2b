// Real-clip helpers for the eval tests: decode chosen frames, re-encode a clip
// prefix with ffmpeg, read a truth file's boxes.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Box, I420Frame } from '../../src/core/index.js';
import { VideoDecoder, VideoEncoder } from '../../src/media/index.js';
import { truthPath } from './paths.js';

const exec = promisify(execFile);

/** The frames of `input` whose indices are listed (copied: they outlive the decoder). */
export async function readFrames(input: string, indices: readonly number[]): Promise<Map<number, I420Frame>> {
  const want = new Set(indices);
  const last = Math.max(...indices);
  const out = new Map<number, I420Frame>();
  const dec = new VideoDecoder({ input });
  try {
    for await (const f of dec.frames()) {
      if (want.has(f.index)) {
        out.set(f.index, { ...f, data: Buffer.from(f.data) });
      }
      if (f.index >= last) {
        break;
      }
    }
  } finally {
    await dec.close();
  }
  return out;
}

/** Re-encodes the first `frames` frames of `input` with libx264 at `crf`, every frame kept. */
export async function reencode(input: string, output: string, crf: number, frames: number): Promise<void> {
  await exec('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', input, '-frames:v', String(frames), '-an',
    '-c:v', 'libx264', '-crf', String(crf), '-pix_fmt', 'yuv420p', '-fps_mode', 'passthrough', output,
  ]);
}

/** Runs ffmpeg quietly with these arguments. */
export async function ffmpeg(...args: string[]): Promise<void> {
  await exec('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args]);
}

export interface TruthFace {
  readonly box: Box;
  readonly score: number;
}

/** The raw truth boxes of one frame of a clip. */
export function truthBoxes(clip: string, frame: number): TruthFace[] {
  const t = JSON.parse(readFileSync(truthPath(clip), 'utf8')) as { frames: { i: number; boxes: number[][] }[] };
  const f = t.frames.find((x) => x.i === frame);
  return (f?.boxes ?? []).map((b) => ({ box: { x: b[0] ?? 0, y: b[1] ?? 0, w: b[2] ?? 0, h: b[3] ?? 0 }, score: b[4] ?? 0 }));
}

/**
 * Writes a copy of `input` (H.264, crf 18) with every frame passed through
 * `edit` (which gets the decoded frame and returns the frame to write).
 */
export async function rewriteVideo(input: string, output: string, edit: (frame: I420Frame) => I420Frame): Promise<void> {
  const dec = new VideoDecoder({ input });
  try {
    const info = await dec.start();
    const enc = new VideoEncoder({ output, width: info.width, height: info.height, fps: info.fps, codec: 'h264', crf: 18 });
    try {
      for await (const f of dec.frames()) {
        await enc.write(edit({ ...f, data: Buffer.from(f.data) }));
      }
      await enc.end();
    } catch (err) {
      await enc.abort();
      throw err;
    }
  } finally {
    await dec.close();
  }
}
