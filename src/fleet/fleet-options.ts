import { z } from 'zod';
import type { Logger } from '../core/index.js';
import { FleetError } from './fleet-error.js';

/**
 * The fleet's settings and their defaults, in one place. The timing follows
 * from BullMQ's stalled-job recovery: a worker renews each room job's lock
 * every `lockDurationMs / 5` ({@link lockRenewMs}); when a worker dies its
 * locks expire after at most `lockDurationMs`, and the next stalled check of
 * any live worker (one every `stalledIntervalMs`, fleet-wide) moves the room
 * back to wait, where a worker with a free slot takes it. So a room moves
 * within about `lockDurationMs + 2 * stalledIntervalMs` of its worker's death
 * (9 s with the defaults; measured about 6 s in test/fleet/failover.test.ts).
 *
 * A Redis restart (or a cut to Redis) is ridden out when Redis is back and
 * the worker reconnected before its locks expire: an outage of up to about
 * `lockDurationMs - lockRenewMs - 0.5 s` (the reconnect delay, see
 * redis-connect.ts), 3.5 s with the defaults. Lock expiry times survive a
 * restart (Redis keeps absolute expiry times), so a longer outage loses the
 * locks and the rooms move as after a worker's death. Redis must persist
 * (AOF) for the queue to survive a restart at all (test/fleet/redis-restart.test.ts).
 */

export interface FleetTiming {
  /** How long a room job's lock lives without renewal. Default 5000 ms. */
  lockDurationMs: number;
  /** How often the fleet looks for stalled room jobs (dead workers). Default 2000 ms. */
  stalledIntervalMs: number;
  /**
   * How many times one room may move after a worker's death before BullMQ
   * fails it (BullMQ's `maxStalledCount`; a drain does not count). Default 100.
   */
  maxFailovers: number;
  /** How long start waits for Redis before it fails with REDIS_UNAVAILABLE. Default 5000 ms. */
  connectTimeoutMs: number;
}

export const FLEET_DEFAULTS: Readonly<FleetTiming & { prefix: string }> = Object.freeze({
  lockDurationMs: 5000,
  stalledIntervalMs: 2000,
  maxFailovers: 100,
  connectTimeoutMs: 5000,
  prefix: 'livemask',
});

/**
 * How often a worker renews its room locks and assignment records: five
 * times per lock, so that a lock is at most a fifth of its life old when
 * Redis goes away (BullMQ's default, half, would leave a 5 s lock only
 * 2.5 s of outage).
 */
export function lockRenewMs(timing: Pick<FleetTiming, 'lockDurationMs'>): number {
  return Math.floor(timing.lockDurationMs / 5);
}

/** What both the control plane and the workers share. */
export interface FleetConnectionOptions {
  /** `redis://` or `rediss://` URL. Never logged: it may hold a password. */
  redisUrl: string;
  /** Key prefix of every fleet key in Redis (BullMQ's `prefix`). Default `livemask`. */
  prefix?: string;
  /** Overrides of {@link FLEET_DEFAULTS}. Every process of a fleet must use the same lock and stall timing. */
  timing?: Partial<FleetTiming>;
  logger: Logger;
}

/** Room ids as the HTTP API accepts them (src/server/room-auth.ts). */
export const RoomIdSchema = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, { error: 'must be 1-128 of A-Z a-z 0-9 . _ ~ -' });

/** A JSON object of room parameters from the control plane (never personal data: it is logged on failure). */
export const RoomParamsSchema = z.record(z.string(), z.json());
export type RoomParams = z.infer<typeof RoomParamsSchema>;

/** The data of a room job. A job whose data does not parse fails with BullMQ's UnrecoverableError. */
export const RoomJobDataSchema = z.object({
  room: RoomIdSchema,
  params: RoomParamsSchema,
  /** ISO 8601 time the control plane opened the room. */
  openedAt: z.string(),
});
export type RoomJobData = z.infer<typeof RoomJobDataSchema>;

const TimingSchema = z.object({
  lockDurationMs: z.number().int().min(1000).max(600_000),
  stalledIntervalMs: z.number().int().min(500).max(600_000),
  maxFailovers: z.number().int().min(1).max(1_000_000),
  connectTimeoutMs: z.number().int().min(100).max(600_000),
});

const PrefixSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1-64 of A-Z a-z 0-9 . _ -' });

export interface ResolvedConnection {
  redisUrl: string;
  prefix: string;
  timing: FleetTiming;
}

/** Validates the shared options once, at the edge; errors name the field and never echo the URL. */
export function resolveConnection(options: FleetConnectionOptions): ResolvedConnection {
  let protocol = '';
  try {
    protocol = new URL(options.redisUrl).protocol;
  } catch {
    // Reported below.
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new FleetError('CONFIG_INVALID', 'redisUrl: must be a redis:// or rediss:// URL');
  }
  const prefix = PrefixSchema.safeParse(options.prefix ?? FLEET_DEFAULTS.prefix);
  if (!prefix.success) {
    throw new FleetError('CONFIG_INVALID', `prefix: ${prefix.error.issues[0]?.message ?? 'invalid'}`);
  }
  const timing = TimingSchema.safeParse({ ...FLEET_DEFAULTS, ...options.timing });
  if (!timing.success) {
    const issue = timing.error.issues[0];
    throw new FleetError('CONFIG_INVALID', `timing.${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'invalid'}`);
  }
  if (timing.data.stalledIntervalMs >= timing.data.lockDurationMs) {
    throw new FleetError('CONFIG_INVALID', 'timing.stalledIntervalMs: must be shorter than timing.lockDurationMs');
  }
  return { redisUrl: options.redisUrl, prefix: prefix.data, timing: timing.data };
}

/** Validates a room id; throws FleetError BAD_REQUEST naming the field. */
export function checkRoomId(room: string): string {
  const parsed = RoomIdSchema.safeParse(room);
  if (!parsed.success) {
    throw new FleetError('BAD_REQUEST', `room: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
