import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BenchResultSchema, schemaProblems } from '../../bench/index.js';
import { repoRoot } from '../support/paths.js';

/** A real `livemask bench --quick` result (see test/fixtures/bench/README.md). */
const fixture = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'bench', 'quick-result.json'), 'utf8')) as Record<string, unknown>;

const clone = (): Record<string, unknown> => structuredClone(fixture);

/** Deletes the key at `path` (object keys and array indices) from a copy of the fixture. */
function without(path: readonly (string | number)[]): Record<string, unknown> {
  const copy = clone();
  let node: unknown = copy;
  for (const k of path.slice(0, -1)) {
    node = (node as Record<string | number, unknown>)[k];
  }
  const last = path[path.length - 1] as string | number;
  expect(node as object).toHaveProperty(String(last));
  delete (node as Record<string | number, unknown>)[last];
  return copy;
}

describe('bench result schema', () => {
  it('accepts a real --quick result', () => {
    expect(schemaProblems(fixture)).toEqual([]);
    expect(BenchResultSchema.safeParse(fixture).success).toBe(true);
  });

  it.each([
    [['machine']],
    [['machine', 'gpu']],
    [['machine', 'ep']],
    [['floorRatio']],
    [['e2eLatencyMs', 'p95']],
    [['e2eLatencyMs', 'floor']],
    [['e2eLatencyMs', 'via']],
    [['webrtc', 0, 'deliveredPct']],
    [['capacity', 'p720']],
    [['capacity', 'p360']],
    [['detectorMs', 'front128', 'p95']],
    [['detectorMs', 'back256', 'p50']],
    [['peer', 0, 'leaks']],
    [['peer', 0, 'fps']],
    [['versions', 'gstreamer']],
    [['stages', 0, 'stages', 'encode']],
  ])('rejects a result missing %j, naming it', (path) => {
    const problems = schemaProblems(without(path));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain(path.join('.'));
  });

  it('rejects a number written as a string', () => {
    expect(schemaProblems({ ...clone(), floorRatio: '1.2' })).toEqual([expect.stringMatching(/^floorRatio: /)]);
  });

  it('accepts a run whose peer was skipped, with the reason', () => {
    const skipped = { ...clone(), peer: [], peerSkipped: 'gst-launch-1.0 faceblur not installed' };
    expect(schemaProblems(skipped)).toEqual([]);
  });

  it('takes null for a latency that could not be measured (JSON has no NaN)', () => {
    const r = clone();
    r.e2eLatencyMs = { ...(r.e2eLatencyMs as object), p99: null };
    expect(schemaProblems(r)).toEqual([]);
  });
});
