import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LivemaskClient } from '../../src/client/index.js';
import { FLEET_DEFAULTS, lockRenewMs, type FleetClient } from '../../src/fleet/index.js';
import { FfmpegSource, Publisher, Subscriber } from '../live/peers.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { collectEvents, connectClient, disposeAfterEach, testLogger, waitFor } from './helpers.js';
import { demoToken, FleetServeProcess, freePort } from './serve-process.js';

/**
 * Redis restarts while a fleet room is live (issue 5). A private
 * `redis-server` (its own port and directory, never the shared one on 6379)
 * runs with an append-only file fsynced on every write, so that a restart
 * keeps the queue: the room jobs, their locks and the assignments. Production
 * Redis must persist the same way (AOF, or at least RDB on shutdown): a Redis
 * that comes back empty has forgotten every room.
 *
 * Two real `livemask serve` workers join the fleet on it; a real WebRTC
 * publisher (ffmpeg VP8) publishes to the room's holder and a hiring-side
 * subscriber receives it. Redis is stopped with SIGTERM (it flushes the AOF)
 * and started again on the same port and directory.
 * - Down for less than the lock: the media never stops (the media path does
 *   not touch Redis), both workers reconnect (`livemask_fleet_redis_connected`
 *   goes 0 then back to 1), the same worker still holds the room with the
 *   same assignment and an active job (no failover, no `room-moved`), and the
 *   queue works again: a new room is taken, commands reach the holder, rooms end.
 * - Down for longer than the lock: the room's lock is gone when Redis comes
 *   back, so the room may move; afterwards exactly one worker holds it and the
 *   client's assignment agrees with it.
 */

const CLIP = 'clm_franck_talking_face';
/**
 * Shorter than what a worker rides out (fleet-options.ts): the lock, less one
 * renewal interval, less the reconnect delay and Redis's own start, with room
 * to spare on a loaded machine.
 */
const SHORT_OUTAGE_MS = FLEET_DEFAULTS.lockDurationMs - lockRenewMs(FLEET_DEFAULTS) - 1500;
/** Longer than the lock: every room lock has expired when Redis comes back. */
const LONG_OUTAGE_MS = FLEET_DEFAULTS.lockDurationMs + 2000;
const disposers = disposeAfterEach();

/** A private redis-server with an fsynced append-only file, restartable on the same port and directory. */
class PrivateRedis {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  #exited: Promise<unknown[]> | undefined;
  #log = '';

  constructor(port: number) {
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), 'livemask-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#log = '';
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (this.#log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.#log += d.toString()));
    this.#child = child;
    this.#exited = once(child, 'close');
    await waitFor(
      `redis-server on port ${this.port} (log: ${this.#log.slice(-500)})`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`redis-server exited: ${this.#log.slice(-800)}`);
        }
        return this.#log.includes('Ready to accept connections');
      },
      10_000,
    );
  }

  /** SIGTERM: Redis flushes the AOF and exits; resolves once it is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
    await this.#exited;
    this.#child = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Fleet {
  redis: PrivateRedis;
  workers: FleetServeProcess[];
  client: LivemaskClient;
  fleet: FleetClient;
}

async function startFleet(): Promise<Fleet> {
  const redis = new PrivateRedis(await freePort());
  disposers.push(() => redis.dispose());
  await redis.start();
  const dataDir = mkdtempSync(join(tmpdir(), 'livemask-restart-'));
  disposers.push(() => rm(dataDir, { recursive: true, force: true }));
  const workers: FleetServeProcess[] = [];
  for (let i = 0; i < 2; i += 1) {
    const port = await freePort();
    const worker = new FleetServeProcess({ port, redisUrl: redis.url, capacity: 2, dataDir: join(dataDir, String(port)) });
    disposers.push(() => worker.stop());
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => w.ready()));
  const client = await LivemaskClient.connect({ redisUrl: redis.url, logger: testLogger(), commandTimeoutMs: 5000 });
  disposers.push(() => client.close());
  const fleet = await connectClient('livemask', redis.url);
  disposers.push(() => fleet.close());
  return { redis, workers, client, fleet };
}


/** A publisher fed by ffmpeg and a hiring-side subscriber, on the room's holder. */
async function liveMedia(url: string, room: string): Promise<Subscriber> {
  const publisher = new Publisher();
  const source = new FfmpegSource();
  const subscriber = new Subscriber();
  disposers.push(async () => {
    await source.stop();
    await publisher.session?.pc.close();
    await subscriber.session?.pc.close();
  });
  await publisher.publish(url, room, await demoToken(url, room, 'recruiter', 'rita'));
  await source.start(clipPath(CLIP), (kind, packet) => publisher.write(kind, packet));
  await subscriber.subscribe(url, room, 'rita', await demoToken(url, room, 'recruiter', 'rex'));
  await waitFor(`video at the subscriber (ffmpeg: ${source.stderr})`, () => subscriber.count('video') >= 30, 15_000);
  return subscriber;
}


