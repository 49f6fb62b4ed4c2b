import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { I420Frame } from '../../src/core/index.js';
import { FaceDetector } from '../../src/detect/index.js';
import { parseMaskConfig } from '../../src/config/index.js';
import { LIVE_MASK_DEFAULTS } from '../../src/live/sessions.js';
import { createWorkerFrameDetector, SharedDetectorThread, sharedDetectorStats, WorkerFrameDetector } from '../../src/pipeline/worker-detector.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { createLogger } from '../../src/core/index.js';
import { decodeAll } from '../support/frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

/**
 * The live renditions' detector on its own thread, against the same
 * BlazeFace in this thread, on real face frames: the same boxes; a
 * detection abandoned by its deadline rejects at once and the next one
 * works; closing while a detection runs neither crashes the process nor
 * leaves a promise hanging; after close every detection fails (the planner
 * then masks whole frames).
 */

const logger = createLogger({ level: 'silent' });
const options = { mode: 'back', ep: 'cpu', intraOpNumThreads: 1 } as const;

describe.skipIf(!hasTestData)(`detector on a worker thread${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let frames: I420Frame[];
  let local: FaceDetector;
  let remote: WorkerFrameDetector;

  beforeAll(async () => {
    frames = await decodeAll(clipPath('clm_franck_talking_face'), 6);
    local = await FaceDetector.create({ ...options, logger });
    remote = await WorkerFrameDetector.create(options, logger);
  });

  afterAll(async () => {
    await local.close();
    await remote.close();
  });

  it('finds the same faces as the detector on this thread, frame by frame', async () => {
    expect(frames.length).toBe(6);
    for (const frame of frames) {
      const mine = await local.detect(frame);
      const theirs = await remote.detect(frame);
      expect(theirs.faces.length).toBe(1);
      expect(theirs.faces.map((f) => [f.x, f.y, f.w, f.h].map((v) => Math.round(v)))).toEqual(mine.faces.map((f) => [f.x, f.y, f.w, f.h].map((v) => Math.round(v))));
      expect(theirs.timings.inferenceMs.back256).toBeGreaterThan(0);
    }
    expect(remote.executionProvider).toBe('cpu');
    // The caller's frame is left as it was (a copy is transferred).
    expect(frames[0]?.data.length).toBe(((frames[0]?.width ?? 0) * (frames[0]?.height ?? 0) * 3) / 2);
  });

  it('rejects an abandoned detection at once, and the next one still gets its own answer', async () => {
    const frame = frames[1] as I420Frame;
    const abort = new AbortController();
    const abandoned = remote.detect(frame, { signal: abort.signal });
    abort.abort(new Error('deadline'));
    await expect(abandoned).rejects.toThrow('deadline');
    const next = await remote.detect(frames[2] as I420Frame);
    expect(next.faces.length).toBe(1);
  });

  it('closes while a detection runs: the detection rejects, the thread ends, and later detections fail closed', async () => {
    const d = await WorkerFrameDetector.create(options, logger);
    const running = d.detect(frames[3] as I420Frame);
    const settled = running.then(() => 'resolved', (err: unknown) => (err instanceof Error ? err.message : String(err)));
    const started = Date.now();
    await d.close();
    // Well under the 5 s after which a thread that does not end is terminated: it ended itself.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await settled).toMatch(/closed|resolved/);
    await expect(d.detect(frames[4] as I420Frame)).rejects.toMatchObject({ code: 'DETECTOR_FAILED' });
    await d.close(); // idempotent
  });

  it('fails to start with the loader\'s error when the models cannot load', async () => {
    await expect(WorkerFrameDetector.create({ ...options, modelsDir: '/nonexistent' }, logger)).rejects.toMatchObject({ code: 'MODEL_MISSING' });
  });

  it('puts the renditions of a batching configuration on one shared thread, whose detections share inference calls', async () => {
    const config = parseMaskConfig({ ...LIVE_MASK_DEFAULTS, detectBatch: 4, detectBatchWaitMs: 50 });
    const before = (await sharedDetectorStats()).back256?.frames ?? 0;
    const streams = await Promise.all([0, 1, 2].map(() => createWorkerFrameDetector(config, logger)));
    try {
      for (let round = 0; round < 2; round++) {
        const results = await Promise.all(streams.map((d, k) => d.detect(frames[k + round] as I420Frame)));
        for (const [k, r] of results.entries()) {
          const mine = await local.detect(frames[k + round] as I420Frame);
          expect(r.faces.map((f) => [f.x, f.y, f.w, f.h].map((v) => Math.round(v)))).toEqual(mine.faces.map((f) => [f.x, f.y, f.w, f.h].map((v) => Math.round(v))));
          expect(r.faces.length).toBe(1);
        }
      }
      // One stream closing leaves the others working.
      await streams[0]?.close();
      await expect(streams[0]?.detect(frames[0] as I420Frame)).rejects.toMatchObject({ code: 'DETECTOR_FAILED' });
      expect((await streams[1]?.detect(frames[1] as I420Frame))?.faces.length).toBe(1);
    } finally {
      await Promise.all(streams.map((d) => d.close()));
    }
    // Seven detections went through the shared thread, in calls of more than one frame; the count outlives the thread, and /metrics shows it.
    const after = (await sharedDetectorStats()).back256;
    expect((after?.frames ?? 0) - before).toBe(7);
    expect(Math.max(...Object.keys(after?.bySize ?? {}).map(Number))).toBeGreaterThan(1);
    let reads = 0;
    const counted = (): ReturnType<typeof sharedDetectorStats> => {
      reads += 1;
      return sharedDetectorStats();
    };
    const text = await new ServerMetrics({ roomCount: () => 0, defaultMetrics: false, detectorBatches: counted }).render();
    expect(reads).toBe(1); // both gauges from one read of the threads' stats
    expect(text).toMatch(new RegExp(`^livemask_detector_batched_frames\\{model="back256"\\} ${after?.frames ?? -1}$`, 'm'));
    expect(text).toMatch(/^livemask_detector_batched_calls\{model="back256",size="[2-4]"\} [1-9]/m);
    // The last stream closed the shared thread; a later rendition still gets a working detector (on a new one).
    const again = await createWorkerFrameDetector(config, logger);
    expect((await again.detect(frames[0] as I420Frame)).faces.length).toBe(1);
    await again.close();
  });

  it('gives a rendition that starts while the shared thread closes (its last stream just left) a new thread, not the closing one', async () => {
    const config = parseMaskConfig({ ...LIVE_MASK_DEFAULTS, detectBatch: 2, detectBatchWaitMs: 1 });
    const first = await createWorkerFrameDetector(config, logger);
    expect((await first.detect(frames[0] as I420Frame)).faces.length).toBe(1);
    const starting = createWorkerFrameDetector(config, logger); // finds the thread registered, and waits for it
    const closing = first.close(); // meanwhile the thread's last stream leaves: it retires
    const next = await starting;
    try {
      expect((await next.detect(frames[1] as I420Frame)).faces.length).toBe(1);
      await closing;
      expect((await next.detect(frames[2] as I420Frame)).faces.length).toBe(1);
    } finally {
      await next.close();
    }
  });

  it('counts the shared thread\'s calls by batch size, and fails every stream closed when the thread closes', async () => {
    const thread = await SharedDetectorThread.start(options, { maxBatch: 3, maxWaitMs: 50 }, logger);
    const streams = await Promise.all([0, 1, 2].map(() => thread.attach()));
    expect(thread.streams).toBe(3);
    await Promise.all(streams.map((d, k) => d.detect(frames[k] as I420Frame)));
    const stats = (await thread.stats()).back256;
    // Three streams within the 50 ms wait (the most allowed; a full batch goes at once): one call of three frames.
    expect(stats?.bySize[3]).toBeGreaterThanOrEqual(1);
    expect(stats?.frames).toBe(3);
    const running = streams.map((d, k) => d.detect(frames[k + 3] as I420Frame).then(() => 'resolved', (err: unknown) => (err as { code?: string }).code));
    await thread.close();
    for (const outcome of await Promise.all(running)) {
      expect(outcome).toMatch(/DETECTOR_FAILED|resolved/);
    }
    for (const d of streams) {
      await expect(d.detect(frames[0] as I420Frame)).rejects.toMatchObject({ code: 'DETECTOR_FAILED' });
    }
  });
});
