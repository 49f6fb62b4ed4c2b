import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createLogger, TypedEmitter, type Logger } from '../core/index.js';
import {
  CommandReplySchema,
  connectRedis,
  decodeAssignment,
  decodeMessage,
  FleetClient,
  FleetKeys,
  MAX_POSTED_BYTES,
  resolveConnection,
  type CommandReply,
  type EndRoomResult,
  type FleetTiming,
  type PostedEvent,
  type RoomCommand,
  type RoomParams,
} from '../fleet/index.js';
import { ClientError } from './client-error.js';
import {
  CommandOptionsSchema,
  MaskSchema,
  parse,
  PostSchema,
  RoomArgSchema,
  SettingsSchema,
  StartRoomSchema,
  type Settings,
} from './client-settings.js';
import { abortError, delay, within } from './deadline.js';
import { RoomEventStream } from './room-event-stream.js';

/**
 * `livemask/client`: what a live-room server uses to run rooms on a fleet of
 * `livemask serve` workers. It talks to Redis only and never needs a worker
 * address.
 *
 * Design:
 * - A room is a BullMQ job whose id is fixed by the room id (src/fleet/), so
 *   `startRoom` is idempotent; it waits until a worker holds the room and
 *   reads the holder's advertised URL from the room's assignment key.
 * - Commands (`setMask`, `postEvent`) are published on the room's command
 *   channel, which only the worker that holds the room listens on
 *   (src/fleet/room-relay.ts). That worker applies the command through the
 *   same code as the HTTP routes and answers on this client's reply channel;
 *   the call resolves only on that answer. PUBLISH says how many listeners
 *   got the command: none means no worker holds the room (ROOM_NOT_HELD at
 *   once), unless the room is held or moving, when it is retried until the
 *   timeout (the holder is subscribing). A command delivered but not answered
 *   in time fails with COMMAND_TIMEOUT; it is not resent (it may have been
 *   applied).
 * - `events()` listens on the room's event channel, where the holder relays
 *   the events of its SSE stream, and watches the assignment key to report
 *   `room-moved` (see room-event-stream.ts).
 * Pub/sub delivers only to who listens at that moment; a worker that took a
 * room over after a failover starts the room's events again from seq 1.
 *
 * Connections: three per client (the room queue, commands and reads, and
 * one subscribed for replies and events).
 */


export interface LivemaskClientOptions {
  /** `redis://` or `rediss://` URL of the fleet's Redis. Never logged: it may hold a password. */
  redisUrl: string;
  /** Key prefix of the fleet (the workers' prefix). Default `livemask`. */
  prefix?: string;
  /** The fleet's timing (only its connect timeout matters to a client). */
  timing?: Partial<FleetTiming>;
  /** Default: pino at LIVEMASK_LOG_LEVEL, or warn, on stderr. */
  logger?: Logger;
  startTimeoutMs?: number;
  commandTimeoutMs?: number;
  pollMs?: number;
  watchMs?: number;
  maxBufferedEvents?: number;
}

export interface StartRoomOptions {
  roomId: string;
  /** JSON parameters of the room, given to the worker that takes it (never personal data: they may be logged). */
  params?: RoomParams;
  /** Default 30 000 ms (`CLIENT_DEFAULTS.startTimeoutMs`). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once when the room has to wait for a free slot. */
  onQueued?: (roomId: string) => void;
  /**
   * On timeout or abort, leave the room in the queue (a worker takes it when
   * a slot frees). Default false: the room is taken out of the queue, so that
   * a failed startRoom leaves nothing running later.
   */
  keepQueued?: boolean;
}

/** Where a room runs: publishers and viewers use `url` as the WHIP/WHEP base URL. */
export interface RoomStart {
  roomId: string;
  workerId: string;
  url: string;
}

export interface CommandOptions {
  /** Default 5000 ms (`CLIENT_DEFAULTS.commandTimeoutMs`). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface MaskResult {
  /** The worker that applied the switch. */
  workerId: string;
  /** False when the participant already was so (no event recorded). */
  changed: boolean;
}

export interface PostedEventResult {
  workerId: string;
  /** The event's seq and time on its worker, as `POST /v1/rooms/{room}/events` answers. */
  seq: number;
  at: string;
}

export interface EventsOptions {
  signal?: AbortSignal;
  /** Default 1000 (`CLIENT_DEFAULTS.maxBufferedEvents`). */
  maxBuffered?: number;
}

