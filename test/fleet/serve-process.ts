import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { repoRoot } from '../support/paths.js';
import { waitFor } from './helpers.js';

export { freePort } from '../../bench/fleet-workers.js';
/** A token from a worker's demo endpoint (`serve --demo`); fails unless it answers 200. */
export { demoToken } from '../../bench/fleet-peers.js';

export interface FleetServeOptions {
  port: number;
  redisUrl: string;
  capacity: number;
  dataDir: string;
  /** What `--public-url` is given; default `http://localhost:<port>`. */
  publicUrlArg?: string;
  /** Record evidence under `dataDir` (default off). */
  evidence?: boolean;
  /** More LIVEMASK_* settings (an evidence key, say). */
  env?: Record<string, string>;
}

/**
 * A real `livemask serve --demo` process in fleet mode (evidence off unless
 * asked, no LIVEMASK_* variable of the outer environment), killed with
 * SIGKILL on stop.
 */
export class FleetServeProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly publicUrl: string;
  readonly exited: Promise<unknown[]>;
  #stdout = '';
  #stderr = '';

  constructor(o: FleetServeOptions) {
    this.publicUrl = `http://localhost:${o.port}`;
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEMASK_')));
    const args = [
      '--import', 'tsx', join(repoRoot, 'test/support/cli-entry.ts'), 'serve', '--demo', '--port', String(o.port),
      '--public-url', o.publicUrlArg ?? this.publicUrl,
    ];
    this.child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: {
        ...base,
        LIVEMASK_LOG_LEVEL: 'info',
        LIVEMASK_DATA: o.dataDir,
        LIVEMASK_EVIDENCE: o.evidence === true ? 'on' : 'off',
        LIVEMASK_REDIS_URL: o.redisUrl,
        LIVEMASK_CAPACITY: String(o.capacity),
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout.on('data', (d: Buffer) => (this.#stdout += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.exited = once(this.child, 'close');
  }

  /** Its log (stderr). */
  get stderr(): string {
    return this.#stderr;
  }

  /** `hostname-pid`, as `livemask serve` names itself in the fleet. */
  get workerIdPattern(): RegExp {
    return new RegExp(`-${this.child.pid}$`);
  }

  async ready(): Promise<void> {
    await waitFor(
      `livemask serve to join the fleet (stderr: ${this.#stderr.slice(-800)})`,
      () => {
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`livemask serve exited: ${this.#stderr.slice(-800)}`);
        }
        return this.#stdout.includes('listening on') && this.#stderr.includes('fleet worker taking rooms');
      },
      30_000,
    );
  }

  /** A metric of this worker's /metrics; undefined while the scrape fails or the metric is absent. */
  async gauge(name: string): Promise<number | undefined> {
    try {
      const text = await (await fetch(`${this.publicUrl}/metrics`)).text();
      const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      return match?.[1] !== undefined ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Like {@link gauge}, but the metric must be there. */
  async metric(name: string): Promise<number> {
    const value = await this.gauge(name);
    if (value === undefined) {
      throw new Error(`no ${name} in /metrics of ${this.publicUrl}`);
    }
    return value;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }
}
