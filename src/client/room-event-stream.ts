import type { Logger } from '../core/index.js';
import { decodeMessage, RoomBroadcastSchema, type RoomAssignment } from '../fleet/index.js';
import type { RoomEvent } from '../server/index.js';
import { ClientError } from './client-error.js';
import { abortError } from './deadline.js';

/**
 * The events of one room, as an async iterator: every event the room's
 * holder relays (the objects its SSE stream sends), plus `room-moved` when
 * another worker takes the room (after a failover or a drain). Live only:
 * events from before the iterator listened are not replayed, and events
 * during a failover gap are lost with the worker that died. Each worker
 * numbers a room's events from 1, so `seq` starts again after a move.
 *
 * Where the room is comes from its assignment key, re-read when the new
 * holder announces itself on the event channel and every `watchMs` in case
 * that announcement is missed.
 */

/** A new worker holds the room: publishers re-publish, and WHEP viewers reconnect, to `url`. */
export interface RoomMovedEvent {
  type: 'room-moved';
  room: string;
  workerId: string;
  /** The new holder's WHIP/WHEP base URL (absent only for a worker that advertises none). */
  url?: string;
  /** The previous holder this iterator saw, if any. */
  from?: string;
  /** ISO 8601 time the new holder took the room. */
  at: string;
}

export type ClientRoomEvent = RoomEvent | RoomMovedEvent;

/** What the stream needs from its client. */
export interface RoomEventSource {
  /** The room's event channel. */
  channel: string;
  /** Listens on a channel; resolves once subscribed, with the function that stops listening. */
  listen(channel: string, onMessage: (text: string) => void): Promise<() => Promise<void>>;
  assignment(): Promise<RoomAssignment | undefined>;
}

export interface RoomEventStreamOptions {
  room: string;
  source: RoomEventSource;
  /** Ends the stream with its reason (AbortedError, or the client's CLOSED). */
  signal: AbortSignal;
  /** Events buffered unread before the stream fails with EVENTS_OVERFLOW. */
  maxBuffered: number;
  watchMs: number;
  logger: Logger;
}

interface Waiter {
  resolve: (result: IteratorResult<ClientRoomEvent, undefined>) => void;
  reject: (err: Error) => void;
}

export class RoomEventStream implements AsyncIterableIterator<ClientRoomEvent, undefined> {
  readonly room: string;
  /** Resolves once the stream listens: events from then on are delivered. Rejects as `next()` would when it cannot start. */
  readonly ready: Promise<void>;
  readonly #options: RoomEventStreamOptions;
  readonly #buffer: ClientRoomEvent[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #disposers: (() => unknown)[] = [];
  /** Delivered after the buffered events (overflow) or at once (abort, close). */
  #failure: Error | undefined;
  #ended = false;
  #holder: RoomAssignment | undefined;
  #checking = false;
  #recheck = false;

  constructor(options: RoomEventStreamOptions) {
    this.room = options.room;
    this.#options = options;
    this.ready = this.#start();
    // A failed start ends the stream; whoever awaits ready sees the error too.
    this.ready.then(undefined, (err: unknown) => this.#fail(err instanceof Error ? err : new Error(String(err)), true));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<ClientRoomEvent, undefined>> {
    const event = this.#buffer.shift();
    if (event) {
      return { value: event, done: false };
    }
    if (this.#failure) {
      const failure = this.#failure;
      this.#failure = undefined;
      throw failure;
    }
    if (this.#ended) {
      return { value: undefined, done: true };
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops listening; a `for await` loop calls it on break. Idempotent. */
  async return(): Promise<IteratorResult<ClientRoomEvent, undefined>> {
    this.#end();
    for (const waiter of this.#waiters.splice(0)) {
      waiter.resolve({ value: undefined, done: true });
    }
    await this.#dispose();
    return { value: undefined, done: true };
  }

  /** The same as {@link return}. */
  async close(): Promise<void> {
    await this.return();
  }

  async #start(): Promise<void> {
    const { signal, source, watchMs } = this.#options;
    if (signal.aborted) {
      throw abortError(signal);
    }
    const onAbort = (): void => this.#fail(abortError(signal), true);
    signal.addEventListener('abort', onAbort, { once: true });
    this.#disposers.push(() => signal.removeEventListener('abort', onAbort));
    // The holder before listening is the baseline: a move after this read is seen by the next check.
    this.#holder = await source.assignment();
    const unlisten = await source.listen(source.channel, (text) => this.#onMessage(text));
    this.#disposers.push(unlisten);
    if (this.#ended) {
      await this.#dispose();
      return;
    }
    const timer = setInterval(() => this.#check(), watchMs);
    timer.unref();
    this.#disposers.push(() => clearInterval(timer));
    if (this.#ended) {
      await this.#dispose();
    }
  }

  #onMessage(text: string): void {
    const message = decodeMessage(RoomBroadcastSchema, text);
    if (!message) {
      this.#options.logger.warn({ room: this.room }, 'unreadable message on a room event channel');
      return;
    }
    if (message.kind === 'assigned') {
      this.#check();
      return;
    }
    // The relay sends the registry's RoomEvent objects; the schema checked their common fields.
    this.#push(message.event as unknown as RoomEvent);
  }

  /** Re-reads the assignment (one read at a time; a request during a read reads again after it). */
  #check(): void {
    if (this.#checking) {
      this.#recheck = true;
      return;
    }
    this.#checking = true;
    void (async () => {
      try {
        do {
          this.#recheck = false;
          this.#observe(await this.#options.source.assignment());
        } while (this.#recheck && !this.#ended);
      } catch (err) {
        this.#options.logger.warn({ room: this.room, error: err instanceof Error ? err.message : String(err) }, 'could not read where the room is');
      } finally {
        this.#checking = false;
      }
    })();
  }

  #observe(assignment: RoomAssignment | undefined): void {
    const holder = this.#holder;
    if (!assignment || this.#ended || (holder?.workerId === assignment.workerId && holder.since === assignment.since)) {
      return;
    }
    this.#holder = assignment;
    this.#push({
      type: 'room-moved',
      room: this.room,
      workerId: assignment.workerId,
      at: assignment.since,
      ...(assignment.publicUrl !== undefined ? { url: assignment.publicUrl } : {}),
      ...(holder ? { from: holder.workerId } : {}),
    });
  }

  #push(event: ClientRoomEvent): void {
    if (this.#ended) {
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ value: event, done: false });
      return;
    }
    if (this.#buffer.length >= this.#options.maxBuffered) {
      this.#fail(new ClientError('EVENTS_OVERFLOW', `more than ${this.#options.maxBuffered} events of room ${this.room} were left unread`), false);
      return;
    }
    this.#buffer.push(event);
  }

  /** Ends the stream with an error: at once (dropping buffered events), or after the buffered events. */
  #fail(err: Error, atOnce: boolean): void {
    if (this.#ended) {
      return;
    }
    this.#end();
    if (atOnce) {
      this.#buffer.length = 0;
    }
    const waiters = this.#waiters.splice(0);
    if (waiters.length > 0) {
      waiters.forEach((waiter) => waiter.reject(err));
    } else {
      this.#failure = err;
    }
    void this.#dispose();
  }

  #end(): void {
    this.#ended = true;
  }

  /** Runs every disposer registered so far, each even when another fails. */
  async #dispose(): Promise<void> {
    for (const dispose of this.#disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (err) {
        this.#options.logger.warn({ room: this.room, error: err instanceof Error ? err.message : String(err) }, 'could not stop listening to a room');
      }
    }
  }
}
