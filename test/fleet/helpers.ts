import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';
import { deleteKeys } from '../../bench/fleet-workers.js';
import type { ClientRoomEvent, LivemaskClient, RoomEventStream } from '../../src/client/index.js';
import { createLogger, type Logger } from '../../src/core/index.js';
import { FleetClient, FleetWorker, type FleetTiming, type PreviousHolder, type ReleaseReason } from '../../src/fleet/index.js';

export const REDIS_URL = process.env.LIVEMASK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Silent unless LIVEMASK_LOG_LEVEL asks otherwise. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.LIVEMASK_LOG_LEVEL ?? 'silent' });
}

/** A key prefix of its own for each test, so that parallel test files never share a queue. */
export function uniquePrefix(): string {
  return `lmtest-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under the prefix. */
export async function deletePrefix(prefix: string, url = REDIS_URL): Promise<void> {
  await deleteKeys(url, prefix);
}

/** Resolves when `check` returns a value other than undefined/false; rejects after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface RecordingWorker {
  worker: FleetWorker<string>;
  /** Every room this worker took, in order, with the time. */
  assigned: { room: string; at: number; failovers: number; previous?: PreviousHolder }[];
  released: { room: string; reason: ReleaseReason; at: number }[];
}

/** A fleet worker in this process that records what it takes and lets go. */
export async function startWorker(
  prefix: string,
  workerId: string,
  capacity: number,
  timing: Partial<FleetTiming> = {},
): Promise<RecordingWorker> {
  const assigned: RecordingWorker['assigned'] = [];
  const released: RecordingWorker['released'] = [];
  const worker = await FleetWorker.start<string>({
    redisUrl: REDIS_URL,
    prefix,
    timing,
    logger: testLogger(),
    workerId,
    capacity,
    publicUrl: `http://${workerId}.test`,
    onRoomAssigned: ({ room, failovers, previous }) => {
      assigned.push({ room, at: Date.now(), failovers, ...(previous ? { previous } : {}) });
      return `handle-${room}`;
    },
    onRoomReleased: (room, handle, reason) => {
      if (handle !== `handle-${room}`) {
        throw new Error(`wrong handle ${handle} for ${room}`);
      }
      released.push({ room, reason, at: Date.now() });
    },
  });
  return { worker, assigned, released };
}

export async function connectClient(prefix: string, url = REDIS_URL): Promise<FleetClient> {
  return FleetClient.connect({ redisUrl: url, prefix, logger: testLogger() });
}

/**
 * A list of clean-ups that run after each test, last first, every one even
 * when another fails (the failures are thrown together afterwards).
 */
export function disposeAfterEach(): (() => Promise<unknown>)[] {
  const disposers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    const failures: unknown[] = [];
    for (const dispose of disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, 'cleanup failed');
    }
  });
  return disposers;
}

/** Every event of the room, read in the background into `seen` until the test's disposers run. */
export function collectEvents(client: LivemaskClient, room: string, disposers: (() => Promise<unknown>)[]): { stream: RoomEventStream; seen: ClientRoomEvent[] } {
  const stream = client.events(room);
  const seen: ClientRoomEvent[] = [];
  const reading = (async () => {
    for await (const event of stream) {
      seen.push(event);
    }
  })();
  disposers.push(async () => {
    await stream.return();
    await reading;
  });
  return { stream, seen };
}
