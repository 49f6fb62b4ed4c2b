import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/index.js';
import { decodeAssignment, type RoomAssignment } from './assignment.js';
import { FleetError } from './fleet-error.js';
import { FleetKeys, ROOMS_QUEUE, roomJobId } from './fleet-keys.js';
import { checkRoomId, resolveConnection, type FleetConnectionOptions, type RoomJobData, type RoomParams } from './fleet-options.js';
import { connectRedis } from './redis-connect.js';

/**
 * The control plane's side of the fleet: opens and ends rooms and says where
 * each room is. Needs no worker address: everything goes through Redis.
 */

export type FleetClientOptions = FleetConnectionOptions;

/** Where a room stands: waiting for a free slot, held by a worker, or not open. */
export type RoomStatus =
  | { state: 'queued' }
  | { state: 'held'; assignment: RoomAssignment }
  /** The job is active but its holder's record expired: the room is moving after a worker died. */
  | { state: 'moving' }
  /** The room job failed (a poison job, or a worker's onRoomAssigned threw); kept a day. */
  | { state: 'failed'; reason: string }
  | { state: 'none' };

/** How endRoom reached the room: removed while queued, told its holder, or found nothing. */
export type EndRoomResult = 'removed' | 'signalled' | 'unknown';

/** How long an ended-room marker outlives endRoom (reopening the room clears it). */
const ENDED_TTL_MS = 10 * 60_000;

export class FleetClient {
  readonly #redis: Redis;
  readonly #queue: Queue<RoomJobData>;
  readonly #keys: FleetKeys;
  readonly #logger: Logger;
  #closing: Promise<void> | undefined;

  private constructor(redis: Redis, prefix: string, logger: Logger) {
    this.#redis = redis;
    this.#keys = new FleetKeys(prefix);
    this.#logger = logger;
    this.#queue = new Queue<RoomJobData>(ROOMS_QUEUE, { connection: redis, prefix });
    this.#queue.on('error', (err) => this.#logger.warn({ error: err.message }, 'room queue error'));
  }

  /** Connects; fails with FleetError REDIS_UNAVAILABLE when Redis is not ready within the connect timeout. */
  static async connect(options: FleetClientOptions): Promise<FleetClient> {
    const resolved = resolveConnection(options);
    const logger = options.logger.child({ module: 'fleet-client' });
    const redis = await connectRedis(resolved.redisUrl, {
      timeoutMs: resolved.timing.connectTimeoutMs,
      connectionName: `${resolved.prefix}:fleet:client`,
      logger,
      maxRetriesPerRequest: 3,
    });
    return new FleetClient(redis, resolved.prefix, logger);
  }

  /**
   * Opens a room: adds its job, whose id is fixed by the room id, so opening
   * a room that is already open (queued or held) changes nothing. A room that
   * ended or failed before may be opened again.
   */
  async openRoom(room: string, params: RoomParams = {}): Promise<void> {
    this.#checkOpen();
    checkRoomId(room);
    const jobId = roomJobId(room);
    await this.#redis.del(this.#keys.ended(room));
    const existing = await this.#queue.getJob(jobId);
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') {
        return;
      }
      await existing.remove();
    }
    // A new room: no mask states or holder from an earlier room of the same id.
    await this.#redis.del(this.#keys.state(room));
    const data: RoomJobData = { room, params, openedAt: new Date().toISOString() };
    await this.#queue.add('room', data, {
      jobId,
      attempts: 1,
      removeOnComplete: true,
      // Kept a day so that a poison room's reason can be read.
      removeOnFail: { age: 24 * 3600 },
    });
    this.#logger.info({ room }, 'room opened');
  }

  /**
   * Ends a room: a queued room is removed; a held room's worker is told at
   * once (pub/sub) and also finds the ended marker on its next renewal, so
   * the room ends even when the message is missed.
   */
  async endRoom(room: string): Promise<EndRoomResult> {
    this.#checkOpen();
    checkRoomId(room);
    await this.#redis.set(this.#keys.ended(room), '1', 'PX', ENDED_TTL_MS);
    const job = await this.#queue.getJob(roomJobId(room));
    if (!job) {
      return 'unknown';
    }
    const state = await job.getState();
    if (state !== 'active') {
      try {
        await job.remove();
        await this.#redis.del(this.#keys.state(room));
        this.#logger.info({ room, state }, 'room ended before a worker took it');
        return 'removed';
      } catch (err) {
        // Taken (and locked) between getState and remove: tell the holder.
        this.#logger.debug({ room, error: err instanceof Error ? err.message : String(err) }, 'room taken while ending');
      }
    }
    await this.#redis.publish(this.#keys.endChannel, room);
    this.#logger.info({ room }, 'room end signalled to its worker');
    return 'signalled';
  }

  /**
   * Takes a room out of the queue while no worker holds it yet, leaving no
   * ended marker (unlike endRoom). Resolves false when the room was taken
   * meanwhile (its job is locked) or is not queued.
   */
  async withdrawRoom(room: string): Promise<boolean> {
    this.#checkOpen();
    checkRoomId(room);
    const job = await this.#queue.getJob(roomJobId(room));
    const state = job ? await job.getState() : 'unknown';
    if (!job || (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed')) {
      return false;
    }
    try {
      await job.remove();
    } catch (err) {
      this.#logger.debug({ room, error: err instanceof Error ? err.message : String(err) }, 'room taken while withdrawing');
      return false;
    }
    this.#logger.info({ room }, 'room withdrawn from the queue');
    return true;
  }

  /** The worker that holds the room now, if any. */
  async assignment(room: string): Promise<RoomAssignment | undefined> {
    this.#checkOpen();
    checkRoomId(room);
    return decodeAssignment(await this.#redis.get(this.#keys.assignment(room)));
  }

  async roomStatus(room: string): Promise<RoomStatus> {
    this.#checkOpen();
    checkRoomId(room);
    const job = await this.#queue.getJob(roomJobId(room));
    const state = job ? await job.getState() : 'unknown';
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
      return { state: 'queued' };
    }
    if (state === 'failed') {
      return { state: 'failed', reason: job?.failedReason ?? 'unknown' };
    }
    if (state !== 'active') {
      return { state: 'none' };
    }
    const assignment = await this.assignment(room);
    return assignment ? { state: 'held', assignment } : { state: 'moving' };
  }

  /** Closes the queue and the connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await this.#queue.close();
    } finally {
      this.#redis.disconnect();
    }
  }

  #checkOpen(): void {
    if (this.#closing) {
      throw new FleetError('CLOSED', 'the fleet client is closed');
    }
  }
}
