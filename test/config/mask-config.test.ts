import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { parseMaskConfig } from '../../src/config/index.js';

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
