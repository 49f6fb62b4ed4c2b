import { generateKeyPairSync } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DAY_MS, readAudit, verifyBundle } from '../../src/evidence/index.js';
import { FleetWorker } from '../../src/fleet/index.js';
import { EvidenceJobs, EvidenceWorker, evidenceQueueName, type FinaliseResult } from '../../workers/evidence-worker.js';
import { readIvf, recordSession, sourceIvf, type SourceFrame } from '../evidence/helpers.js';
import { hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { connectClient, deletePrefix, disposeAfterEach, REDIS_URL, testLogger, uniquePrefix, waitFor } from './helpers.js';

/** The evidence jobs (workers/evidence-worker.ts) against the real Redis, one key prefix per test. */

const keys = generateKeyPairSync('ed25519');
const disposers = disposeAfterEach();

/** A sealed, signed session of a few frames of the face clip; `t0` is the first frame's arrival. */
async function record(root: string, room: string, sessionId: string, frames: readonly SourceFrame[]): Promise<number> {
  return (await recordSession(root, room, sessionId, frames, keys.privateKey)).t0;
}

/** A room's audit entries, each as its action (the entry type) with its fields. */
async function auditOf(root: string, room: string): Promise<Record<string, unknown>[]> {
  return (await readAudit(root, room)).map((e) => ({ action: e.type, ...e.data }));
}

describe.skipIf(!hasTestData)(`evidence jobs${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let work: string;
  let frames: SourceFrame[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-evidence-jobs-'));
    frames = readIvf(await sourceIvf(12)).slice(0, 20);
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  function setup(name: string): { prefix: string; data: string; root: string; queue: Queue } {
    const prefix = uniquePrefix();
    disposers.push(() => deletePrefix(prefix));
    const data = join(work, name);
    const queue = new Queue(evidenceQueueName('node-a'), { connection: { url: REDIS_URL }, prefix });
    disposers.push(() => queue.close());
    return { prefix, data, root: join(data, 'evidence'), queue };
  }

  async function startEvidence(prefix: string, data: string, extra: { sweepEveryMs?: number; retentionDays?: number } = {}): Promise<EvidenceWorker> {
    const w = await EvidenceWorker.start({
      redisUrl: REDIS_URL, prefix, node: 'node-a', root: join(data, 'evidence'), exportsDir: join(data, 'exports'),
      publicKey: keys.publicKey, signingKey: keys.privateKey, retentionDays: extra.retentionDays ?? 90, sealWaitMs: 1000, logger: testLogger(),
      ...(extra.sweepEveryMs !== undefined ? { sweepEveryMs: extra.sweepEveryMs } : {}),
    });
    disposers.push(() => w.close());
    return w;
  }

  async function jobsNamed(queue: Queue, name: string, states: ('completed' | 'failed' | 'active' | 'wait')[]): Promise<Job[]> {
    return (await queue.getJobs(states)).filter((j) => j.name === name);
  }

  it('runs a sweep tick once across two workers of a node, deleting only the expired sessions', async () => {
    const { prefix, data, root, queue } = setup('sweep');
    // Sessions recorded 200 days ago: the clock, not the signed files, is set back.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 200 * DAY_MS });
    try {
      await record(root, 'room-old', 's-old', frames);
    } finally {
      vi.useRealTimers();
    }
    await record(root, 'room-new', 's-new', frames);

    await startEvidence(prefix, data, { retentionDays: 1, sweepEveryMs: 3_600_000 });
    await startEvidence(prefix, data, { retentionDays: 1, sweepEveryMs: 3_600_000 });
    const [done] = await waitFor('the first sweep tick to complete', async () => {
      const jobs = await jobsNamed(queue, 'sweep', ['completed']);
      return jobs.length > 0 ? jobs : undefined;
    });
    // Nothing to wait for when nothing must happen: no second run of the tick for a while.
    const watchUntil = Date.now() + 1500;
    await waitFor('the watch over the sweep to end', () => Date.now() > watchUntil);
    expect(await jobsNamed(queue, 'sweep', ['completed', 'failed', 'active', 'wait'])).toHaveLength(1);
    expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual(['sweep']);
    const result = done?.returnvalue as { deleted: { room: string; sessionId: string }[]; kept: { room: string; sessionId: string }[] };
    expect(result.deleted.map((s) => `${s.room}/${s.sessionId}`)).toEqual(['room-old/s-old']);
    expect(result.kept.map((s) => `${s.room}/${s.sessionId}`)).toEqual(['room-new/s-new']);
    expect(existsSync(join(root, 'room-old', 's-old'))).toBe(false);
    expect(existsSync(join(root, 'room-new', 's-new'))).toBe(true);
    expect(await auditOf(root, 'room-old')).toContainEqual(expect.objectContaining({ action: 'sweep-delete', actor: 'system', session: 's-old' }));
  });

  it('exports through a job: the bundle verifies and the export is audited; a poison job fails for good without blocking the next', async () => {
    const { prefix, data, root, queue } = setup('export');
    const t0 = await record(root, 'room-x', 's-1', frames);
    await startEvidence(prefix, data);
    const jobs = await EvidenceJobs.connect({ redisUrl: REDIS_URL, prefix, logger: testLogger() });
    disposers.push(() => jobs.close());

    const poison = await queue.add('export', { room: '../etc', from: 'yesterday' }, { attempts: 3 });
    const wrongNode = await jobs.requestExport('node-a', { room: 'room-elsewhere', from: new Date(t0).toISOString(), to: new Date(t0 + 500).toISOString(), actor: 'ops-1', reason: 'dispute 7' });
    const good = await jobs.requestExport('node-a', { room: 'room-x', from: new Date(t0 - 1000).toISOString(), to: new Date(t0 + 600).toISOString(), actor: 'ops-1', reason: 'dispute 7' });

    const result = await good.result({ timeoutMs: 30_000 });
    expect(result.sessions).toEqual(['s-1']);
    expect(await verifyBundle(join(data, 'exports', 'room-x', result.id), keys.publicKey)).toMatchObject({ ok: true });
    expect(await auditOf(root, 'room-x')).toContainEqual(expect.objectContaining({ action: 'export', actor: 'ops-1', reason: 'dispute 7', export: result.id, reportSha256: result.reportSha256 }));

    await expect(wrongNode.result({ timeoutMs: 10_000 })).rejects.toThrow(/EVIDENCE_NOT_FOUND: no evidence of room room-elsewhere on evidence node node-a/);
    const failed = await waitFor('the poison job to fail', async () => ((await poison.getState()) === 'failed' ? queue.getJob(poison.id ?? '') : undefined));
    expect(failed?.failedReason).toMatch(/^invalid export job data: room: /);
    // UnrecoverableError: no retry despite attempts 3.
    expect(failed?.attemptsMade).toBe(1);
    await expect(jobs.requestExport('node-a', { room: 'room-x', from: 'x', to: 'y', actor: '', reason: 'r' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  }, 60_000);

  it('finalises a room when it ends: a verify child per session, then one verify audit entry by system', async () => {
    const { prefix, data, root, queue } = setup('finalise');
    await record(root, 'room-f', 's-1', frames);
    await record(root, 'room-f', 's-2', frames);
    const evidence = await startEvidence(prefix, data);
    const flows: string[] = [];
    const fleet = await FleetWorker.start<undefined>({
      redisUrl: REDIS_URL, prefix, logger: testLogger(), workerId: 'worker-a', capacity: 1, publicUrl: 'http://worker-a.test',
      onRoomAssigned: () => undefined,
      onRoomReleased: async (room, _handle, reason) => {
        if (reason === 'ended') {
          flows.push((await evidence.finaliseRoom(room)) ?? 'none');
        }
      },
    });
    disposers.push(() => fleet.close());
    const client = await connectClient(prefix);
    disposers.push(() => client.close());
    await client.openRoom('room-f');
    await waitFor('room-f to be held', async () => (await client.roomStatus('room-f')).state === 'held');
    await client.endRoom('room-f');
    const id = await waitFor('the finalise flow to be queued', () => flows[0]);
    const parent = await waitFor('the finalise job to complete', async () => ((await queue.getJobState(id)) === 'completed' ? queue.getJob(id) : undefined), 20_000);
    const result = parent?.returnvalue as FinaliseResult;
    expect(result).toMatchObject({ room: 'room-f', intact: true });
    expect(result.sessions.map((s) => [s.session, s.intact, s.recovered])).toEqual([['s-1', true, false], ['s-2', true, false]]);
    expect(await jobsNamed(queue, 'verify-session', ['completed'])).toHaveLength(2);
    expect(await auditOf(root, 'room-f')).toContainEqual(expect.objectContaining({ action: 'verify', actor: 'system', reason: 'room ended', intact: true, sessions: ['s-1', 's-2'] }));
    // A room that recorded nothing on this node queues nothing.
    expect(await evidence.finaliseRoom('room-none')).toBeUndefined();
  }, 40_000);

  it('finalise waits for the manifest\'s signature, which the recorder writes after the manifest, before it verifies', async () => {
    const { prefix, data, root, queue } = setup('finalise-signing');
    await record(root, 'room-s', 's-1', frames);
    // The moment between the recorder's two writes: manifest.json is there, manifest.sig not yet.
    const sig = join(root, 'room-s', 's-1', 'manifest.sig');
    await rename(sig, `${sig}.later`);
    const evidence = await startEvidence(prefix, data); // waits up to 1 s for a seal
    const id = await evidence.finaliseRoom('room-s');
    await new Promise((r) => setTimeout(r, 600));
    await rename(`${sig}.later`, sig);
    const parent = await waitFor('the finalise job to complete', async () => ((await queue.getJobState(id ?? '')) === 'completed' ? queue.getJob(id ?? '') : undefined), 20_000);
    expect(parent?.returnvalue).toMatchObject({ room: 'room-s', intact: true, sessions: [{ session: 's-1', recovered: false, intact: true }] });
  }, 40_000);

  it('finalise seals with recover a session left open by a killed recorder, then verifies it', async () => {
    const { prefix, data, root, queue } = setup('finalise-killed');
    const keyPath = join(work, 'finalise-key.pem');
    await writeFile(keyPath, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const progress = join(work, 'finalise-progress');
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/evidence/fixtures/crash-recorder.ts'), root, await sourceIvf(12), progress, keyPath], {
      cwd: repoRoot, stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    disposers.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exited;
    });
    await waitFor('the recorder to push 1.5 s', () => existsSync(progress) && Number(readFileSync(progress, 'utf8') || '0') >= 1500, 30_000);
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(root, 'crash-room', 'crash-1', 'manifest.json'))).toBe(false);

    const evidence = await startEvidence(prefix, data);
    const id = await evidence.finaliseRoom('crash-room');
    const parent = await waitFor('the finalise job to complete', async () => ((await queue.getJobState(id ?? '')) === 'completed' ? queue.getJob(id ?? '') : undefined), 20_000);
    expect(parent?.returnvalue).toMatchObject({ room: 'crash-room', intact: true, sessions: [{ session: 'crash-1', recovered: true, intact: true }] });
    expect(await auditOf(root, 'crash-room')).toContainEqual(expect.objectContaining({ action: 'verify', actor: 'system', reason: 'room ended', intact: true, recovered: ['crash-1'] }));
  }, 60_000);
});
