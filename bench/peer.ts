// The peer: GStreamer's `faceblur` (gst-plugins-bad's OpenCV plugin, Debian's
// gstreamer1.0-opencv), a Haar-cascade face blur, on the same clip, with the
// same decoder and encoder as ours so that only the face work differs:
//   ffmpeg decode to I420 | gst-launch-1.0 fdsrc ! rawvideoparse ! videoconvert
//     ! faceblur ! videoconvert ! fdsink | ffmpeg encode (livemask's encoderArgs)
// Debian's build defaults `profile` to a doubled path that does not exist, so
// the cascade is passed explicitly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encoderArgs, fpsRational } from '../src/media/index.js';
import { leaksOf, type LeakSummary } from './leaks.js';
import { measureShell, pipeline } from './measure.js';
import type { PreparedClip } from './prepare-clip.js';
import { round } from './stats.js';

export const PEER_NAME = 'gstreamer-faceblur';
export const HAAR_CASCADE = '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml';
export const PEER_PACKAGES = 'gstreamer1.0-opencv opencv-data gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-base';

export interface PeerRow {
  name: string;
  clip: string;
  frames: number;
  /** Frames per second through the whole peer pipeline (decode, blur, encode), start-up included. */
  fps: number;
  wallS: number;
  cpuS: number;
  /** Leak count on the clip (same evaluation and truth as ours). */
  leaks: number;
  leakRate: number;
  leakDetail: LeakSummary;
}

/** Why the peer cannot run here, or undefined when it can. */
export function peerUnavailable(): string | undefined {
  const inspect = spawnSync('gst-inspect-1.0', ['faceblur'], { encoding: 'utf8', timeout: 20_000 });
  if (inspect.error !== undefined || inspect.status !== 0) {
    return `gst-launch-1.0 faceblur not installed (Debian: apt-get install ${PEER_PACKAGES})`;
  }
  if (!existsSync(HAAR_CASCADE)) {
    return `faceblur's Haar cascade is missing at ${HAAR_CASCADE}`;
  }
  return undefined;
}

export function peerScript(clip: PreparedClip, output: string): string {
  const m = clip.media;
  const decode = ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-i', clip.video, '-map', '0:v:0', '-an',
    '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'];
  const gst = ['gst-launch-1.0', '-q', 'fdsrc', 'fd=0', '!',
    'rawvideoparse', 'format=i420', `width=${m.width}`, `height=${m.height}`, `framerate=${fpsRational(m.fps)}`, '!',
    'videoconvert', '!', 'faceblur', `profile=${HAAR_CASCADE}`, '!', 'videoconvert', '!', 'video/x-raw,format=I420', '!', 'fdsink', 'fd=1'];
  const encode = ['ffmpeg', ...encoderArgs({ output, width: m.width, height: m.height, fps: m.fps, codec: 'h264', ...(m.hasAudio ? { audioFrom: clip.video } : {}) })];
  return pipeline(decode, gst, encode);
}

export async function benchPeer(clip: PreparedClip, work: string): Promise<PeerRow> {
  const output = join(work, `${clip.name}-peer.mp4`);
  const run = await measureShell(peerScript(clip, output));
  const leaks = await leaksOf(clip, output);
  return {
    name: PEER_NAME,
    clip: clip.name,
    frames: clip.frames,
    fps: round(clip.frames / run.wallS, 2),
    wallS: round(run.wallS, 3),
    cpuS: round(run.cpuS, 3),
    leaks: leaks.leaks,
    leakRate: leaks.leakRate,
    leakDetail: leaks,
  };
}
