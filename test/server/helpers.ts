import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/core/index.js';
import { LivemaskServer, mintToken, parseServerConfig, type LivemaskServerOptions, type Role } from '../../src/server/index.js';

/** A secret for HS256 test tokens (at least 32 bytes). */
export const SECRET = 'test-secret-0123456789abcdef0123456789';

/** A logger whose JSON lines are kept in memory. */
export function memoryLogger(level = 'trace'): { logger: Logger; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return {
    logger: createLogger({ level }, stream),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== ''),
  };
}

export interface TestServer {
  server: LivemaskServer;
  /** Its data directory (evidence under `evidence/`). */
  dataDir: string;
  url: string;
  lines: () => string[];
}

/** A real server on 127.0.0.1, an ephemeral port, HS256 with {@link SECRET} unless env says otherwise. */
export async function startServer(
  env: NodeJS.ProcessEnv = {},
  options: LivemaskServerOptions = {},
  flags: { demo?: boolean } = {},
): Promise<TestServer> {
  const config = parseServerConfig(
    { port: '0', host: '127.0.0.1', ...(flags.demo === true ? { demo: true } : {}) },
    // A data directory of its own: test files run in parallel, and a starting server seals the
    // evidence sessions it finds open (a killed worker's), which must never be another server's.
    { LIVEMASK_TOKEN_SECRET: SECRET, LIVEMASK_DATA: mkdtempSync(join(tmpdir(), 'livemask-server-')), ...env },
  );
  const { logger, lines } = memoryLogger();
  const server = await LivemaskServer.create(config, logger, { defaultMetrics: false, ...options });
  const url = await server.start();
  return { server, url, lines, dataDir: config.dataDir };
}

export function token(room: string, role: Role, sub = `${role}-1`, options: { expiresInSec?: number } = {}): Promise<string> {
  return mintToken({ alg: 'HS256', secret: SECRET }, { room, sub, role }, options);
}

export function bearer(t: string): Record<string, string> {
  return { authorization: `Bearer ${t}` };
}

export async function putMask(url: string, room: string, participant: string, body: unknown, t: string): Promise<Response> {
  return fetch(`${url}/v1/rooms/${room}/participants/${participant}/mask`, {
    method: 'PUT',
    headers: { ...bearer(t), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

/**
 * A minimal Server-Sent Events client over fetch: it keeps every message and
 * comment it has read, and waits for the next one with a timeout.
 */
export class SseClient {
  readonly response: Response;
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  readonly #abort: AbortController;
  readonly #done: Promise<void>;
  #buffer = '';
  #waiters: (() => void)[] = [];
  #ended = false;

  private constructor(response: Response, abort: AbortController) {
    this.response = response;
    this.#abort = abort;
    this.#done = this.#read();
  }

  static async open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    return new SseClient(response, abort);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Waits until `count` messages have arrived (or the stream ended). */
  async waitForMessages(count: number, timeoutMs = 5000): Promise<SseMessage[]> {
    await this.#until(() => this.messages.length >= count, timeoutMs, `${count} SSE messages`);
    return this.messages.slice(0, count);
  }

  async waitForComment(text: string, timeoutMs = 5000): Promise<void> {
    await this.#until(() => this.comments.includes(text), timeoutMs, `SSE comment '${text}'`);
  }

  /** Waits for the server to end the stream. */
  async waitForEnd(timeoutMs = 5000): Promise<void> {
    await this.#until(() => this.#ended, timeoutMs, 'the SSE stream to end');
  }

  /** Disconnects, as a client going away does. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }

  async #read(): Promise<void> {
    const body = this.response.body;
    if (!body) {
      this.#end();
      return;
    }
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        this.#buffer += value;
        this.#parse();
      }
    } catch (err) {
      if (!this.#abort.signal.aborted) {
        throw err;
      }
    } finally {
      this.#end();
    }
  }

  #parse(): void {
    let cut = this.#buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = this.#buffer.slice(0, cut);
      this.#buffer = this.#buffer.slice(cut + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
      if (fields.has('data')) {
        this.messages.push({ event: fields.get('event') ?? 'message', id: fields.get('id'), data: fields.get('data') ?? '' });
      }
      cut = this.#buffer.indexOf('\n\n');
    }
    this.#wake();
  }

  #end(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      w();
    }
  }

  async #until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      if (this.#ended) {
        throw new Error(`SSE stream ended while waiting for ${what}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
