import { VideoDecoder } from '../../src/media/index.js';
import type { I420Frame } from '../../src/core/index.js';

/** Decodes every frame of a file (small clips only: frames are kept). */
export async function decodeAll(path: string, maxFrames = Infinity): Promise<I420Frame[]> {
  const decoder = new VideoDecoder({ input: path });
  const out: I420Frame[] = [];
  try {
    for await (const f of decoder.frames()) {
      if (out.length >= maxFrames) {
        break;
      }
      out.push(f);
    }
  } finally {
    await decoder.close();
  }
  return out;
}

/** Standard deviation of the luma plane: near 0 for a uniformly filled frame. */
export function lumaStdDev(frame: I420Frame): number {
  const n = frame.width * frame.height;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const v = frame.data[i] ?? 0;
    sum += v;
    sq += v * v;
  }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sq / n - mean * mean));
}
