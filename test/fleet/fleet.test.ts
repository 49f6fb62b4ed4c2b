import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { FleetClient, FleetError, FleetKeys, FleetWorker, ROOMS_QUEUE } from '../../src/fleet/index.js';
import { connectClient, deletePrefix, REDIS_URL, startWorker, testLogger, uniquePrefix, waitFor, type RecordingWorker, disposeAfterEach } from './helpers.js';

/** Integration tests of the fleet against the real Redis on 127.0.0.1:6379, one key prefix per test. */

const disposers = disposeAfterEach();

async function setup(): Promise<{ prefix: string; client: FleetClient }> {
  const prefix = uniquePrefix();
  disposers.push(() => deletePrefix(prefix));
  const client = await connectClient(prefix);
  disposers.push(() => client.close());
  return { prefix, client };
}

async function worker(prefix: string, id: string, capacity: number): Promise<RecordingWorker> {
  const w = await startWorker(prefix, id, capacity);
  disposers.push(() => w.worker.close());
  return w;
}

function holders(room: string, ...workers: RecordingWorker[]): string[] {
  return workers.filter((w) => w.assigned.some((a) => a.room === room)).map((w) => w.worker.workerId);
}

describe('fleet', () => {
  it('gives an opened room to exactly one of two workers, and opening it again changes nothing', async () => {
    const { prefix, client } = await setup();
    const a = await worker(prefix, 'worker-a', 4);
    const b = await worker(prefix, 'worker-b', 4);
    await client.openRoom('room-1', { title: 'backend interviews' });
    await client.openRoom('room-1', { title: 'opened twice' });
    const holder = await waitFor('room-1 to be assigned', () => holders('room-1', a, b)[0]);
    await client.openRoom('room-1');
    // A second room is a barrier: once it is assigned, any duplicate of room-1 would have been too.
    await client.openRoom('room-2');
    await waitFor('room-2 to be assigned', () => holders('room-2', a, b)[0]);
    expect(holders('room-1', a, b)).toEqual([holder]);
    expect([...a.assigned, ...b.assigned].filter((x) => x.room === 'room-1')).toHaveLength(1);
    const assignment = await client.assignment('room-1');
    expect(assignment).toMatchObject({ room: 'room-1', workerId: holder, publicUrl: `http://${holder}.test` });
    expect(await client.roomStatus('room-1')).toMatchObject({ state: 'held', assignment: { workerId: holder } });
  });

  it('respects capacity: one room each at capacity 1, a third waits until a room ends', async () => {
    const { prefix, client } = await setup();
    const a = await worker(prefix, 'worker-a', 1);
    const b = await worker(prefix, 'worker-b', 1);
    await client.openRoom('r1');
    await client.openRoom('r2');
    await waitFor('both rooms to be assigned', () => a.assigned.length + b.assigned.length === 2);
    expect(a.assigned).toHaveLength(1);
    expect(b.assigned).toHaveLength(1);
    expect(a.worker.heldCount + b.worker.heldCount).toBe(2);

    await client.openRoom('r3');
    // Nothing to wait for when nothing must happen: r3 has to stay queued for a while.
    const watchUntil = Date.now() + 1500;
    await waitFor('the watch over r3 to end', async () => {
      expect(await client.roomStatus('r3')).toEqual({ state: 'queued' });
      return Date.now() > watchUntil;
    });
    expect(a.assigned.length + b.assigned.length).toBe(2);

    const first = a.assigned[0]?.room ?? 'missing';
    const endedAt = Date.now();
    expect(await client.endRoom(first)).toBe('signalled');
    await waitFor('r3 to be assigned to the freed worker', () => a.assigned.some((x) => x.room === 'r3'));
    const tookMs = (a.assigned.at(-1)?.at ?? 0) - endedAt;
    console.log(`capacity: r3 taken ${tookMs} ms after ${first} ended`);
    expect(tookMs).toBeLessThan(3000);
    expect(b.assigned).toHaveLength(1);
  });

  it('ends a held room: its worker lets go, the assignment is gone, and the room can be opened again', async () => {
    const { prefix, client } = await setup();
    const a = await worker(prefix, 'worker-a', 2);
    await client.openRoom('room-x');
    await waitFor('room-x to be assigned', () => a.assigned.length === 1);
    const redis = new Redis(REDIS_URL);
    disposers.push(() => redis.quit());
    const stateKey = new FleetKeys(prefix).state('room-x');
    expect(JSON.parse((await redis.hget(stateKey, 'holder')) ?? '{}')).toMatchObject({ workerId: 'worker-a' });
    expect(a.assigned[0]?.previous).toBeUndefined();
    expect(await client.endRoom('room-x')).toBe('signalled');
    await waitFor('room-x to be released', () => a.released.length === 1);
    expect(a.released[0]).toMatchObject({ room: 'room-x', reason: 'ended' });
    expect(a.worker.heldCount).toBe(0);
    await waitFor('room-x to be gone', async () => (await client.roomStatus('room-x')).state === 'none');
    expect(await client.assignment('room-x')).toBeUndefined();
    // The room's state (holder, masks) goes with it: a room opened again starts afresh.
    expect(await redis.exists(stateKey)).toBe(0);

    await client.openRoom('room-x');
    await waitFor('room-x to be assigned again', () => a.assigned.length === 2);
    expect(a.assigned[1]?.previous).toBeUndefined();
  });

  it('removes a room that ends while queued, and says when it knows no such room', async () => {
    const { client } = await setup();
    await client.openRoom('queued-room');
    expect(await client.roomStatus('queued-room')).toEqual({ state: 'queued' });
    expect(await client.endRoom('queued-room')).toBe('removed');
    expect(await client.roomStatus('queued-room')).toEqual({ state: 'none' });
    expect(await client.endRoom('never-opened')).toBe('unknown');
    await expect(client.openRoom('bad room id')).rejects.toMatchObject({ name: 'FleetError', code: 'BAD_REQUEST' });
  });

  it('drains: a worker hands its rooms back and the other worker takes them', async () => {
    const { prefix, client } = await setup();
    const a = await worker(prefix, 'worker-a', 4);
    await client.openRoom('d1');
    await client.openRoom('d2');
    await waitFor('worker-a to hold both rooms', () => a.worker.heldCount === 2);
    const b = await worker(prefix, 'worker-b', 4);
    const drainedAt = Date.now();
    await a.worker.drain();
    expect(a.released.map((r) => r.reason)).toEqual(['drained', 'drained']);
    expect(a.worker.heldCount).toBe(0);
    await waitFor('worker-b to hold both rooms', () => b.worker.heldCount === 2);
    const tookMs = Math.max(...b.assigned.map((x) => x.at)) - drainedAt;
    console.log(`drain: both rooms on worker-b ${tookMs} ms after the drain began`);
    expect(tookMs).toBeLessThan(3000);
    expect((await client.assignment('d1'))?.workerId).toBe('worker-b');
    // A drain is not a failover.
    expect(b.assigned.map((x) => x.failovers)).toEqual([0, 0]);
    // A drained worker takes no new room.
    await client.openRoom('d3');
    await waitFor('worker-b to take d3', () => b.worker.heldCount === 3);
    expect(a.assigned).toHaveLength(2);
  });

  it('fails a room job with invalid data as unrecoverable, without blocking the queue', async () => {
    const { prefix, client } = await setup();
    const a = await worker(prefix, 'worker-a', 1);
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const raw = new Queue(ROOMS_QUEUE, { connection: redis, prefix });
    disposers.push(async () => {
      await raw.close();
      redis.disconnect();
    });
    const poison = await raw.add('room', { room: 'not a room id', params: 7 }, { jobId: 'room-poison', attempts: 5 });
    await client.openRoom('good-room');
    await waitFor('good-room to be assigned', () => a.assigned.some((x) => x.room === 'good-room'));
    const state = await waitFor('the poison job to fail', async () => ((await poison.getState()) === 'failed' ? 'failed' : undefined));
    expect(state).toBe('failed');
    const failed = await raw.getJob('room-poison');
    expect(failed?.failedReason).toMatch(/^invalid room job room-poison: room: /);
    // Unrecoverable: one attempt of the five allowed.
    expect(failed?.attemptsMade).toBe(1);
  });

  it('fails fast with REDIS_UNAVAILABLE when Redis is not there, without the password', async () => {
    const url = 'redis://:hunter2@127.0.0.1:1';
    const started = Date.now();
    const err: unknown = await FleetWorker.start({
      redisUrl: url,
      timing: { connectTimeoutMs: 1500 },
      logger: testLogger(),
      workerId: 'nowhere',
      capacity: 1,
      onRoomAssigned: () => undefined,
    }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(FleetError);
    expect(err).toMatchObject({ code: 'REDIS_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/^cannot reach Redis at 127\.0\.0\.1:1 within 1500 ms: .*ECONNREFUSED/);
    expect((err as Error).message).not.toContain('hunter2');
    expect(elapsed).toBeLessThan(3000);
    await expect(FleetClient.connect({ redisUrl: url, timing: { connectTimeoutMs: 1000 }, logger: testLogger() })).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
    });
  });
});
