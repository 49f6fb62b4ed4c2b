import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../core/index.js';
import { FleetError } from './fleet-error.js';
import { FleetKeys, ROOM_STATE_TTL_MS } from './fleet-keys.js';
import { resolveConnection, type FleetConnectionOptions } from './fleet-options.js';
import { connectFleetRedis } from './redis-connect.js';
import {
  decodeMessage,
  RoomCommandSchema,
  type CommandFailureCode,
  type CommandReply,
  type PostedEvent,
  type RelayedEvent,
  type RoomBroadcast,
  type RoomCommand,
} from './room-channel.js';

/**
 * The worker's side of the client library's channels (room-channel.ts).
 * While this worker holds a room, the relay:
 * - listens on the room's command channel and applies each command through
 *   `target` (the same code path as the HTTP routes), then answers on the
 *   client's reply channel, so that a client's `setMask` resolves only once
 *   the mask is switched here;
 * - publishes every event of the room on the room's event channel, and
 *   announces that it took the room (clients then re-read the assignment and
 *   report `room-moved`);
 * - keeps every mask switch in the room's state (FleetKeys.state), so that
 *   the next holder starts with the same masks (`savedMasks`). A command's
 *   switch is stored before its reply; a switch over HTTP right after.
 * It has two Redis connections of its own (one subscribed, one publishing);
 * ioredis re-subscribes after a reconnect.
 */

/** What the relay drives: the server's room registry, through the same functions as the HTTP routes. */
export interface RoomRelayTarget {
  /** Switches a mask; returns the event it recorded, or undefined when the mask already was so. */
  setMask(room: string, participant: string, masked: boolean): { seq: number; at: string } | undefined;
  /** Records a posted event; returns the event it recorded. */
  post(room: string, event: PostedEvent): { seq: number; at: string };
  /** Calls `listener` with each new event of the room, after replaying the kept ones past `afterSeq`; returns the function that unsubscribes. */
  subscribe(room: string, listener: (event: RelayedEvent) => void, afterSeq?: number): () => void;
}

export interface RoomRelayOptions extends FleetConnectionOptions {
  /** The id of the fleet worker this relay serves (stated in every reply and event). */
  workerId: string;
  target: RoomRelayTarget;
}

/** Enough of a command to answer it when the rest does not parse. */
const AddressSchema = z.object({ id: z.string().regex(/^[a-f0-9]{8,64}$/), replyTo: z.string().regex(/^[a-f0-9]{8,64}$/) });

