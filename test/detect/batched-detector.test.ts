import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type FaceDetection, type I420Frame } from '../../src/core/index.js';
import {
  batchedEntry,
  defaultModelsDir,
  FaceDetector,
  LetterboxScratch,
  letterboxI420,
  loadVerifiedModel,
  ModelSession,
  planLetterbox,
  readManifest,
  SharedDetectorModels,
  type ModelEntry,
} from '../../src/detect/index.js';
// @ts-expect-error -- a plain .mjs setup script without types
import { batchedModel } from '../../scripts/onnx-batch.mjs';
import { decodeAll } from '../support/frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

/**
 * The batch-N models (derived at setup from the pinned batch-1 ones) and the
 * detectors that share them: on real face frames, a batched call answers
 * exactly what one call per frame answers, several streams' detectors that
 * detect at once really share calls, and a shared model that closes fails
 * the detections waiting on it (the pipelines then mask whole frames).
 */

const logger = createLogger({ level: 'silent' });
const rewrite = batchedModel as (bytes: Uint8Array) => Uint8Array;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const rounded = (faces: readonly FaceDetection[]): number[][] => faces.map((f) => [f.x, f.y, f.w, f.h, f.score * 1000].map((v) => Math.round(v)));

describe('batch-N models', () => {
  let manifest: ModelEntry[];
  beforeAll(async () => {
    manifest = await readManifest();
  });

  it('are the setup rewrite of the pinned originals, byte for byte, with a symbolic batch dimension', async () => {
    for (const entry of manifest) {
      const original = await loadVerifiedModel(defaultModelsDir(), entry);
      const derived = rewrite(original);
      expect(sha256(derived)).toBe(entry.batched?.sha256);
      expect(Buffer.compare(Buffer.from(derived), readFileSync(join(defaultModelsDir(), entry.batched?.file ?? '')))).toBe(0);
      const session = await ModelSession.create({ entry: batchedEntry(entry), bytes: derived, ep: 'cpu', intraOpNumThreads: 1, logger });
      try {
        expect(session.batchDimension).toBe('N');
      } finally {
        await session.release();
      }
    }
  });

  it('refuses a graph that is not shaped as the rewrite expects, instead of writing a wrong model', async () => {
    const entry = manifest[0] as ModelEntry;
    const derived = rewrite(await loadVerifiedModel(defaultModelsDir(), entry));
    // The derived model has no batch-1 padding left to rewrite.
    expect(() => rewrite(derived)).toThrow(/expected a constant shape \[1, ...\]|expected a batch dimension of 1|unexpected graph/);
    expect(() => rewrite(new Uint8Array([0x3a, 0x05, 1, 2]))).toThrow();
  });
});

