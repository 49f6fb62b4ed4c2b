// Real `livemask serve` worker processes, in fleet mode for bench/fleet-soak.ts
// and standalone for bench/live-webrtc.ts: each in a process group of its own
// (so that its ffmpeg children go with it), with its own data directory, its
// RSS read from /proc and its /metrics scraped.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { pathToFileURL } from 'node:url';

export interface ServeWorkerOptions {
  root: string;
  dataDir: string;
  /** The fleet's Redis; none: standalone. */
  redisUrl?: string;
  capacity: number;
  maxMasked: number;
  /** Run the TypeScript sources under tsx (true) or the build, bin/livemask.js. */
  fromSources: boolean;
  /** More LIVEMASK_* settings, e.g. LIVEMASK_LOOKAHEAD. */
  env?: Record<string, string>;
}

/** A worker process that failed to start, died, or did not get ready in time. */
export class SoakWorkerError extends Error {
  readonly code: 'SPAWN_FAILED' | 'DIED' | 'NOT_READY';

  constructor(code: SoakWorkerError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SoakWorkerError';
    this.code = code;
  }
}

/** Deletes every key under `prefix:` in the Redis at `url` (the soak and the fleet tests clean up with it). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        await redis.del(...keys);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') {
    throw new Error('no free port');
  }
  return address.port;
}

/** RSS of a process in bytes, from /proc/<pid>/status; 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0; // the process exited between the listing and the read
  }
}

/** Pids of every descendant of `pid` (its ffmpeg pipelines), from /proc/<pid>/stat. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone since the listing
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, ppid] of parent) {
      if (ppid === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

export class ServeWorker {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly exited: Promise<unknown[]>;
  #stdout = '';
  #stderr = '';
  #stopping = false;
  readonly #fleet: boolean;

  constructor(port: number, options: ServeWorkerOptions) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.dataDir = options.dataDir;
    this.#fleet = options.redisUrl !== undefined;
    const serve = ['serve', '--demo', '--port', String(port), '--host', '127.0.0.1', '--public-url', this.url];
    const main = pathToFileURL(join(options.root, 'src', 'cli', 'main.ts')).href;
    const args = options.fromSources
      ? ['--import', 'tsx', '--input-type=module', '-e', `const { run } = await import(${JSON.stringify(main)}); process.exitCode = await run(${JSON.stringify(serve)});`]
      : [join(options.root, 'bin', 'livemask.js'), ...serve];
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEMASK_')));
    this.child = spawn(process.execPath, args, {
      cwd: options.root,
      detached: true, // a process group of its own: stop() ends its ffmpeg children with it
      env: {
        ...env,
        LIVEMASK_LOG_LEVEL: 'info',
        LIVEMASK_DATA: options.dataDir,
        LIVEMASK_EVIDENCE: 'on',
        ...(options.redisUrl !== undefined ? { LIVEMASK_REDIS_URL: options.redisUrl } : {}),
        LIVEMASK_CAPACITY: String(options.capacity),
        LIVEMASK_MAX_MASKED: String(options.maxMasked),
        LIVEMASK_DRAIN_MS: '5000',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.on('error', (err) => (this.#stderr += `\nspawn failed: ${err.message}`));
    this.child.stdout.on('data', (d: Buffer) => (this.#stdout = (this.#stdout + d.toString()).slice(-20_000)));
    this.child.stderr.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-20_000)));
    this.exited = once(this.child, 'close');
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderrTail(lines = 8): string {
    return this.#stderr.trim().split('\n').slice(-lines).join('\n');
  }

  /** Resolves when the worker listens and, in fleet mode, has joined the fleet. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.pid === undefined) {
        throw new SoakWorkerError('SPAWN_FAILED', `livemask serve on port ${this.port} did not spawn`);
      }
      if (!this.alive) {
        throw new SoakWorkerError('DIED', `livemask serve on port ${this.port} exited (${String(this.child.exitCode ?? this.child.signalCode)}): ${this.stderrTail()}`);
      }
      if (this.#stdout.includes('listening on') && (!this.#fleet || this.#stderr.includes('fleet worker taking rooms'))) {
        return;
      }
      if (Date.now() > deadline) {
        throw new SoakWorkerError('NOT_READY', `livemask serve on port ${this.port} not in the fleet after ${timeoutMs} ms: ${this.stderrTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** RSS of the node process, and of it plus its descendants (ffmpeg pipelines), bytes. */
  memory(): { node: number; total: number } {
    if (!this.alive) {
      return { node: 0, total: 0 };
    }
    const node = rssBytes(this.pid);
    return { node, total: node + descendants(this.pid).reduce((a, p) => a + rssBytes(p), 0) };
  }

  /** The worker's Prometheus text, or undefined when it does not answer in 3 s. */
  async metrics(): Promise<string | undefined> {
    try {
      const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(3000) });
      return res.ok ? await res.text() : undefined;
    } catch {
      return undefined; // a busy or dead worker: the sample is missing, not fatal
    }
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#stopping || this.child.pid === undefined) {
      await this.exited;
      return;
    }
    this.#stopping = true;
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-this.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    signalGroup('SIGKILL'); // any child the worker left behind
  }

  /** Synchronous last resort on process exit. */
  killNow(): void {
    if (this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
