import { buffer } from 'node:stream/consumers';
import { FfmpegProcess } from '../media/index.js';
import { IvfReader } from '../media/ivf.js';

/**
 * The cover: one flat grey VP8 keyframe (libvpx, made once per process by
 * ffmpeg). When a participant is masked, each non-hiring subscriber still on
 * the passthrough gets it at once, so the last unmasked picture does not stay
 * on screen (a decoder shows its last frame until the next one) while the
 * masked rendition starts, or when none can (no masked slot free).
 */

/** Small on purpose: a decoder takes a keyframe of any size, and the masked rendition's next keyframe restores the real one. */
const COVER_SIZE = '160x90';

let cover: Promise<Buffer> | undefined;

/** The cover keyframe, memoised; a failure is not cached, so the next call tries again. */
export function coverKeyframe(): Promise<Buffer> {
  cover ??= makeCover().catch((err: unknown) => {
    cover = undefined;
    throw err;
  });
  return cover;
}

async function makeCover(): Promise<Buffer> {
  const proc = new FfmpegProcess({
    args: [
      '-hide_banner', '-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `color=c=gray:s=${COVER_SIZE}:r=30`, '-frames:v', '1',
      '-c:v', 'libvpx', '-deadline', 'realtime', '-f', 'ivf', 'pipe:1',
    ],
    stdout: 'pipe',
  });
  const out = proc.stdout;
  const [bytes] = await Promise.all([out ? buffer(out) : Promise.resolve(Buffer.alloc(0)), proc.wait()]);
  const frame = new IvfReader().push(bytes)[0];
  if (!frame || ((frame.data[0] ?? 1) & 0x01) !== 0) {
    throw new Error('ffmpeg did not make a VP8 keyframe for the cover');
  }
  return Buffer.from(frame.data);
}
