import { Redis } from 'ioredis';
import type { Logger } from '../core/index.js';
import { FleetError } from './fleet-error.js';
import type { ResolvedConnection } from './fleet-options.js';

/**
 * Opens one ioredis connection and waits until it is ready, at most
 * `timeoutMs`. Past that it gives up with FleetError REDIS_UNAVAILABLE, which
 * names the host and port and the last connection error, never the URL (it
 * may hold a password). Once ready, ioredis reconnects on its own, retrying
 * at most every {@link MAX_RECONNECT_DELAY_MS} (ioredis' default backs off to
 * 2 s, which would eat most of a 5 s room lock after a Redis restart); errors
 * are logged (one line per distinct message) instead of being thrown.
 */

/** The longest wait between two reconnect attempts. */
export const MAX_RECONNECT_DELAY_MS = 500;

export interface ConnectRedisOptions {
  timeoutMs: number;
  /** Shown by CLIENT LIST, e.g. `livemask:fleet:worker:host-42`. */
  connectionName: string;
  logger: Logger;
  /** BullMQ workers need null (retry commands forever); the control plane fails after a few. */
  maxRetriesPerRequest: number | null;
}

/** `host:port` of a redis URL, for messages. */
export function redisTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port === '' ? '6379' : parsed.port}`;
}

export async function connectRedis(url: string, options: ConnectRedisOptions): Promise<Redis> {
  const target = redisTarget(url);
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: options.timeoutMs,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    connectionName: options.connectionName,
    retryStrategy: (times: number) => Math.min(times * 50, MAX_RECONNECT_DELAY_MS),
  });
  let lastError: Error | undefined;
  let ready = false;
  client.on('error', (err: Error) => {
    const repeated = lastError?.message === err.message;
    lastError = err;
    if (ready && !repeated) {
      options.logger.warn({ target, error: err.message }, 'redis connection error; reconnecting');
    }
  });
  client.on('ready', () => {
    if (ready && lastError !== undefined) {
      options.logger.info({ target }, 'redis connection back');
    }
    lastError = undefined;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out')), options.timeoutMs);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      client.connect().catch((err: unknown) => {
        // ioredis keeps retrying after a failed first attempt; the timer decides.
        lastError = err instanceof Error ? err : new Error(String(err));
      });
    });
  } catch {
    client.disconnect();
    const reason = lastError !== undefined ? `: ${lastError.message}` : '';
    throw new FleetError('REDIS_UNAVAILABLE', `cannot reach Redis at ${target} within ${options.timeoutMs} ms${reason}`, {
      cause: lastError,
    });
  }
  ready = true;
  return client;
}

/**
 * A worker-side connection of the fleet: no per-command retry limit (BullMQ's
 * blocking commands and subscriptions need it), named
 * `<prefix>:fleet:<role>:<workerId>` so `CLIENT LIST` shows who holds it.
 */
export function connectFleetRedis(resolved: ResolvedConnection, workerId: string, role: string, logger: Logger): Promise<Redis> {
  return connectRedis(resolved.redisUrl, {
    timeoutMs: resolved.timing.connectTimeoutMs,
    connectionName: `${resolved.prefix}:fleet:${role}:${workerId}`,
    logger,
    maxRetriesPerRequest: null,
  });
}
