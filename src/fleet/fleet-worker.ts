import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { TypedEmitter, type Logger } from '../core/index.js';
import { decodeAssignment, encodeAssignment, type RoomAssignment } from './assignment.js';
import { FleetError } from './fleet-error.js';
import { FleetKeys, ROOM_STATE_TTL_MS, ROOMS_QUEUE, roomJobId } from './fleet-keys.js';
import {
  lockRenewMs,
  resolveConnection,
  RoomJobDataSchema,
  type FleetConnectionOptions,
  type FleetTiming,
  type RoomJobData,
  type RoomParams,
} from './fleet-options.js';
import { connectFleetRedis } from './redis-connect.js';

/**
 * A worker's side of the fleet. Each room is a long-running BullMQ job: the
 * worker claims up to `capacity` of them (BullMQ concurrency), and the job
 * stays active while the worker holds the room, its lock renewed by BullMQ
 * (the liveness signal). The job ends when:
 * - the control plane ends the room (`ended`): the job completes and is removed;
 * - the worker drains (`drained`): the job is moved back to wait
 *   (`job.moveToWait`), so another worker takes it at once;
 * - the worker loses the lock (`lost`: it was cut off from Redis or blocked
 *   for longer than the lock): it lets go, and the stalled check moves the
 *   room to another worker.
 * A worker that dies holds its rooms until their locks expire; then any live
 * worker's stalled check moves them back to wait (see {@link FleetTiming}).
 * While Redis is away (a restart), the worker keeps its rooms and their media:
 * its commands wait in ioredis' offline queue (`maxRetriesPerRequest: null`)
 * and run on reconnect, lock renewal first; an outage shorter than the lock
 * less one renewal interval moves nothing (fleet-options.ts). `redisConnected`
 * feeds the `livemask_fleet_redis_connected` gauge.
 */

export type ReleaseReason = 'ended' | 'drained' | 'lost';

export interface AssignedRoom {
  room: string;
  params: RoomParams;
  openedAt: string;
  /** Times this room has moved after a worker died (BullMQ's stalled counter). */
  failovers: number;
  /** The worker that held the room before this one, when one did (read from the room's state). */
  previous?: PreviousHolder;
  /** Aborted when the room is released. */
  signal: AbortSignal;
}

/** The previous holder of a room: `releasedAt` is set when it handed the room back (a drain), absent when it died or lost it. */
export type PreviousHolder = RoomAssignment & { releasedAt?: string };

export interface FleetWorkerOptions<H> extends FleetConnectionOptions {
  /** Unique in the fleet, e.g. `hostname-pid`. */
  workerId: string;
  /** Rooms held at once (BullMQ worker concurrency). */
  capacity: number;
  /** Where this worker's WHIP/WHEP routes are reached; stored with each assignment. */
  publicUrl?: string;
  /** Called when this worker takes a room; what it returns is passed to onRoomReleased. A throw fails the room job. */
  onRoomAssigned: (room: AssignedRoom) => H | Promise<H>;
  /** Called when this worker lets a room go, before the room moves on. A throw is logged. */
  onRoomReleased?: (room: string, handle: H, reason: ReleaseReason) => void | Promise<void>;
}

export interface FleetWorkerEvents {
  assigned: [room: string];
  released: [room: string, reason: ReleaseReason];
}

interface Held {
  room: string;
  record: string;
  controller: AbortController;
  release: (reason: ReleaseReason) => void;
  released: Promise<ReleaseReason>;
}

