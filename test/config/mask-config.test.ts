import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { parseMaskConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/core/index.js';
import { LIVE_MASK_DEFAULTS } from '../../src/live/sessions.js';
import { createFrameDetector } from '../../src/pipeline/frame-detector.js';

describe('parseMaskConfig', () => {
  it('fills the documented defaults', () => {
    expect(parseMaskConfig({})).toMatchObject({
      style: 'pixelate',
      detector: 'both',
      ep: 'cpu',
      blocksAcross: 3,
      minBlockPx: 16,
      lookahead: 8,
      holdMs: 1000,
      requireFace: false,
      staleBudgetFrames: 2,
      detectTimeoutMs: 2000,
      tileEvery: 4,
    });
  });

  it('keeps tiles within the look-ahead: the default shrinks with it, an explicit value beyond it is refused', () => {
    expect(parseMaskConfig({ lookahead: 2 }).tileEvery).toBe(2);
    expect(parseMaskConfig({ lookahead: 0 }).tileEvery).toBe(1);
    expect(parseMaskConfig({ lookahead: 8, tileEvery: 8 }).tileEvery).toBe(8);
    try {
      parseMaskConfig({ lookahead: 3, tileEvery: 4 });
      expect.unreachable('tileEvery beyond the look-ahead was accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ZodError);
      expect((err as ZodError).issues[0]?.path).toEqual(['tileEvery']);
    }
  });

  it('names the field of a bad value', () => {
    expect(() => parseMaskConfig({ style: 'smudge' })).toThrow(/style/);
  });
});

describe('the live renditions\' detector threads', () => {
  it('runs its onnxruntime sessions on one intra-op thread by default, and on the configured number otherwise', async () => {
    const quiet = createLogger({ level: 'silent' });
    const live = await createFrameDetector(parseMaskConfig(LIVE_MASK_DEFAULTS), quiet);
    const wider = await createFrameDetector(parseMaskConfig({ ...LIVE_MASK_DEFAULTS, intraOpThreads: 3 }), quiet);
    const offline = await createFrameDetector(parseMaskConfig({}), quiet);
    try {
      expect((live as unknown as { intraOpNumThreads: number }).intraOpNumThreads).toBe(1);
      expect((wider as unknown as { intraOpNumThreads: number }).intraOpNumThreads).toBe(3);
      expect((offline as unknown as { intraOpNumThreads: number }).intraOpNumThreads).toBe(2); // the offline masker keeps 2
    } finally {
      await Promise.all([live.close(), wider.close(), offline.close()]);
    }
  });

  it('refuses 0 threads, naming the field', () => {
    expect(() => parseMaskConfig({ intraOpThreads: 0 })).toThrow(/intraOpThreads/);
  });
});
