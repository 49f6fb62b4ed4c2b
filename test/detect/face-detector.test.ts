import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, DetectorError, i420Size, LivemaskError, type Box, type I420Frame } from '../../src/core/index.js';
import { FaceDetector, type DetectorMode } from '../../src/detect/index.js';
import { repoRoot, testData } from '../support/paths.js';
import { imageToI420, iouOf, isFound, readDlibXml, readVocXml, vocFile } from './helpers.js';

const quiet = createLogger({ level: 'silent' });
const astronaut = join(testData, 'images', 'skimage_astronaut.png');
const annotated = join(testData, 'annotated');
const hasImages = existsSync(astronaut) && existsSync(join(annotated, 'dlib_pascal_faces'));
const noImages = `needs ${astronaut} and ${annotated} (set LIVEMASK_TEST_DATA)`;
/** Hand-checked box of the astronaut's face (eyebrows to chin), 512x512 image. */
const ASTRONAUT_FACE: Box = { x: 176, y: 78, w: 98, h: 98 };

function blankFrame(width: number, height: number): I420Frame {
  const data = Buffer.alloc(i420Size(width, height), 128);
  return { width, height, data, index: 0, ptsMs: 0 };
}

describe.skipIf(!hasImages)(`FaceDetector on real images (${hasImages ? 'shared data found' : noImages})`, () => {
  const detectors = new Map<DetectorMode, FaceDetector>();

  beforeAll(async () => {
    for (const mode of ['front', 'back', 'both'] as const) {
      detectors.set(mode, await FaceDetector.create({ mode, ep: 'cpu', logger: quiet }));
    }
  });
  afterAll(async () => {
    await Promise.all([...detectors.values()].map((d) => d.close()));
  });
  const get = (mode: DetectorMode): FaceDetector => {
    const d = detectors.get(mode);
    if (!d) {
      throw new Error(`no ${mode} detector`);
    }
    return d;
  };

  it.each(['front', 'back', 'both'] as const)('finds the astronaut in place (%s), key points inside the box', async (mode) => {
    const { faces, timings } = await get(mode).detect(imageToI420(astronaut));
    expect(faces).toHaveLength(1);
    const [face] = faces;
    expect(face && iouOf(face, ASTRONAUT_FACE)).toBeGreaterThan(0.75);
    expect(face?.score).toBeGreaterThan(0.8);
    const [rightEye, leftEye] = face?.keypoints ?? [];
    // The subject's right eye is on the image's left, both in the upper half of the box.
    expect(rightEye?.[0]).toBeLessThan(leftEye?.[0] ?? 0);
    for (const [x, y] of face?.keypoints?.slice(0, 4) ?? []) {
      expect(x).toBeGreaterThan(ASTRONAUT_FACE.x);
      expect(x).toBeLessThan(ASTRONAUT_FACE.x + ASTRONAUT_FACE.w);
      expect(y).toBeGreaterThan(ASTRONAUT_FACE.y);
      expect(y).toBeLessThan(ASTRONAUT_FACE.y + ASTRONAUT_FACE.h);
    }
    expect(timings.preprocessMs).toBeGreaterThan(0);
    expect(Object.keys(timings.inferenceMs).length).toBe(mode === 'both' ? 2 : 1);
  });

  // Measured: both 43/43, back 43/43, front 28/43 (front-128 is for near faces).
  it.each([
    ['both', 0.95],
    ['back', 0.95],
    ['front', 0.55],
  ] as const)('dlib PASCAL faces: %s mode recall ≥ %f', async (mode, min) => {
    let total = 0;
    let found = 0;
    for (const xml of ['training.xml', 'testing.xml']) {
      for (const [file, boxes] of readDlibXml(join(annotated, 'dlib_pascal_faces', xml))) {
        const { faces } = await get(mode).detect(imageToI420(join(annotated, 'dlib_pascal_faces', file)));
        total += boxes.length;
        found += boxes.filter((b) => isFound(b, faces)).length;
      }
    }
    expect(total).toBe(43);
    expect(found / total).toBeGreaterThanOrEqual(min);
  });

  // Measured on all 201 images: both 220/225, front 217/225, back 210/225.
  it('tfm mask/webcam faces: both mode recall ≥ 0.95 on 80 images', async () => {
    const dir = join(annotated, 'tfm_mask_webcam');
    const files = readdirSync(join(dir, 'annotations')).sort().slice(0, 80);
    let total = 0;
    let found = 0;
    for (const a of files) {
      const boxes = readVocXml(join(dir, 'annotations', a));
      const { faces } = await get('both').detect(imageToI420(join(dir, 'images', vocFile(join(dir, 'annotations', a)))));
      total += boxes.length;
      found += boxes.filter((b) => isFound(b, faces)).length;
    }
    expect(found / total).toBeGreaterThanOrEqual(0.95);
  });

  it('finds nothing in a flat grey 1080p frame (tiles included)', async () => {
    const { faces, timings } = await get('both').detect(blankFrame(1920, 1080));
    expect(faces).toEqual([]);
    expect(timings.inferenceMs.back256).toBeGreaterThan(0);
  });
});