export interface LivemaskClientEvents {
  /** A startRoom waits for a free slot. */
  queued: [roomId: string];
}

type CommandBody = RoomCommand extends infer C ? (C extends RoomCommand ? Omit<C, 'id' | 'replyTo'> : never) : never;
type CommandSuccess = Extract<CommandReply, { ok: true }>;

export class LivemaskClient extends TypedEmitter<LivemaskClientEvents> {
  /** Random id of this client; workers answer it on its reply channel. */
  readonly clientId: string;
  readonly #fleet: FleetClient;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #keys: FleetKeys;
  readonly #logger: Logger;
  readonly #settings: Settings;
  readonly #listeners = new Map<string, Set<(text: string) => void>>();
  readonly #replies = new Map<string, (reply: CommandReply) => void>();
  /** Aborted, with ClientError CLOSED as its reason, when the client closes. */
  readonly #closer = new AbortController();
  #closing: Promise<void> | undefined;

  private constructor(fleet: FleetClient, redis: Redis, subscriber: Redis, prefix: string, clientId: string, settings: Settings, logger: Logger) {
    super();
    this.clientId = clientId;
    this.#fleet = fleet;
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#keys = new FleetKeys(prefix);
    this.#settings = settings;
    this.#logger = logger;
    this.#subscriber.on('message', (channel: string, text: string) => this.#onMessage(channel, text));
  }

