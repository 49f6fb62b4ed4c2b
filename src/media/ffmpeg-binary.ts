import { MediaError } from '../core/index.js';
import { runTool, SpawnFailure } from './run-tool.js';

/** The oldest ffmpeg major version livemask supports (`-fps_mode` appeared in 5.0). */
export const MIN_FFMPEG_MAJOR = 5;

export interface FfmpegInfo {
  path: string;
  version: string;
  major: number;
}

export interface CheckFfmpegOptions {
  ffmpegPath?: string;
}

/** The ffmpeg binary to run: the explicit path, else `LIVEMASK_FFMPEG`, else `ffmpeg` from PATH. */
export function resolveFfmpegPath(explicit?: string): string {
  return explicit ?? process.env.LIVEMASK_FFMPEG ?? 'ffmpeg';
}

/** The ffprobe binary to run: the explicit path, else `LIVEMASK_FFPROBE`, else `ffprobe` from PATH. */
export function resolveFfprobePath(explicit?: string): string {
  return explicit ?? process.env.LIVEMASK_FFPROBE ?? 'ffprobe';
}

/** The FFMPEG_MISSING error for a binary (`ffmpeg` or `ffprobe`) that could not be started. */
export function missingBinaryError(tool: 'ffmpeg' | 'ffprobe', path: string, cause?: unknown): MediaError {
  const where = path === tool ? 'on PATH' : `at ${path}`;
  return new MediaError('FFMPEG_MISSING', `${tool} not found ${where}; install it: apt-get install -y ffmpeg`, {
    cause,
  });
}

/**
 * Parses the first line of `ffmpeg -version`. Release builds say
 * "ffmpeg version 5.1.9-0+deb12u1" or "n6.1"; git builds ("N-112345-g...")
 * have no number, so their major comes from libavutil (57 is ffmpeg 5).
 */
export function parseFfmpegVersion(output: string): { version: string; major: number } | undefined {
  const version = /ffmpeg version (\S+)/.exec(output)?.[1];
  if (version === undefined) {
    return undefined;
  }
  const release = /^n?(\d+)\.\d+/.exec(version)?.[1];
  if (release !== undefined) {
    return { version, major: Number(release) };
  }
  const avutil = /libavutil\s+(\d+)\./.exec(output)?.[1];
  return avutil === undefined ? undefined : { version, major: Number(avutil) - 52 };
}

/**
 * Checks that ffmpeg (and ffprobe next to it on PATH or in `LIVEMASK_FFPROBE`)
 * can run and that ffmpeg is at least version 5.
 */
export async function checkFfmpeg(options: CheckFfmpegOptions = {}): Promise<FfmpegInfo> {
  const path = resolveFfmpegPath(options.ffmpegPath);
  const result = await runVersion('ffmpeg', path);
  const parsed = parseFfmpegVersion(result);
  if (!parsed) {
    throw new MediaError('FFMPEG_MISSING', `${path} does not look like ffmpeg: cannot read its version`);
  }
  if (parsed.major < MIN_FFMPEG_MAJOR) {
    throw new MediaError(
      'FFMPEG_TOO_OLD',
      `ffmpeg ${parsed.version} at ${path} is too old; livemask needs ffmpeg >= ${MIN_FFMPEG_MAJOR}`,
    );
  }
  await runVersion('ffprobe', resolveFfprobePath());
  return { path, ...parsed };
}

async function runVersion(tool: 'ffmpeg' | 'ffprobe', path: string): Promise<string> {
  try {
    const result = await runTool(path, ['-hide_banner', '-version']);
    if (result.code !== 0) {
      throw new MediaError('FFMPEG_MISSING', `${path} -version failed with code ${String(result.code)}`);
    }
    return result.stdout;
  } catch (err) {
    if (err instanceof SpawnFailure) {
      throw missingBinaryError(tool, path, err);
    }
    throw err;
  }
}
