import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceRecorder, verify } from '../../src/evidence/index.js';
import { runCli } from '../support/cli.js';
import { hasTestData, noDataReason } from '../support/paths.js';
import { readIvf, sourceIvf, type SourceFrame } from './helpers.js';

/**
 * A room recorded by two fleet workers in turn, as after a failover: the
 * second worker's session logs `room:failover`. Verifying the room states
 * which session continues which, and the gap in the recording between them.
 * Arrival times are given, so the gap is known exactly.
 */

const ROOM = 'moved-room';

describe.skipIf(!hasTestData)(`a room's continuity across fleet workers${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  const keys = generateKeyPairSync('ed25519');
  let work: string;
  let root: string;
  let frames: SourceFrame[];
  const t0 = Date.now();

  async function record(sessionId: string, workerId: string, arrivalStart: number, events: [string, Record<string, unknown>][]): Promise<void> {
    const recorder = new EvidenceRecorder({ root, room: ROOM, sessionId, signingKey: keys.privateKey, workerId });
    await recorder.start();
    for (const [type, data] of events) {
      recorder.event(type, data);
    }
    const video = recorder.addVideoTrack('alice', 'vp8');
    for (const f of frames) {
      video.pushFrame({ data: f.data, timestamp90k: Math.round(f.ms * 90), keyframe: f.keyframe, arrivalMs: arrivalStart + f.ms });
    }
    const closed = await recorder.close();
    if (!closed.ok) {
      throw closed.error;
    }
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-continuity-'));
    root = join(work, 'data', 'evidence');
    frames = readIvf(await sourceIvf(4));
    await record('s1-a', 'worker-a', t0, [['room:mask-on', { participant: 'alice', roomSeq: 1 }]]);
    // worker-a's media stops at t0 + last frame; worker-b records from t0 + 9 s.
    await record('s2-b', 'worker-b', t0 + 9000, [
      ['room:failover', { fromWorker: 'worker-a', toWorker: 'worker-b', fromSince: new Date(t0).toISOString(), failovers: 1, roomSeq: 1, roomAt: new Date(t0 + 8000).toISOString() }],
    ]);
    // A handover from a worker whose evidence is on another host, not here.
    await record('s3-c', 'worker-c', t0 + 20_000, [['room:handover', { fromWorker: 'worker-z', toWorker: 'worker-c', releasedAt: new Date(t0 + 19_000).toISOString(), roomSeq: 1 }]]);
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('verifies as one room, stating each takeover with the session it continues and the gap', async () => {
    const result = await verify(root, ROOM, keys.publicKey);
    expect(result).toMatchObject({ ok: true, counts: { sessions: 3 } });
    if (!result.ok || !result.continuity) {
      throw new Error('no continuity');
    }
    expect(result.continuity.sessions.map((s) => [s.sessionId, s.workerId])).toEqual([['s1-a', 'worker-a'], ['s2-b', 'worker-b'], ['s3-c', 'worker-c']]);
    const lastMs = frames.at(-1)?.ms ?? 0;
    const [failover, handover] = result.continuity.takeovers;
    expect(failover).toEqual({
      type: 'failover', sessionId: 's2-b', fromWorker: 'worker-a', toWorker: 'worker-b', at: new Date(t0 + 8000).toISOString(),
      previousSessionId: 's1-a', gapMs: 9000 - Math.trunc(lastMs), // wall times are kept to the ms
    });
    expect(handover).toMatchObject({ type: 'handover', sessionId: 's3-c', fromWorker: 'worker-z' });
    expect(handover?.previousSessionId).toBeUndefined();
    expect(handover?.gapMs).toBeUndefined();
    // Verifying one session says nothing about the others.
    expect(await verify(root, ROOM, keys.publicKey, 's2-b')).not.toHaveProperty('continuity');
  });

  it('livemask evidence verify prints each takeover and its gap', async () => {
    const env = { LIVEMASK_EVIDENCE_PUBLIC_KEY: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
    const run = await runCli(['evidence', 'verify', ROOM, '--data', join(work, 'data')], env);
    expect(run.code).toBe(0);
    const gap = ((9000 - Math.trunc(frames.at(-1)?.ms ?? 0)) / 1000).toFixed(1);
    expect(run.out).toContain(`failover at ${new Date(t0 + 8000).toISOString()}: worker-a -> worker-b, continues session s1-a in session s2-b; ${gap} s not recorded`);
    expect(run.out).toContain('handover at');
    expect(run.out).toContain('no session of worker-z under this evidence root');
  });
});