export class RoomRelay {
  readonly workerId: string;
  readonly #keys: FleetKeys;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #target: RoomRelayTarget;
  readonly #logger: Logger;
  /** Held room → its unsubscribe from the target's events. */
  readonly #held = new Map<string, () => void>();
  /** Command channel → room. */
  readonly #channels = new Map<string, string>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(options: RoomRelayOptions, prefix: string, publisher: Redis, subscriber: Redis, logger: Logger) {
    this.workerId = options.workerId;
    this.#keys = new FleetKeys(prefix);
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#target = options.target;
    this.#logger = logger;
    this.#subscriber.on('message', (channel: string, text: string) => this.#onCommand(channel, text));
  }

  /** Connects; fails with FleetError REDIS_UNAVAILABLE when Redis is not ready within the connect timeout. */
  static async start(options: RoomRelayOptions): Promise<RoomRelay> {
    const resolved = resolveConnection(options);
    const logger = options.logger.child({ module: 'fleet-relay', workerId: options.workerId });
    const connect = (role: string): Promise<Redis> => connectFleetRedis(resolved, options.workerId, role, logger);
    const publisher = await connect('relay');
    try {
      return new RoomRelay(options, resolved.prefix, publisher, await connect('relay-commands'), logger);
    } catch (err) {
      publisher.disconnect();
      throw err;
    }
  }

  heldRooms(): string[] {
    return [...this.#held.keys()];
  }

  /** Both relay connections are up (false while ioredis reconnects). */
  get redisConnected(): boolean {
    return this.#publisher.status === 'ready' && this.#subscriber.status === 'ready';
  }

  /** The mask states the room's holders stored, by participant: what a new holder applies before it serves the room. */
  async savedMasks(room: string): Promise<Map<string, boolean>> {
    const state = await this.#publisher.hgetall(this.#keys.state(room));
    const masks = new Map<string, boolean>();
    for (const [field, value] of Object.entries(state)) {
      if (field.startsWith('mask:')) {
        masks.set(field.slice('mask:'.length), value === '1');
      }
    }
    return masks;
  }

  async #storeMask(room: string, participant: string, masked: boolean): Promise<void> {
    const key = this.#keys.state(room);
    await this.#publisher.multi().hset(key, `mask:${participant}`, masked ? '1' : '0').pexpire(key, ROOM_STATE_TTL_MS).exec();
  }

  /**
   * Starts relaying a room this worker took: events out (first those past
   * `afterSeq`, the ones recorded while taking the room over), commands in;
   * then announces it.
   */
  async hold(room: string, afterSeq?: number): Promise<void> {
    if (this.#closed) {
      throw new FleetError('CLOSED', 'the room relay is closed');
    }
    if (this.#held.has(room)) {
      return;
    }
    const unsubscribe = this.#target.subscribe(room, (event) => {
      const masked = maskStateOf(event);
      if (masked !== undefined && typeof event.participant === 'string') {
        this.#storeMask(room, event.participant, masked).catch((err: unknown) => {
          this.#logger.error({ room, error: err instanceof Error ? err.message : String(err) }, 'could not store a mask switch for the next holder');
        });
      }
      this.#broadcast(room, { kind: 'event', workerId: this.workerId, event });
    }, afterSeq);
    const channel = this.#keys.command(room);
    this.#held.set(room, unsubscribe);
    this.#channels.set(channel, room);
    try {
      await this.#subscriber.subscribe(channel);
      await this.#publisher.publish(this.#keys.events(room), JSON.stringify({ kind: 'assigned', workerId: this.workerId } satisfies RoomBroadcast));
    } catch (err) {
      await this.release(room);
      throw err;
    }
  }

  /** Stops relaying a room this worker lets go. Idempotent. */
  async release(room: string): Promise<void> {
    const unsubscribe = this.#held.get(room);
    if (!unsubscribe) {
      return;
    }
    this.#held.delete(room);
    unsubscribe();
    const channel = this.#keys.command(room);
    this.#channels.delete(channel);
    if (!this.#closed) {
      await this.#subscriber.unsubscribe(channel);
    }
  }

  /** Stops relaying every room and closes both connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const room of this.heldRooms()) {
      await this.release(room);
    }
    this.#subscriber.disconnect();
    this.#publisher.disconnect();
  }

  #broadcast(room: string, message: RoomBroadcast): void {
    this.#publisher.publish(this.#keys.events(room), JSON.stringify(message)).catch((err: unknown) => {
      this.#logger.warn({ room, error: err instanceof Error ? err.message : String(err) }, 'could not relay a room event');
    });
  }

  #onCommand(channel: string, text: string): void {
    const room = this.#channels.get(channel);
    if (room === undefined) {
      return;
    }
    const command = decodeMessage(RoomCommandSchema, text);
    let reply: CommandReply;
    let replyTo: string;
    let stored: Promise<void> = Promise.resolve();
    if (command) {
      reply = this.#apply(room, command);
      replyTo = command.replyTo;
      if (reply.ok && command.op === 'set-mask') {
        // Resolves the client's setMask only once a next holder would see the switch too.
        stored = this.#storeMask(room, command.participant, command.masked);
      }
    } else {
      const address = decodeMessage(AddressSchema, text);
      this.#logger.warn({ room, answered: address !== undefined }, 'unreadable room command');
      if (!address) {
        return;
      }
      reply = this.#failure(address.id, 'BAD_REQUEST', 'the command does not parse (a client of another version?)');
      replyTo = address.replyTo;
    }
    const answer = reply;
    stored
      .then(
        () => answer,
        (err: unknown): CommandReply => this.#failure(answer.id, 'COMMAND_FAILED', `applied here, but not stored for the next holder: ${err instanceof Error ? err.message : String(err)}`),
      )
      .then((final) => this.#publisher.publish(this.#keys.reply(replyTo), JSON.stringify(final)))
      .catch((err: unknown) => {
        this.#logger.warn({ room, error: err instanceof Error ? err.message : String(err) }, 'could not answer a room command');
      });
  }

  #apply(room: string, command: RoomCommand): CommandReply {
    if (!this.#held.has(room)) {
      return this.#failure(command.id, 'ROOM_NOT_HELD', `worker ${this.workerId} no longer holds room ${room}`);
    }
    try {
      if (command.op === 'set-mask') {
        const event = this.#target.setMask(room, command.participant, command.masked);
        return { ok: true, id: command.id, workerId: this.workerId, changed: event !== undefined, ...(event ? { seq: event.seq, at: event.at } : {}) };
      }
      const event = this.#target.post(room, command.event);
      return { ok: true, id: command.id, workerId: this.workerId, changed: true, seq: event.seq, at: event.at };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#logger.warn({ room, op: command.op, error: message }, 'room command failed');
      return this.#failure(command.id, 'COMMAND_FAILED', message);
    }
  }

  #failure(id: string, code: CommandFailureCode, message: string): CommandReply {
    return { ok: false, id, workerId: this.workerId, code, message };
  }
}

/** The mask state an event sets: a switch, or a join masked by its token; undefined for other events. */
function maskStateOf(event: RelayedEvent): boolean | undefined {
  if (event.type === 'mask-on' || event.type === 'mask-off') {
    return event.type === 'mask-on';
  }
  return event.type === 'participant-joined' && event.masked === true ? true : undefined;
}