describe('FaceDetector lifecycle and errors', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'livemask-detect-'));
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('rejects a missing model with MODEL_MISSING and says what to run', async () => {
    const dir = mkdtempSync(join(tmp, 'empty-'));
    const err: unknown = await FaceDetector.create({ mode: 'front', ep: 'cpu', modelsDir: dir, logger: quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DetectorError);
    expect((err as DetectorError).code).toBe('MODEL_MISSING');
    expect((err as DetectorError).message).toContain('node scripts/fetch-models.mjs');
  });

  it('rejects a model whose sha256 does not match the manifest with MODEL_MISMATCH', async () => {
    const dir = mkdtempSync(join(tmp, 'bad-'));
    copyFileSync(join(repoRoot, 'models', 'face_detection_front_128x128_barracuda.onnx'), join(dir, 'face_detection_front_128x128_barracuda.onnx'));
    writeFileSync(join(dir, 'face_detection_back_256x256_barracuda.onnx'), 'not a model');
    const err: unknown = await FaceDetector.create({ mode: 'both', ep: 'cpu', modelsDir: dir, logger: quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DetectorError);
    expect((err as DetectorError).code).toBe('MODEL_MISMATCH');
    expect((err as DetectorError).message).toMatch(/back256.*sha256.*node scripts\/fetch-models\.mjs/s);
    // The same folder is fine for the front model alone.
    const front = await FaceDetector.create({ mode: 'front', ep: 'cpu', modelsDir: dir, logger: quiet });
    await front.close();
  });

  it("falls back from ep 'cuda' to CPU here with exactly one warning", async () => {
    const lines: { level: number; msg: string; reason?: string }[] = [];
    const logger = createLogger({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
    const detector = await FaceDetector.create({ mode: 'both', ep: 'cuda', logger });
    try {
      // This machine has no GPU; a machine with working CUDA reports 'cuda' and logs no warning.
      const warnings = lines.filter((l) => l.level === 40);
      if (detector.executionProvider === 'cpu') {
        expect(warnings).toHaveLength(1);
        expect(warnings[0]?.msg).toMatch(/CUDA.*falling back to CPU/);
        expect(warnings[0]?.reason).toBeTruthy();
      } else {
        expect(warnings).toHaveLength(0);
      }
      const ready = lines.find((l) => l.level === 30 && l.msg === 'face detector ready') as { executionProvider?: string } | undefined;
      expect(ready?.executionProvider).toBe(detector.executionProvider);
    } finally {
      await detector.close();
    }
  });

  it('close is idempotent, rejects queued work and later detects with CLOSED', async () => {
    const detector = await FaceDetector.create({ mode: 'front', ep: 'cpu', logger: quiet });
    const pending = detector.detect(blankFrame(320, 240));
    await Promise.all([detector.close(), detector.close()]);
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    const err: unknown = await detector.detect(blankFrame(320, 240)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LivemaskError);
    expect((err as LivemaskError).code).toBe('CLOSED');
  });

  it('honours an aborted signal and rejects a short buffer', async () => {
    const detector = await FaceDetector.create({ mode: 'back', ep: 'cpu', logger: quiet });
    try {
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      await expect(detector.detect(blankFrame(320, 240), { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      const bad = { ...blankFrame(320, 240), data: Buffer.alloc(10) };
      await expect(detector.detect(bad)).rejects.toMatchObject({ code: 'BAD_USAGE' });
      // A failed run does not poison the next one.
      await expect(detector.detect(blankFrame(320, 240))).resolves.toMatchObject({ faces: [] });
    } finally {
      await detector.close();
    }
  });

  it('validates the score threshold', async () => {
    await expect(FaceDetector.create({ mode: 'front', ep: 'cpu', scoreThreshold: 1.5, logger: quiet })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });
});
