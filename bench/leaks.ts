// The leak count of a masked video against the truth: the same evaluation as
// `livemask eval leak` (src/eval), summarised for the result.
import { runLeakEval } from '../src/eval/index.js';
import type { PreparedClip } from './prepare-clip.js';

export interface LeakSummary {
  /** Frames compared; fewer than the truth's when the masked video is short (frames dropped). */
  frames: number;
  truthFrames: number;
  faceFrames: number;
  leaks: number;
  leakRate: number;
  framesWithLeak: number;
  overMaskRate: number;
}

export async function leaksOf(clip: PreparedClip, masked: string): Promise<LeakSummary> {
  const r = await runLeakEval({ original: clip.video, masked, truth: clip.truth, ...(clip.corrections !== undefined ? { corrections: clip.corrections } : {}) });
  return {
    frames: r.frames,
    truthFrames: r.truthFrames,
    faceFrames: r.faceFrames,
    leaks: r.leaks,
    leakRate: Math.round(r.leakRate * 10_000) / 10_000,
    framesWithLeak: r.framesWithLeak,
    overMaskRate: Math.round(r.overMaskRate * 10_000) / 10_000,
  };
}