  /** Connects; fails with FleetError REDIS_UNAVAILABLE when Redis is not ready within the connect timeout. */
  static async connect(options: LivemaskClientOptions): Promise<LivemaskClient> {
    const { redisUrl, prefix, timing, logger: given, ...rest } = options;
    const settings = parse(SettingsSchema, rest);
    const logger = (given ?? createLogger({ name: 'livemask-client', level: process.env.LIVEMASK_LOG_LEVEL ?? 'warn' })).child({ module: 'client' });
    const connection = { redisUrl, logger, ...(prefix !== undefined ? { prefix } : {}), ...(timing !== undefined ? { timing } : {}) };
    const resolved = resolveConnection(connection);
    const clientId = randomBytes(8).toString('hex');
    const disposers: (() => unknown)[] = [];
    try {
      const fleet = await FleetClient.connect(connection);
      disposers.push(() => fleet.close());
      const connect = (role: string): Promise<Redis> =>
        connectRedis(resolved.redisUrl, {
          timeoutMs: resolved.timing.connectTimeoutMs,
          connectionName: `${resolved.prefix}:client:${role}:${clientId}`,
          logger,
          maxRetriesPerRequest: 3,
        });
      const redis = await connect('commands');
      disposers.push(() => redis.disconnect());
      const subscriber = await connect('listener');
      disposers.push(() => subscriber.disconnect());
      const client = new LivemaskClient(fleet, redis, subscriber, resolved.prefix, clientId, settings, logger);
      await subscriber.subscribe(client.#keys.reply(clientId));
      return client;
    } catch (err) {
      for (const dispose of disposers.reverse()) {
        try {
          await dispose();
        } catch (cleanupError) {
          logger.warn({ error: cleanupError instanceof Error ? cleanupError.message : String(cleanupError) }, 'cleanup after a failed connect failed');
        }
      }
      throw err;
    }
  }

  /**
   * Opens the room (or finds it open) and resolves once a worker holds it,
   * with that worker's id and URL. While every slot is full it waits, calls
   * `onQueued` and emits `queued` once, and after `timeoutMs` rejects with
   * ROOM_START_TIMEOUT (taking the room out of the queue unless `keepQueued`).
   * Rejects with ROOM_FAILED when the room's job fails or the room is ended
   * meanwhile, and with AbortedError when `signal` aborts.
   */
  async startRoom(options: StartRoomOptions): Promise<RoomStart> {
    this.#checkOpen();
    const { roomId, params, timeoutMs = this.#settings.startTimeoutMs, keepQueued = false } = parse(StartRoomSchema, options);
    const signal = this.#signal(options.signal);
    await this.#fleet.openRoom(roomId, params ?? {});
    const deadline = Date.now() + timeoutMs;
    let queued = false;
    for (;;) {
      const status = await this.#fleet.roomStatus(roomId);
      if (status.state === 'held') {
        const { workerId, publicUrl } = status.assignment;
        if (publicUrl === undefined) {
          throw new ClientError('ROOM_FAILED', `room ${roomId} is held by worker ${workerId}, which advertises no URL`);
        }
        return { roomId, workerId, url: publicUrl };
      }
      if (status.state === 'failed') {
        throw new ClientError('ROOM_FAILED', `room ${roomId} failed: ${status.reason}`);
      }
      if (status.state === 'none') {
        throw new ClientError('ROOM_FAILED', `room ${roomId} was ended before a worker took it`);
      }
      if (status.state === 'queued' && !queued) {
        queued = true;
        this.#logger.info({ room: roomId }, 'room queued: every slot is full');
        options.onQueued?.(roomId);
        this.safeEmit('queued', roomId);
      }
      if (signal.aborted || Date.now() >= deadline) {
        await this.#giveUp(roomId, status.state, keepQueued, signal, timeoutMs);
        continue; // taken meanwhile: the next read finds its holder
      }
      await delay(Math.min(this.#settings.pollMs, deadline - Date.now()), signal).then(undefined, (err: unknown) => {
        if (!signal.aborted) {
          throw err;
        }
      });
    }
  }

  /** Ends the room: removed while queued, or its holder lets it go (see FleetClient.endRoom). */
  async endRoom(roomId: string): Promise<EndRoomResult> {
    this.#checkOpen();
    return this.#fleet.endRoom(parse(RoomArgSchema, { roomId }).roomId);
  }

  /**
   * Switches a participant's mask on the worker that holds the room, as
   * `PUT /v1/rooms/{room}/participants/{participant}/mask` does there.
   * Resolves once that worker applied it; ROOM_NOT_HELD when no worker holds
   * the room, COMMAND_TIMEOUT when the holder did not answer in time.
   */
  async setMask(roomId: string, participant: string, masked: boolean, options: CommandOptions = {}): Promise<MaskResult> {
    const args = parse(MaskSchema, { roomId, participant, masked });
    const reply = await this.#command(args.roomId, { op: 'set-mask', participant: args.participant, masked: args.masked }, options);
    return { workerId: reply.workerId, changed: reply.changed };
  }

  /**
   * Records an event in the room (relayed as `posted` and kept in its
   * evidence), as `POST /v1/rooms/{room}/events` does on the holder.
   */
  async postEvent(roomId: string, event: PostedEvent, options: CommandOptions = {}): Promise<PostedEventResult> {
    const { roomId: room, event: posted } = parse(PostSchema, { roomId, event });
    if (Buffer.byteLength(JSON.stringify(posted)) > MAX_POSTED_BYTES) {
      throw new ClientError('BAD_REQUEST', `event: larger than ${MAX_POSTED_BYTES} bytes of JSON`);
    }
    const reply = await this.#command(room, { op: 'post-event', event: posted }, options);
    if (reply.seq === undefined || reply.at === undefined) {
      throw new ClientError('COMMAND_FAILED', `worker ${reply.workerId} recorded no event`);
    }
    return { workerId: reply.workerId, seq: reply.seq, at: reply.at };
  }

  /**
   * The room's events as an async iterator, plus `room-moved` when another
   * worker takes the room. Await its `ready` before acting on the room to be
   * sure to see what follows. It ends on `return()` (a `for await` break),
   * and fails with AbortedError on `signal`, CLOSED on close, EVENTS_OVERFLOW
   * when read too slowly.
   */
  events(roomId: string, options: EventsOptions = {}): RoomEventStream {
    this.#checkOpen();
    const room = parse(RoomArgSchema, { roomId }).roomId;
    const maxBuffered = options.maxBuffered !== undefined ? parse(SettingsSchema.shape.maxBufferedEvents, options.maxBuffered) : this.#settings.maxBufferedEvents;
    return new RoomEventStream({
      room,
      source: {
        channel: this.#keys.events(room),
        listen: (channel, onMessage) => this.#listen(channel, onMessage),
        assignment: async () => decodeAssignment(await this.#redis.get(this.#keys.assignment(room))),
      },
      signal: this.#signal(options.signal),
      maxBuffered,
      watchMs: this.#settings.watchMs,
      logger: this.#logger,
    });
  }

  /** Ends every event iterator and pending call with CLOSED, and closes the connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closer.abort(new ClientError('CLOSED', 'the livemask client is closed'));
    const failures: unknown[] = [];
    const steps: (() => unknown)[] = [() => this.#fleet.close(), () => this.#subscriber.disconnect(), () => this.#redis.disconnect()];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    }
    this.#listeners.clear();
    this.#replies.clear();
    this.removeAllListeners();
    if (failures.length > 0) {
      throw new ClientError('CLOSED', 'the livemask client did not close cleanly', { cause: failures.length === 1 ? failures[0] : new AggregateError(failures) });
    }
  }

  /** After the deadline or an abort: withdraws a queued room (unless kept) and throws; returns when the room was taken meanwhile. */
  async #giveUp(roomId: string, state: 'queued' | 'moving', keepQueued: boolean, signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (this.#closer.signal.aborted) {
      throw abortError(this.#closer.signal);
    }
    if (state === 'queued' && !keepQueued && !(await this.#fleet.withdrawRoom(roomId))) {
      const now = await this.#fleet.roomStatus(roomId);
      if (now.state === 'held') {
        return;
      }
    }
    if (signal.aborted) {
      throw abortError(signal);
    }
    const what = state === 'queued' ? `every slot stayed full${keepQueued ? '; the room stays queued' : '; the room was taken out of the queue'}` : 'the room is still moving after its worker died';
    throw new ClientError('ROOM_START_TIMEOUT', `no worker took room ${roomId} within ${timeoutMs} ms: ${what}`);
  }

  /** Publishes a command to the room's holder and waits for its answer. */
  async #command(room: string, body: CommandBody, options: CommandOptions): Promise<CommandSuccess> {
    this.#checkOpen();
    const { timeoutMs = this.#settings.commandTimeoutMs } = parse(CommandOptionsSchema, { timeoutMs: options.timeoutMs });
    const signal = this.#signal(options.signal);
    const id = randomBytes(12).toString('hex');
    const deadline = Date.now() + timeoutMs;
    const answered = new Promise<CommandReply>((resolve) => this.#replies.set(id, resolve));
    try {
      const text = JSON.stringify({ ...body, id, replyTo: this.clientId });
      for (;;) {
        if ((await this.#redis.publish(this.#keys.command(room), text)) > 0) {
          const reply = await within(answered, deadline - Date.now(), signal, () => {
            throw new ClientError('COMMAND_TIMEOUT', `the worker holding room ${room} did not answer ${body.op} within ${timeoutMs} ms`);
          });
          if (!reply.ok) {
            throw new ClientError(reply.code, `${body.op} on room ${room}: ${reply.message}`);
          }
          return reply;
        }
        const status = await this.#fleet.roomStatus(room);
        if (status.state !== 'held' && status.state !== 'moving') {
          throw new ClientError('ROOM_NOT_HELD', `no worker holds room ${room} (it is ${status.state === 'none' ? 'not open' : status.state})`);
        }
        if (Date.now() >= deadline) {
          const holder = status.state === 'held' ? `held by worker ${status.assignment.workerId}` : 'moving to another worker';
          throw new ClientError('ROOM_NOT_HELD', `room ${room} is ${holder}, but no worker took ${body.op} within ${timeoutMs} ms`);
        }
        await delay(Math.min(this.#settings.pollMs, deadline - Date.now()), signal);
      }
    } finally {
      this.#replies.delete(id);
    }
  }

  /** Subscribes `onMessage` to a channel (one Redis subscription per channel, shared). */
  async #listen(channel: string, onMessage: (text: string) => void): Promise<() => Promise<void>> {
    let listeners = this.#listeners.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
      await this.#subscriber.subscribe(channel);
    }
    listeners.add(onMessage);
    const set = listeners;
    return async () => {
      set.delete(onMessage);
      if (set.size === 0 && this.#listeners.get(channel) === set) {
        this.#listeners.delete(channel);
        if (!this.#closer.signal.aborted) {
          await this.#subscriber.unsubscribe(channel);
        }
      }
    };
  }

  #onMessage(channel: string, text: string): void {
    if (channel === this.#keys.reply(this.clientId)) {
      const reply = decodeMessage(CommandReplySchema, text);
      if (reply) {
        // The first answer wins (two workers can briefly both listen during a move).
        this.#replies.get(reply.id)?.(reply);
        this.#replies.delete(reply.id);
      } else {
        this.#logger.warn('unreadable command reply');
      }
      return;
    }
    for (const listener of this.#listeners.get(channel) ?? []) {
      listener(text);
    }
  }

  /** The caller's signal joined with the client's own (aborted on close). */
  #signal(given: AbortSignal | undefined): AbortSignal {
    return given ? AbortSignal.any([given, this.#closer.signal]) : this.#closer.signal;
  }

  #checkOpen(): void {
    if (this.#closer.signal.aborted) {
      throw new ClientError('CLOSED', 'the livemask client is closed');
    }
  }
}
