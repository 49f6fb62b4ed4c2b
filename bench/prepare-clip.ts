// The clips of a run: each cut to at most N frames (re-encoded near-losslessly
// when cut, so the cut copy is the original that every side masks and the
// leak evaluation compares against), with truth and corrections cut to match.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probe, runTool, type MediaInfo } from '../src/media/index.js';
import { ffmpeg } from './measure.js';
import type { ClipFiles } from './paths.js';

export interface PreparedClip extends ClipFiles {
  media: MediaInfo;
  /** Frames in `video` (the cut copy when cut). */
  frames: number;
  /** The source was longer and was cut to `frames`. */
  cut: boolean;
}

interface TruthJson {
  frames: { i: number }[];
  [key: string]: unknown;
}

interface CorrectionsJson {
  reason: string;
  drop: { i: number }[];
}

/** The container's frame count, else counted by decoding. */
async function countFrames(video: string, media: MediaInfo): Promise<number> {
  if (media.frameCount !== undefined && media.frameCount > 0) {
    return media.frameCount;
  }
  const r = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', video]);
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(n) || n <= 0) {
    throw new Error(`cannot count the frames of ${video}: ${r.stderr.slice(-500)}`);
  }
  return n;
}

export async function prepareClip(clip: ClipFiles, maxFrames: number, work: string): Promise<PreparedClip> {
  const media = await probe(clip.video);
  const frames = await countFrames(clip.video, media);
  if (frames <= maxFrames) {
    return { ...clip, media, frames, cut: false };
  }
  const video = join(work, `${clip.name}-${maxFrames}.mp4`);
  await ffmpeg(['-i', clip.video, '-map', '0:v:0', '-an', '-frames:v', String(maxFrames), '-fps_mode', 'passthrough',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', 'yuv420p', '-y', video]);
  const truthJson = JSON.parse(readFileSync(clip.truth, 'utf8')) as TruthJson;
  const truth = join(work, `${clip.name}-${maxFrames}.truth.json`);
  writeFileSync(truth, JSON.stringify({ ...truthJson, video, frames: truthJson.frames.filter((f) => f.i < maxFrames) }));
  let corrections: string | undefined;
  if (clip.corrections !== undefined) {
    const c = JSON.parse(readFileSync(clip.corrections, 'utf8')) as CorrectionsJson;
    const drop = c.drop.filter((d) => d.i < maxFrames);
    if (drop.length > 0) {
      corrections = join(work, `${clip.name}-${maxFrames}.corrections.json`);
      writeFileSync(corrections, JSON.stringify({ reason: c.reason, drop }));
    }
  }
  return { name: clip.name, video, truth, ...(corrections !== undefined ? { corrections } : {}), media: await probe(video), frames: maxFrames, cut: true };
}
