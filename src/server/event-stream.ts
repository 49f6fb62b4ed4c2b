import type { ServerResponse } from 'node:http';
import { TypedEmitter } from '../core/index.js';

/**
 * One Server-Sent Events response: `event: <type>\nid: <id>\ndata: <json>\n\n`
 * per event, and a comment line as a heartbeat so that proxies and clients
 * see the stream alive. A client that reads too slowly is cut off (it
 * reconnects with Last-Event-ID) rather than letting its backlog grow.
 */

export interface EventStreamOptions {
  /** A heartbeat comment is written this often. Default 15 000. */
  heartbeatMs?: number;
  /** The stream is closed when more than this is buffered unsent. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Reconnection delay suggested to EventSource clients. Default 2000. */
  retryMs?: number;
}

export interface EventStreamEvents {
  /** The stream ended: closed by us or by the client. Emitted once. */
  close: [];
}

export class EventStream extends TypedEmitter<EventStreamEvents> {
  readonly #res: ServerResponse;
  readonly #maxBuffered: number;
  readonly #heartbeat: NodeJS.Timeout;
  #closed = false;

  constructor(res: ServerResponse, options: EventStreamOptions = {}) {
    super();
    this.#res = res;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${options.retryMs ?? 2000}\n: connected\n\n`);
    this.#heartbeat = setInterval(() => this.#write(': heartbeat\n\n'), options.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
    res.once('close', () => this.#finish());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes one event; `data` is sent as one line of JSON. */
  send(type: string, data: unknown, id?: number): void {
    const idLine = id !== undefined ? `id: ${id}\n` : '';
    this.#write(`event: ${type}\n${idLine}data: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the response. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#res.end();
    this.#finish();
  }

  #write(text: string): void {
    if (this.#closed) {
      return;
    }
    if (this.#res.writableLength > this.#maxBuffered) {
      this.#res.destroy();
      this.#finish();
      return;
    }
    this.#res.write(text);
  }

  #finish(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.safeEmit('close');
  }
}