/** Deletes an assignment only while it is still ours (a new holder may have written its own). */
const DELETE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export class FleetWorker<H = unknown> extends TypedEmitter<FleetWorkerEvents> {
  readonly workerId: string;
  readonly capacity: number;
  readonly #options: FleetWorkerOptions<H>;
  readonly #timing: FleetTiming;
  readonly #keys: FleetKeys;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #logger: Logger;
  readonly #held = new Map<string, Held>();
  readonly #worker: Worker<RoomJobData, { room: string; outcome: 'ended' }>;
  readonly #renewTimer: NodeJS.Timeout;
  #isDraining = false;
  #lastWorkerError: string | undefined;
  #renewing = false;
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: FleetWorkerOptions<H>, prefix: string, timing: FleetTiming, redis: Redis, subscriber: Redis, logger: Logger) {
    super();
    this.workerId = options.workerId;
    this.capacity = options.capacity;
    this.#options = options;
    this.#timing = timing;
    this.#keys = new FleetKeys(prefix);
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#logger = logger;
    this.#worker = new Worker<RoomJobData, { room: string; outcome: 'ended' }>(ROOMS_QUEUE, (job, token) => this.#process(job, token), {
      connection: redis,
      prefix,
      name: options.workerId,
      concurrency: options.capacity,
      lockDuration: timing.lockDurationMs,
      lockRenewTime: lockRenewMs(timing),
      stalledInterval: timing.stalledIntervalMs,
      maxStalledCount: timing.maxFailovers,
      autorun: false,
    });
    this.#worker.on('error', (err) => this.#workerError(err));
    // While Redis is away BullMQ reports every reconnect attempt: log each distinct error once until it is back.
    this.#redis.on('ready', () => (this.#lastWorkerError = undefined));
    this.#worker.on('failed', (job, err) => this.#logger.warn({ room: job?.data.room, error: err.message }, 'room job failed'));
    this.#worker.on('lockRenewalFailed', (jobIds) => this.#lockLost(jobIds));
    this.#subscriber.on('message', (_channel: string, room: string) => this.#held.get(room)?.release('ended'));
    this.#renewTimer = setInterval(() => void this.#renew(), lockRenewMs(timing));
    this.#renewTimer.unref();
  }

  /**
   * Connects to Redis and starts taking rooms. Fails with FleetError
   * REDIS_UNAVAILABLE when Redis is not ready within the connect timeout.
   */
  static async start<H>(options: FleetWorkerOptions<H>): Promise<FleetWorker<H>> {
    const resolved = resolveConnection(options);
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new FleetError('CONFIG_INVALID', 'capacity: must be a whole number of at least 1');
    }
    if (!/^[A-Za-z0-9._~-]{1,128}$/.test(options.workerId)) {
      throw new FleetError('CONFIG_INVALID', 'workerId: must be 1-128 of A-Z a-z 0-9 . _ ~ -');
    }
    const logger = options.logger.child({ module: 'fleet', workerId: options.workerId });
    const connect = (role: string): Promise<Redis> => connectFleetRedis(resolved, options.workerId, role, logger);
    const redis = await connect('worker');
    let subscriber: Redis;
    try {
      subscriber = await connect('end-listener');
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    const fleet = new FleetWorker(options, resolved.prefix, resolved.timing, redis, subscriber, logger);
    try {
      await subscriber.subscribe(fleet.#keys.endChannel);
      fleet.#worker.run().catch((err: unknown) => logger.error({ error: String(err) }, 'room worker stopped'));
      await fleet.#worker.waitUntilReady();
    } catch (err) {
      await fleet.close();
      throw err;
    }
    logger.info({ capacity: options.capacity, timing: resolved.timing }, 'fleet worker taking rooms');
    return fleet;
  }

  /** Rooms this worker holds now. */
  get heldCount(): number {
    return this.#held.size;
  }

  heldRooms(): string[] {
    return [...this.#held.keys()];
  }

  /** Both of this worker's own Redis connections are up (false while ioredis reconnects). */
  get redisConnected(): boolean {
    return this.#redis.status === 'ready' && this.#subscriber.status === 'ready';
  }

  /**
   * Graceful shutdown, first half: stops taking rooms and hands every held
   * room back to the queue (onRoomReleased with `drained`, then the job moves
   * back to wait), where another worker takes it. Resolves once all are
   * handed back. Idempotent.
   */
  drain(): Promise<void> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  /** Drains, then closes the BullMQ worker and the connections. Idempotent; every step runs even when one fails. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    this.#isDraining = true;
    const rooms = this.heldRooms();
    this.#logger.info({ rooms: rooms.length }, 'fleet worker draining');
    // Pausing stops the fetch loop; it resolves once every processor has returned.
    const paused = this.#worker.pause();
    for (const held of this.#held.values()) {
      held.release('drained');
    }
    await paused;
    this.#logger.info({ rooms: rooms.length }, 'fleet worker drained');
  }

  async #close(): Promise<void> {
    const failures: unknown[] = [];
    const step = async (work: () => unknown): Promise<void> => {
      try {
        await work();
      } catch (err) {
        failures.push(err);
      }
    };
    await step(() => this.drain());
    clearInterval(this.#renewTimer);
    await step(() => this.#worker.close());
    await step(() => this.#subscriber.disconnect());
    await step(() => this.#redis.disconnect());
    this.removeAllListeners();
    if (failures.length > 0) {
      const cause = failures.length === 1 ? failures[0] : new AggregateError(failures);
      throw new FleetError('CLOSED', 'the fleet worker did not close cleanly', { cause });
    }
  }

  async #process(job: Job<RoomJobData>, token: string | undefined): Promise<{ room: string; outcome: 'ended' }> {
    const parsed = RoomJobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UnrecoverableError(`invalid room job ${job.id ?? '?'}: ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
    }
    if (token === undefined) {
      throw new FleetError('CLOSED', 'BullMQ gave the room job no lock token');
    }
    const { room, params, openedAt } = parsed.data;
    const logger = this.#logger.child({ room });
    if ((await this.#redis.exists(this.#keys.ended(room))) === 1) {
      logger.info('room was ended before this worker took it');
      return { room, outcome: 'ended' };
    }
    if (this.#isDraining) {
      // Fetched while the fetch loop was stopping: straight back.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const held = this.#hold(room);
    let handle: H;
    try {
      const previous = await this.#takeOver(room, held.record);
      await this.#redis.set(this.#keys.assignment(room), held.record, 'PX', this.#timing.lockDurationMs);
      handle = await this.#options.onRoomAssigned({
        room, params, openedAt, failovers: job.stalledCounter, signal: held.controller.signal, ...(previous ? { previous } : {}),
      });
    } catch (err) {
      this.#held.delete(room);
      held.controller.abort();
      await this.#redis.eval(DELETE_IF_OURS, 1, this.#keys.assignment(room), held.record);
      throw err;
    }
    logger.info({ failovers: job.stalledCounter }, 'room assigned');
    this.safeEmit('assigned', room);
    const reason = await held.released;
    this.#held.delete(room);
    held.controller.abort();
    try {
      await this.#options.onRoomReleased?.(room, handle, reason);
    } catch (err) {
      logger.error({ error: err instanceof Error ? err.message : String(err) }, 'onRoomReleased failed');
    }
    if (reason === 'drained') {
      await this.#redis.hset(this.#keys.state(room), 'released', new Date().toISOString());
    } else if (reason === 'ended') {
      await this.#redis.del(this.#keys.state(room));
    }
    if (reason !== 'lost') {
      await this.#redis.eval(DELETE_IF_OURS, 1, this.#keys.assignment(room), held.record);
    }
    logger.info({ reason }, 'room released');
    this.safeEmit('released', room, reason);
    if (reason === 'ended') {
      return { room, outcome: 'ended' };
    }
    if (reason === 'drained') {
      await job.moveToWait(token);
    }
    // Drained: back in wait. Lost: no longer ours; the stalled check moves it.
    throw new WaitingError();
  }

  /** Records this worker as the room's holder in the room's state; returns the holder before it, if any. */
  async #takeOver(room: string, record: string): Promise<PreviousHolder | undefined> {
    const key = this.#keys.state(room);
    const results = await this.#redis.multi().hmget(key, 'holder', 'released').hset(key, 'holder', record).hdel(key, 'released').pexpire(key, ROOM_STATE_TTL_MS).exec();
    const [holder, released] = (results?.[0]?.[1] ?? []) as (string | null)[];
    const previous = decodeAssignment(holder ?? null);
    return previous ? { ...previous, ...(released ? { releasedAt: released } : {}) } : undefined;
  }

  #hold(room: string): Held {
    let release!: (reason: ReleaseReason) => void;
    const released = new Promise<ReleaseReason>((resolve) => {
      release = resolve;
    });
    const assignment: RoomAssignment = {
      room,
      workerId: this.workerId,
      since: new Date().toISOString(),
      ...(this.#options.publicUrl !== undefined ? { publicUrl: this.#options.publicUrl } : {}),
    };
    const held: Held = { room, record: encodeAssignment(assignment), controller: new AbortController(), release, released };
    this.#held.set(room, held);
    return held;
  }

  /**
   * Renews the assignment records and lets go of rooms whose end was missed
   * on pub/sub. One renewal at a time: while Redis is away a renewal waits in
   * ioredis' offline queue and runs on reconnect, and the ticks meanwhile are
   * skipped rather than piled up behind it.
   */
  async #renew(): Promise<void> {
    const rooms = [...this.#held.values()];
    if (rooms.length === 0 || this.#renewing) {
      return;
    }
    this.#renewing = true;
    try {
      await this.#renewHeld(rooms);
    } finally {
      this.#renewing = false;
    }
  }

  async #renewHeld(rooms: Held[]): Promise<void> {
    const pipeline = this.#redis.pipeline();
    for (const held of rooms) {
      pipeline.set(this.#keys.assignment(held.room), held.record, 'PX', this.#timing.lockDurationMs);
      pipeline.exists(this.#keys.ended(held.room));
    }
    try {
      const results = (await pipeline.exec()) ?? [];
      rooms.forEach((held, i) => {
        if (results[2 * i + 1]?.[1] === 1) {
          held.release('ended');
        }
      });
    } catch (err) {
      this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'could not renew room assignments');
    }
  }

  #workerError(err: Error): void {
    if (err.message !== this.#lastWorkerError) {
      this.#lastWorkerError = err.message;
      this.#logger.warn({ error: err.message }, 'room worker error');
    }
  }

  #lockLost(jobIds: string[]): void {
    for (const held of this.#held.values()) {
      if (jobIds.includes(roomJobId(held.room))) {
        this.#logger.warn({ room: held.room }, 'room lock lost; letting the room go');
        held.release('lost');
      }
    }
  }
}
