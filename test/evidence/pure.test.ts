import { describe, expect, it } from 'vitest';
import { checkChain, GENESIS, nextEntry, parseLog, type ChainEntry } from '../../src/evidence/hash-chain.js';
import { SegmentPlanner, TimestampUnwrapper } from '../../src/evidence/segment-planner.js';
import { scanWebm, webmFrame, webmHeader } from '../../src/evidence/webm.js';

function chain(n: number): ChainEntry[] {
  const out: ChainEntry[] = [];
  for (let i = 0; i < n; i += 1) {
    out.push(nextEntry(out.at(-1), 'e', { i }, new Date(1_700_000_000_000 + i)));
  }
  return out;
}

describe('hash chain', () => {
  it('links each entry to the one before', () => {
    const c = chain(4);
    expect(c[0]?.prev).toBe(GENESIS);
    expect(c[2]?.prev).toBe(c[1]?.hash);
    expect(checkChain(c)).toBeUndefined();
  });

  it('names an edit, a removal, a reordering and a cut line', () => {
    const edited = chain(4).map((e) => (e.seq === 2 ? { ...e, data: { i: 99 } } : e));
    expect(checkChain(edited)).toMatchObject({ kind: 'event-edited', line: 3 });
    const removed = chain(4).filter((e) => e.seq !== 1);
    expect(checkChain(removed)).toMatchObject({ kind: 'event-removed', line: 2 });
    const c = chain(4);
    const swapped = [c[0], c[2], c[1], c[3]] as ChainEntry[];
    expect(checkChain(swapped)).toMatchObject({ kind: 'event-reordered', line: 2 });
    const text = c.map((e) => `${JSON.stringify(e)}\n`).join('');
    expect(parseLog(text).problem).toBeUndefined();
    expect(parseLog(text.slice(0, -10)).problem).toMatchObject({ kind: 'log-truncated', line: 4 });
  });
});

describe('segment planner', () => {
  it('opens on a keyframe, asks once for one when due, and rolls on the next keyframe', () => {
    const p = new SegmentPlanner(4000);
    expect(p.decide({ ms: 0, keyframe: false })).toEqual({ action: 'drop', requestKeyframe: true });
    expect(p.decide({ ms: 40, keyframe: true }).action).toBe('open');
    expect(p.needsKeyframe).toBe(false);
    expect(p.decide({ ms: 4040, keyframe: false })).toEqual({ action: 'append', requestKeyframe: true });
    expect(p.needsKeyframe).toBe(true);
    expect(p.decide({ ms: 4080, keyframe: false })).toEqual({ action: 'append', requestKeyframe: false });
    expect(p.decide({ ms: 4120, keyframe: true }).action).toBe('open');
    expect(p.needsKeyframe).toBe(false);
  });

  it('rolls early at a keyframe whose resolution changed', () => {
    const p = new SegmentPlanner(10_000);
    p.decide({ ms: 0, keyframe: true, size: { width: 320, height: 180 } });
    expect(p.decide({ ms: 100, keyframe: true, size: { width: 320, height: 180 } }).action).toBe('append');
    expect(p.decide({ ms: 200, keyframe: true, size: { width: 640, height: 360 } }).action).toBe('open');
  });

  it('unwraps 32-bit RTP timestamps', () => {
    const u = new TimestampUnwrapper();
    expect(u.push(2 ** 32 - 3000)).toBe(0);
    expect(u.push(0)).toBe(3000);
    expect(u.push(3000)).toBe(6000);
  });
});

describe('webm muxer and scanner', () => {
  it('finds the end of the last whole cluster of a cut file', () => {
    const head = webmHeader({ kind: 'video', codec: 'vp8', width: 2, height: 2 });
    const frames = [0, 33, 67].map((ms) => webmFrame(Buffer.alloc(50, ms), ms, ms === 0));
    const whole = Buffer.concat([head, ...frames]);
    expect(scanWebm(whole)).toEqual({ completeBytes: whole.length, timecodes: [0, 33, 67], headerOk: true });
    const cut = scanWebm(whole.subarray(0, whole.length - 5));
    expect(cut.timecodes).toEqual([0, 33]);
    expect(cut.completeBytes).toBe(whole.length - (frames[2]?.length ?? 0));
    expect(scanWebm(head.subarray(0, 20)).headerOk).toBe(false);
  });
});