describe.skipIf(!hasTestData)(`batched detection on real frames${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let frames: I420Frame[];

  beforeAll(async () => {
    const a = await decodeAll(clipPath('clm_franck_talking_face'), 3);
    const b = await decodeAll(clipPath('st_WDA_KatieHill_000'), 3);
    const c = await decodeAll(clipPath('fr_short_hamilton_clip'), 2);
    frames = [...a, ...b, ...c];
  });

  it('one call on N frames gives each frame exactly the outputs of its own call on the original model', async () => {
    for (const entry of await readManifest()) {
      const one = await ModelSession.create({ entry, bytes: await loadVerifiedModel(defaultModelsDir(), entry), ep: 'cpu', intraOpNumThreads: 1, logger });
      const many = await ModelSession.create({ entry: batchedEntry(entry), bytes: await loadVerifiedModel(defaultModelsDir(), batchedEntry(entry)), ep: 'cpu', intraOpNumThreads: 1, logger });
      try {
        const size = entry.inputSize;
        const inputs = frames.map((f) => {
          const t = new Float32Array(size * size * 3);
          letterboxI420(f, planLetterbox({ x: 0, y: 0, w: f.width, h: f.height }, size), t, new LetterboxScratch(size));
          return t;
        });
        const batched = await many.runBatch(inputs);
        expect(batched).toHaveLength(frames.length);
        for (const [k, input] of inputs.entries()) {
          const alone = await one.run(input);
          expect(batched[k]?.map((l) => Array.from(l.scores))).toEqual(alone.map((l) => Array.from(l.scores)));
          expect(batched[k]?.map((l) => Array.from(l.boxes))).toEqual(alone.map((l) => Array.from(l.boxes)));
        }
        await expect(one.runBatch(inputs)).rejects.toThrow(/fixed batch of 1/);
      } finally {
        await Promise.all([one.release(), many.release()]);
      }
    }
  });

  it('streams detecting at once share calls, and each gets the faces it would get alone', async () => {
    const shared = await SharedDetectorModels.create({ mode: 'both', ep: 'cpu', intraOpNumThreads: 1, maxBatch: 4, maxWaitMs: 2, logger });
    const reference = await FaceDetector.create({ mode: 'both', ep: 'cpu', intraOpNumThreads: 1, logger });
    const streams = await Promise.all(frames.slice(0, 6).map(() => FaceDetector.create({ mode: 'both', ep: 'cpu', shared, logger })));
    try {
      const results = await Promise.all(streams.map((d, k) => d.detect(frames[k] as I420Frame)));
      for (const [k, r] of results.entries()) {
        const alone = await reference.detect(frames[k] as I420Frame);
        expect(r.faces.length).toBeGreaterThan(0);
        expect(rounded(r.faces)).toEqual(rounded(alone.faces));
      }
      const stats = shared.stats();
      for (const model of ['front128', 'back256'] as const) {
        const s = stats[model];
        const sizes = Object.keys(s?.bySize ?? {}).map(Number);
        // Six streams with a batch of four: every call took more than one stream's frame, and none more than four.
        expect(s?.frames).toBeGreaterThanOrEqual(6);
        expect(Math.max(...sizes)).toBe(4);
        expect(s?.calls).toBeLessThan(s?.frames ?? 0);
      }
      // Closing a stream's detector leaves the shared models to the others.
      await streams[0]?.close();
      expect((await streams[1]?.detect(frames[1] as I420Frame))?.faces.length).toBeGreaterThan(0);
    } finally {
      await Promise.all(streams.map((d) => d.close()));
      await reference.close();
      await shared.close();
    }
  });

  it('fails the detections waiting on shared models that close: an error, never an empty answer', async () => {
    const shared = await SharedDetectorModels.create({ mode: 'back', ep: 'cpu', intraOpNumThreads: 1, maxBatch: 8, maxWaitMs: 50, logger });
    const streams = await Promise.all([0, 1, 2].map(() => FaceDetector.create({ mode: 'back', ep: 'cpu', shared, logger })));
    try {
      // Three detections reach the queue (letterbox done, waiting out the 50 ms for a fuller batch) when the models close.
      const pending = streams.map((d, k) => d.detect(frames[k] as I420Frame));
      await new Promise((r) => setTimeout(r, 10));
      await shared.close();
      for (const p of pending) {
        const err = await p.then(() => undefined, (e: unknown) => e as Error & { code?: string; cause?: Error });
        expect(err).toMatchObject({ code: 'DETECTOR_FAILED' });
        // Failed in the queue ("closed"), not turned away at the door ("is closed").
        expect(err?.cause?.message).toMatch(/session closed$/);
      }
      await expect(streams[0]?.detect(frames[0] as I420Frame)).rejects.toMatchObject({ code: 'DETECTOR_FAILED' });
      expect(shared.stats().back256?.calls).toBe(0);
    } finally {
      await Promise.all(streams.map((d) => d.close()));
    }
  });

  it('a shared model of another mode, or a batch policy out of range, is refused', async () => {
    await expect(SharedDetectorModels.create({ mode: 'back', ep: 'cpu', intraOpNumThreads: 1, maxBatch: 0, maxWaitMs: 0, logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(SharedDetectorModels.create({ mode: 'back', ep: 'cpu', intraOpNumThreads: 1, maxBatch: 2, maxWaitMs: -1, logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    const shared = await SharedDetectorModels.create({ mode: 'back', ep: 'cpu', intraOpNumThreads: 1, maxBatch: 2, maxWaitMs: 0, logger });
    try {
      await expect(FaceDetector.create({ mode: 'both', ep: 'cpu', shared, logger })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await shared.close();
    }
  });
});
