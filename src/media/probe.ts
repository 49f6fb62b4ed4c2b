import { stat } from 'node:fs/promises';
import { AbortedError, MediaError } from '../core/index.js';
import { missingBinaryError, resolveFfprobePath } from './ffmpeg-binary.js';
import { runTool, SpawnFailure, stderrReason } from './run-tool.js';

/** What livemask needs to know about a video file, from ffprobe. */
export interface MediaInfo {
  /** Display width: coded width, swapped with height for a ±90° rotation (ffmpeg autorotates). */
  width: number;
  height: number;
  /** Average frame rate, else the stream's base rate. */
  fps: number;
  durationMs: number;
  /** The container's frame count, when it stores one (mp4 does, mkv does not). */
  frameCount?: number;
  hasAudio: boolean;
  videoCodec: string;
  audioCodec?: string;
}

export interface ProbeOptions {
  signal?: AbortSignal;
  /** Default: `LIVEMASK_FFPROBE`, else `ffprobe` from PATH. */
  ffprobePath?: string;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
}

interface ProbeJson {
  streams?: ProbeStream[];
  format?: { duration?: string; format_name?: string };
}

/**
 * Probes a video file with ffprobe. A missing, empty, unreadable or
 * video-less input rejects with INPUT_UNREADABLE and a one-line reason.
 */
export async function probe(input: string, options: ProbeOptions = {}): Promise<MediaInfo> {
  await checkInputFile(input);
  const json = await runProbe(input, ['-show_format', '-show_streams'], options);
  return mediaInfoFromProbe(input, json);
}

/** The codec of the first audio stream of a file, or undefined when it has none. */
export async function probeAudioCodec(input: string, options: ProbeOptions = {}): Promise<string | undefined> {
  await checkInputFile(input);
  const json = await runProbe(input, ['-show_streams', '-select_streams', 'a:0'], options);
  return json.streams?.[0]?.codec_name;
}

/** Turns ffprobe's JSON into MediaInfo; pure, exported for tests. */
export function mediaInfoFromProbe(input: string, json: ProbeJson): MediaInfo {
  const streams = json.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!video || !video.width || !video.height || !video.codec_name) {
    throw new MediaError('INPUT_UNREADABLE', `input has no video stream: ${input}`);
  }
  const fps = parseRate(video.avg_frame_rate) ?? parseRate(video.r_frame_rate);
  if (fps === undefined) {
    throw new MediaError('INPUT_UNREADABLE', `input has no usable frame rate: ${input}`);
  }
  const rotation = Number(video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? video.tags?.rotate ?? 0);
  const sideways = Math.abs(rotation) % 180 === 90;
  const seconds = Number(json.format?.duration ?? video.duration ?? NaN);
  const frames = Number(video.nb_frames ?? NaN);
  return {
    width: sideways ? video.height : video.width,
    height: sideways ? video.width : video.height,
    fps,
    durationMs: Number.isFinite(seconds) ? Math.round(seconds * 1000) : 0,
    ...(Number.isInteger(frames) && frames > 0 ? { frameCount: frames } : {}),
    hasAudio: audio !== undefined,
    videoCodec: video.codec_name,
    ...(audio?.codec_name !== undefined ? { audioCodec: audio.codec_name } : {}),
  };
}

function parseRate(rate: string | undefined): number | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(rate ?? '');
  const num = Number(match?.[1]);
  const den = Number(match?.[2]);
  return num > 0 && den > 0 ? num / den : undefined;
}

async function checkInputFile(input: string): Promise<void> {
  let size: number;
  try {
    const st = await stat(input);
    if (!st.isFile()) {
      throw new MediaError('INPUT_UNREADABLE', `input is not a regular file: ${input}`);
    }
    size = st.size;
  } catch (err) {
    if (err instanceof MediaError) {
      throw err;
    }
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'input not found' : `cannot access input (${String(code)})`;
    throw new MediaError('INPUT_UNREADABLE', `${reason}: ${input}`, { cause: err });
  }
  if (size === 0) {
    throw new MediaError('INPUT_UNREADABLE', `input is empty (0 bytes): ${input}`);
  }
}

async function runProbe(input: string, what: string[], options: ProbeOptions): Promise<ProbeJson> {
  const path = resolveFfprobePath(options.ffprobePath);
  const args = ['-v', 'error', '-print_format', 'json', ...what, '-i', input];
  let result;
  try {
    result = await runTool(path, args, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    if (err instanceof SpawnFailure) {
      throw missingBinaryError('ffprobe', path, err);
    }
    if (err instanceof AbortedError) {
      throw new AbortedError(`probe of ${input} aborted`, { cause: err });
    }
    throw err;
  }
  if (result.code !== 0) {
    const why = stderrReason(result.stderr.split(/\r?\n/), input) ?? `ffprobe exited with code ${String(result.code)}`;
    throw new MediaError('INPUT_UNREADABLE', `cannot read ${input}: ${why}`, {
      stderrTail: result.stderr.split('\n').filter((l) => l.length > 0).slice(-20),
    });
  }
  try {
    return JSON.parse(result.stdout) as ProbeJson;
  } catch (err) {
    throw new MediaError('INPUT_UNREADABLE', `cannot read ${input}: ffprobe printed no JSON`, { cause: err });
  }
}

