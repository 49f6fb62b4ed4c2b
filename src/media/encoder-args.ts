import { extname } from 'node:path';
import { LivemaskError } from '../core/index.js';

export type VideoCodec = 'vp8' | 'h264';

/** Containers told apart by the output's extension. */
export type Container = 'mp4' | 'webm' | 'mkv' | 'other';

export interface EncoderArgsOptions {
  output: string;
  width: number;
  height: number;
  fps: number;
  codec: VideoCodec;
  /** A file whose audio goes into the output untouched (copied) where the container allows. */
  audioFrom?: string;
  /** x264 CRF (default 23) or libvpx CRF (default 10). */
  crf?: number;
  /** x264 preset (default `veryfast`); for vp8, libvpx's `-deadline` (default `realtime`). */
  preset?: string;
  /** The codec of `audioFrom`'s audio, when known; decides copy versus re-encode. */
  audioCodec?: string;
  /**
   * Encode this file's first video stream instead of raw I420 from stdin: a
   * plain ffmpeg transcode with exactly the same encoder settings (the
   * benchmark's floor).
   */
  source?: string;
}

const MP4_COPYABLE_AUDIO = new Set(['aac', 'mp3', 'ac3', 'eac3', 'opus', 'flac', 'alac']);
const WEBM_COPYABLE_AUDIO = new Set(['opus', 'vorbis']);
const VPX_DEADLINES = new Set(['realtime', 'good', 'best']);

/** The container ffmpeg will pick from the output's extension. */
export function containerOf(output: string): Container {
  const ext = extname(output).toLowerCase();
  if (ext === '.mp4' || ext === '.m4v' || ext === '.mov') {
    return 'mp4';
  }
  if (ext === '.webm') {
    return 'webm';
  }
  return ext === '.mkv' ? 'mkv' : 'other';
}

/** A frame rate as ffmpeg's rational: 25 -> "25/1", 29.97 -> "30000/1001". */
export function fpsRational(fps: number): string {
  if (Number.isInteger(fps)) {
    return `${fps}/1`;
  }
  const ntsc = Math.round(fps * 1.001);
  if (Math.abs(fps * 1.001 - ntsc) < 1e-3) {
    return `${ntsc * 1000}/1001`;
  }
  return `${Math.round(fps * 1000)}/1000`;
}

/**
 * The complete ffmpeg argument list (without the binary) that VideoEncoder
 * runs: raw I420 frames on stdin (or `source`), encoded with libx264 or
 * libvpx, plus `audioFrom`'s audio. Pure; throws BAD_USAGE on bad options.
 */
export function encoderArgs(options: EncoderArgsOptions): string[] {
  validate(options);
  const container = containerOf(options.output);
  const video = options.source !== undefined
    ? ['-i', options.source]
    : ['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${options.width}x${options.height}`,
        '-framerate', fpsRational(options.fps), '-i', 'pipe:0'];
  const audio = options.audioFrom !== undefined ? ['-i', options.audioFrom] : [];
  return [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    ...video,
    ...audio,
    '-map', '0:v:0',
    ...(options.audioFrom !== undefined ? ['-map', '1:a?'] : []),
    ...videoCodecArgs(options),
    ...(options.audioFrom !== undefined ? audioCodecArgs(container, options.audioCodec) : []),
    ...(container === 'mp4' ? ['-movflags', '+faststart'] : []),
    '-y', options.output,
  ];
}

function videoCodecArgs(options: EncoderArgsOptions): string[] {
  if (options.codec === 'h264') {
    return ['-c:v', 'libx264', '-preset', options.preset ?? 'veryfast', '-crf', String(options.crf ?? 23),
      '-pix_fmt', 'yuv420p'];
  }
  return ['-c:v', 'libvpx', '-deadline', options.preset ?? 'realtime', '-cpu-used', '8',
    '-crf', String(options.crf ?? 10), '-b:v', '2M', '-pix_fmt', 'yuv420p'];
}

/**
 * Copy the audio untouched where the container takes its codec. WebM only
 * takes Opus or Vorbis, so other audio is re-encoded to Opus there (and
 * unknown audio too). MP4 audio the muxer cannot hold becomes AAC.
 */
function audioCodecArgs(container: Container, audioCodec: string | undefined): string[] {
  if (container === 'webm' && (audioCodec === undefined || !WEBM_COPYABLE_AUDIO.has(audioCodec))) {
    return ['-c:a', 'libopus', '-b:a', '128k'];
  }
  if (container === 'mp4' && audioCodec !== undefined && !MP4_COPYABLE_AUDIO.has(audioCodec)) {
    return ['-c:a', 'aac', '-b:a', '192k'];
  }
  return ['-c:a', 'copy'];
}

function validate(options: EncoderArgsOptions): void {
  const bad = (field: string, why: string): LivemaskError =>
    new LivemaskError('BAD_USAGE', `encoder option ${field} ${why}`);
  for (const field of ['width', 'height'] as const) {
    if (!Number.isInteger(options[field]) || options[field] <= 0) {
      throw bad(field, `must be a positive integer, got ${options[field]}`);
    }
  }
  if (!(options.fps > 0) || !Number.isFinite(options.fps)) {
    throw bad('fps', `must be a positive number, got ${options.fps}`);
  }
  const container = containerOf(options.output);
  if (options.codec === 'h264' && container === 'webm') {
    throw bad('codec', 'h264 cannot go into .webm; use vp8 or an .mp4/.mkv output');
  }
  if (options.codec === 'vp8' && container === 'mp4') {
    throw bad('codec', 'vp8 cannot go into .mp4; use .webm or .mkv');
  }
  if (options.codec === 'h264' && (options.width % 2 !== 0 || options.height % 2 !== 0)) {
    throw bad('width/height', `must be even for h264 (yuv420p), got ${options.width}x${options.height}`);
  }
  if (options.codec === 'vp8' && options.preset !== undefined && !VPX_DEADLINES.has(options.preset)) {
    throw bad('preset', `for vp8 is libvpx's deadline (realtime, good, best), got ${options.preset}`);
  }
  if (options.crf !== undefined && (!Number.isInteger(options.crf) || options.crf < 0 || options.crf > 63)) {
    throw bad('crf', `must be an integer from 0 to 63, got ${options.crf}`);
  }
}
