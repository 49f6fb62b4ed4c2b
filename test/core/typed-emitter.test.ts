import { describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../../src/core/index.js';

type Events = { tick: [n: number]; done: [] };

describe('TypedEmitter', () => {
  it('calls listeners with typed arguments, and on() returns a disposer', () => {
    const e = new TypedEmitter<Events>();
    const seen: number[] = [];
    const off = e.on('tick', (n) => seen.push(n));
    expect(e.safeEmit('tick', 1)).toBe(true);
    off();
    expect(e.safeEmit('tick', 2)).toBe(false);
    expect(seen).toEqual([1]);
  });

  it('once() fires a single time', () => {
    const e = new TypedEmitter<Events>();
    const fn = vi.fn();
    e.once('done', fn);
    e.safeEmit('done');
    e.safeEmit('done');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('a throwing listener is reported on listenererror and the next listener still runs', () => {
    const e = new TypedEmitter<Events>();
    const boom = new Error('boom');
    const reports: [string, unknown][] = [];
    e.on('listenererror', (event, error) => reports.push([event, error]));
    e.on('tick', () => {
      throw boom;
    });
    const after = vi.fn();
    e.on('tick', after);
    expect(() => e.safeEmit('tick', 7)).not.toThrow();
    expect(after).toHaveBeenCalledWith(7);
    expect(reports).toEqual([['tick', boom]]);
  });

  it('with nobody on listenererror, the error becomes a process warning, not silence', () => {
    const e = new TypedEmitter<Events>();
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      e.on('done', () => {
        throw new Error('unheard');
      });
      expect(() => e.safeEmit('done')).not.toThrow();
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]?.[0])).toContain('unheard');
    } finally {
      spy.mockRestore();
    }
  });
});
