// Privacy audit of a masked video against its original, as the tests use it:
// (1) the leak evaluation (low-resolution SSIM of each truth face region) and
// (2) YuNet, an independent detector, looking for a face in each masked truth
// region. A frame leaks if either says so.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Box } from '../../src/core/index.js';
import { applyCorrections, loadCorrections, loadTruth, runLeakEval, type LeakReport, type Truth } from '../../src/eval/index.js';
import { VideoDecoder } from '../../src/media/index.js';
import { repoRoot } from './paths.js';
import { createYunet, yunetSeesFace } from './yunet.js';

export interface AuditResult {
  report: LeakReport;
  /** Truth boxes in which YuNet still finds a face in the masked video. */
  yunetHits: { frame: number; box: Box }[];
  /** Truth boxes YuNet was asked about. */
  yunetChecked: number;
}

interface TruthFile {
  video: string;
  width: number;
  height: number;
  fps: number;
  detector: string;
  thr: number;
  frames: { i: number; boxes: number[][] }[];
}

/** The committed truth corrections for a shared clip, if any. */
export function correctionsFor(clip: string): string | undefined {
  const path = join(repoRoot, 'test', 'fixtures', 'truth', `${clip}.json`);
  return existsSync(path) ? path : undefined;
}

/**
 * Makes a truth file for a clip that has none (a synthetic test clip) by
 * running YuNet on every frame of the original, decoded by our own decoder so
 * that frame numbers and sizes match what the masker saw.
 */
export async function yunetTruth(original: string, out: string, scoreThreshold = 0.8): Promise<string> {
  const yunet = await createYunet();
  const decoder = new VideoDecoder({ input: original });
  const truth: TruthFile = { video: original, width: 0, height: 0, fps: 0, detector: 'yunet-2023mar', thr: scoreThreshold, frames: [] };
  try {
    for await (const f of decoder.frames()) {
      truth.width = f.width;
      truth.height = f.height;
      const faces = await yunet.detect(f, undefined, { scoreThreshold, scales: [1] });
      truth.frames.push({ i: f.index, boxes: faces.map((x) => [x.box.x, x.box.y, x.box.w, x.box.h, x.score]) });
    }
    truth.fps = decoder.info.fps;
  } finally {
    await decoder.close();
    await yunet.close();
  }
  await writeFile(out, JSON.stringify(truth));
  return out;
}

/** Runs YuNet on the masked frames (every `every`-th frame) inside each truth box. */
async function yunetPass(masked: string, truth: Truth, every: number): Promise<{ hits: AuditResult['yunetHits']; checked: number }> {
  const yunet = await createYunet();
  const hits: AuditResult['yunetHits'] = [];
  let checked = 0;
  const decoder = new VideoDecoder({ input: masked });
  try {
    for await (const f of decoder.frames()) {
      const boxes = truth.frames.get(f.index);
      if (f.index % every !== 0 || !boxes) {
        continue;
      }
      for (const { box } of boxes) {
        checked++;
        if (await yunetSeesFace(yunet, f, box)) {
          hits.push({ frame: f.index, box });
        }
      }
    }
  } finally {
    await decoder.close();
    await yunet.close();
  }
  return { hits, checked };
}

export interface AuditOptions {
  original: string;
  masked: string;
  truth: string;
  corrections?: string | undefined;
  sheet?: string;
  /** YuNet looks at every n-th frame (it is the slower check). Default 3. */
  yunetEvery?: number;
}

/** Both checks; truth boxes that the corrections drop are left out of both. */
export async function audit(options: AuditOptions): Promise<AuditResult> {
  const report = await runLeakEval({
    original: options.original,
    masked: options.masked,
    truth: options.truth,
    ...(options.corrections !== undefined ? { corrections: options.corrections } : {}),
    ...(options.sheet !== undefined ? { sheet: options.sheet } : {}),
  });
  const raw = await loadTruth(options.truth);
  const truth = options.corrections !== undefined ? applyCorrections(raw, await loadCorrections(options.corrections)) : raw;
  const { hits, checked } = await yunetPass(options.masked, truth, options.yunetEvery ?? 3);
  return { report, yunetHits: hits, yunetChecked: checked };
}