/** The largest gap between video packets that arrived from `from` to `to`. */
function largestGap(subscriber: Subscriber, from: number, to: number): number {
  const times = subscriber.received.filter((r) => r.kind === 'video' && r.at >= from && r.at <= to).map((r) => r.at);
  let gap = times.length > 0 ? Math.max((times[0] ?? from) - from, to - (times.at(-1) ?? to)) : to - from;
  for (let i = 1; i < times.length; i += 1) {
    gap = Math.max(gap, (times[i] ?? 0) - (times[i - 1] ?? 0));
  }
  return gap;
}

/** Stops Redis, waits `downMs`, starts it again; resolves with when it went down and came back. */
async function restartRedis(fleet: Fleet, downMs: number): Promise<{ downAt: number; upAt: number; sawDisconnected: boolean[] }> {
  await fleet.redis.stop();
  const downAt = Date.now();
  // Both workers notice: their gauge reads 0 while Redis is down.
  const sawDisconnected = fleet.workers.map(() => false);
  while (Date.now() - downAt < downMs) {
    const values = await Promise.all(fleet.workers.map((w) => w.gauge('livemask_fleet_redis_connected')));
    values.forEach((v, i) => {
      if (v === 0) {
        sawDisconnected[i] = true;
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await fleet.redis.start();
  return { downAt, upAt: Date.now(), sawDisconnected };
}

async function bothReconnected(fleet: Fleet): Promise<void> {
  await waitFor(
    'both workers to report livemask_fleet_redis_connected 1',
    async () => (await Promise.all(fleet.workers.map((w) => w.gauge('livemask_fleet_redis_connected')))).every((v) => v === 1),
    15_000,
  );
}

describe.skipIf(!hasTestData)(`Redis restart mid-room${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  it(`keeps the room, its media and its holder through a Redis outage of ${SHORT_OUTAGE_MS} ms (lock ${FLEET_DEFAULTS.lockDurationMs} ms), and the queue works again`, async () => {
    const fleet = await startFleet();
    const { client } = fleet;
    const room = 'restart-room';
    const started = await client.startRoom({ roomId: room });
    const holder = fleet.workers.find((w) => w.publicUrl === started.url);
    const other = fleet.workers.find((w) => w !== holder);
    if (!holder || !other) {
      throw new Error(`no worker advertises ${started.url}`);
    }
    const before = await fleet.fleet.assignment(room);
    const { stream, seen } = collectEvents(client, room, disposers);
    await stream.ready;
    const subscriber = await liveMedia(started.url, room);
    expect(await holder.gauge('livemask_fleet_redis_connected')).toBe(1);

    const { downAt, upAt, sawDisconnected } = await restartRedis(fleet, SHORT_OUTAGE_MS);
    expect(sawDisconnected).toEqual([true, true]);
    await bothReconnected(fleet);
    const reconnectedMs = Date.now() - upAt;

    // Live media never depended on Redis.
    await waitFor('video after the restart', () => subscriber.count('video', Date.now() - 500) > 0, 5000);
    const end = Date.now();
    const gap = largestGap(subscriber, downAt - 1000, end);
    console.log(`redis restart: down ${upAt - downAt} ms, workers reconnected ${reconnectedMs} ms after it was up, largest video gap ${gap} ms`);
    expect(gap).toBeLessThan(1000);

    // No failover: the same worker holds the room, with the same assignment (`since` unchanged), and its job is active ('held' reads the job's state).
    expect(await fleet.fleet.roomStatus(room)).toEqual({ state: 'held', assignment: before });
    // The queue works again: a new room is taken, commands reach the holder, rooms end.
    const second = await client.startRoom({ roomId: 'after-restart', timeoutMs: 20_000 });
    expect(fleet.workers.some((w) => w.workerIdPattern.test(second.workerId))).toBe(true);
    expect(await client.setMask(room, 'alice', true)).toEqual({ workerId: started.workerId, changed: true });
    expect(await client.setMask('after-restart', 'bob', true)).toEqual({ workerId: second.workerId, changed: true });
    // Past a full lock period after the restart, still no move.
    await waitFor('a lock period after the restart', () => Date.now() - upAt > FLEET_DEFAULTS.lockDurationMs, FLEET_DEFAULTS.lockDurationMs + 1000);
    expect(await fleet.fleet.roomStatus(room)).toEqual({ state: 'held', assignment: before });
    expect(seen.filter((e) => e.type === 'room-moved')).toEqual([]);
    expect(holder.stderr).not.toContain('room lock lost');
    expect(other.stderr).not.toContain('room lock lost');
    expect(largestGap(subscriber, downAt - 1000, Date.now())).toBeLessThan(1000);

    expect(await client.endRoom('after-restart')).toBe('signalled');
    expect(await client.endRoom(room)).toBe('signalled');
    await waitFor('both rooms to end', async () => (await fleet.fleet.roomStatus(room)).state === 'none' && (await fleet.fleet.roomStatus('after-restart')).state === 'none');
  });
  it(`after a Redis outage longer than the lock (${LONG_OUTAGE_MS} ms), exactly one worker holds the room and the client agrees`, async () => {
    const fleet = await startFleet();
    const { client } = fleet;
    const room = 'long-outage-room';
    const started = await client.startRoom({ roomId: room });
    const { stream, seen } = collectEvents(client, room, disposers);
    await stream.ready;

    const { downAt, upAt, sawDisconnected } = await restartRedis(fleet, LONG_OUTAGE_MS);
    expect(sawDisconnected).toEqual([true, true]);
    await bothReconnected(fleet);

    // The lock expired while Redis was down: the room may move (to either worker), once.
    const held = async (): Promise<string | false> => {
      const status = await fleet.fleet.roomStatus(room);
      const counts = await Promise.all(fleet.workers.map((w) => w.gauge('livemask_fleet_rooms_held')));
      if (status.state !== 'held' || counts.reduce((a, b) => (a ?? 0) + (b ?? 0), 0) !== 1) {
        return false;
      }
      const holder = fleet.workers.findIndex((w) => w.workerIdPattern.test(status.assignment.workerId));
      return counts[holder] === 1 ? status.assignment.workerId : false;
    };
    const holderId = await waitFor('exactly one worker to hold the room', held, 20_000);
    const settledMs = Date.now() - upAt;
    // Stable: still the same single holder a full lock and stall cycle later.
    const stableUntil = Date.now() + FLEET_DEFAULTS.lockDurationMs + FLEET_DEFAULTS.stalledIntervalMs;
    await waitFor('a lock and stall cycle', () => Date.now() > stableUntil, stableUntil - Date.now() + 1000);
    expect(await held()).toBe(holderId);
    const moves = seen.filter((e) => e.type === 'room-moved');
    console.log(`redis outage ${upAt - downAt} ms: one holder ${settledMs} ms after Redis was up (${holderId === started.workerId ? 'same worker' : 'moved'}; ${moves.length} room-moved)`);

    // The client sees the same: startRoom, commands and the last room-moved name that holder.
    expect((await client.startRoom({ roomId: room })).workerId).toBe(holderId);
    expect((await client.setMask(room, 'alice', true)).workerId).toBe(holderId);
    if (holderId !== started.workerId) {
      expect(moves.at(-1)).toMatchObject({ type: 'room-moved', workerId: holderId });
    }
    expect(await client.endRoom(room)).toBe('signalled');
    await waitFor('the room to end', async () => (await fleet.fleet.roomStatus(room)).state === 'none');
  });
});
