import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMaskConfig } from '../../src/config/index.js';
import { createLogger, DetectorError, type I420Frame } from '../../src/core/index.js';
import { FaceDetector } from '../../src/detect/index.js';
import { maskFile, type FrameDetector } from '../../src/pipeline/index.js';
import { decodeAll, lumaStdDev } from '../support/frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'livemask-failclosed-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const logger = createLogger({ level: 'silent' });

/**
 * FAULT INJECTION (a mock, on purpose): a real BlazeFace model cannot be made
 * to throw or hang on demand, so these wrap the real detector and make chosen
 * frames fail. Every other frame goes through the real model.
 */
function faulty(kind: 'throw' | 'stall', frames: Set<number>): (c: ReturnType<typeof parseMaskConfig>) => Promise<FrameDetector> {
  return async (config) => {
    const real = await FaceDetector.create({ mode: config.detector, ep: 'cpu', logger });
    return {
      executionProvider: real.executionProvider,
      close: () => real.close(),
      detect: (frame: I420Frame, options?: { signal?: AbortSignal }) => {
        if (!frames.has(frame.index)) {
          return real.detect(frame, options);
        }
        if (kind === 'throw') {
          return Promise.reject(new DetectorError('DETECTOR_FAILED', `injected failure on frame ${frame.index}`));
        }
        return new Promise((_, reject) => {
          options?.signal?.addEventListener('abort', () => reject(new Error('stalled detection abandoned')), { once: true });
        });
      },
    };
  };
}

const UNIFORM = 1.0;

describe.skipIf(!hasTestData)(`fail-closed file masking (${hasTestData ? 'real clip' : noDataReason})`, () => {
  it('fully masks every frame whose detection throws, and only those', async () => {
    const bad = new Set([20, 21, 22, 40]);
    const output = join(work, 'throw.mp4');
    const report = await maskFile({
      input: clipPath('lp_driving_d0'),
      output,
      config: parseMaskConfig({ lookahead: 0 }),
      logger,
      createDetector: faulty('throw', bad),
    });
    expect(report.totals.detectorErrors).toBe(bad.size);
    const failsafe = report.frames.filter((f) => f.failsafe).map((f) => f.i);
    for (const i of bad) {
      expect(failsafe).toContain(i);
      expect(report.frames[i]?.reason).toBe('detector-error');
    }
    const decoded = await decodeAll(output);
    expect(decoded).toHaveLength(78);
    for (const i of bad) {
      expect(lumaStdDev(decoded[i] as I420Frame), `frame ${i} is uniform`).toBeLessThan(UNIFORM);
    }
    // A healthy frame keeps its picture outside the face box.
    expect(lumaStdDev(decoded[10] as I420Frame)).toBeGreaterThan(10);
  });

  it('fails closed when the detector stalls, and still finishes the file', async () => {
    const stalled = new Set([10, 11, 12]);
    const output = join(work, 'stall.mp4');
    const report = await maskFile({
      input: clipPath('lp_driving_d0'),
      output,
      config: parseMaskConfig({ lookahead: 0, detectTimeoutMs: 200 }),
      logger,
      createDetector: faulty('stall', stalled),
    });
    expect(report.totals.frames).toBe(78);
    expect(report.totals.detectorErrors).toBe(3);
    const decoded = await decodeAll(output);
    for (const i of stalled) {
      expect(report.frames[i]?.failsafe).toBe(true);
      expect(lumaStdDev(decoded[i] as I420Frame)).toBeLessThan(UNIFORM);
    }
    expect(report.events.some((e) => e.type === 'failsafe-engaged')).toBe(true);
    expect(report.events.some((e) => e.type === 'failsafe-cleared')).toBe(true);
  });
});
