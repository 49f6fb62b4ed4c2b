import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FLEET_DEFAULTS } from '../../src/fleet/index.js';
import { repoRoot } from '../support/paths.js';
import { connectClient, deletePrefix, REDIS_URL, startWorker, uniquePrefix, waitFor, disposeAfterEach } from './helpers.js';

/**
 * Failover with a real worker process: test/fleet/fixtures/worker.ts runs a
 * fleet worker; killed with SIGKILL it cannot hand anything back, so its room
 * must move through BullMQ's lock expiry and stalled check.
 */

/** The documented bound (FleetTiming), plus 2 s for a loaded test machine. */
const FAILOVER_BOUND_MS = FLEET_DEFAULTS.lockDurationMs + 2 * FLEET_DEFAULTS.stalledIntervalMs + 2000;

interface Line {
  event: string;
  room?: string;
  reason?: string;
}

class WorkerProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;

  constructor(prefix: string, workerId: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fleet/fixtures/worker.ts')], {
      cwd: repoRoot,
      env: { ...process.env, FLEET_PREFIX: prefix, FLEET_WORKER_ID: workerId, REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = once(this.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    createInterface({ input: this.child.stdout }).on('line', (text) => {
      this.lines.push(JSON.parse(text) as Line);
    });
    createInterface({ input: this.child.stderr }).on('line', (text) => this.stderr.push(text));
  }

  waitLine(what: string, match: (line: Line) => boolean, timeoutMs = 30_000): Promise<Line> {
    return waitFor(
      `${what} (stderr: ${this.stderr.slice(-5).join(' | ')})`,
      () => {
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`the worker process exited before ${what}: ${this.stderr.slice(-5).join(' | ')}`);
        }
        return this.lines.find(match);
      },
      timeoutMs,
    );
  }

  /** Kills it (if still running) and waits for it to be gone and its output read. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }
}

const disposers = disposeAfterEach();

async function roomOnChild(room: string): Promise<{ prefix: string; child: WorkerProcess; client: Awaited<ReturnType<typeof connectClient>> }> {
  const prefix = uniquePrefix();
  disposers.push(() => deletePrefix(prefix));
  const client = await connectClient(prefix);
  disposers.push(() => client.close());
  const child = new WorkerProcess(prefix, 'child-a');
  disposers.push(() => child.stop());
  await child.waitLine('the child worker to be ready', (l) => l.event === 'ready');
  await client.openRoom(room);
  await child.waitLine(`the child to take ${room}`, (l) => l.event === 'assigned' && l.room === room);
  expect((await client.assignment(room))?.workerId).toBe('child-a');
  return { prefix, child, client };
}

describe('fleet failover', () => {
  it(`moves a room to another worker within ${FAILOVER_BOUND_MS} ms when its worker is killed with SIGKILL`, async () => {
    const { prefix, child, client } = await roomOnChild('failover-room');
    const b = await startWorker(prefix, 'worker-b', 4);
    disposers.push(() => b.worker.close());

    child.child.kill('SIGKILL');
    const killedAt = Date.now();
    const [, signal] = await child.exited;
    expect(signal).toBe('SIGKILL');

    const taken = await waitFor('worker-b to take the room', () => b.assigned.find((a) => a.room === 'failover-room'), FAILOVER_BOUND_MS + 5000);
    const tookMs = taken.at - killedAt;
    console.log(`failover: room taken over ${tookMs} ms after SIGKILL (bound ${FAILOVER_BOUND_MS} ms)`);
    expect(tookMs).toBeLessThan(FAILOVER_BOUND_MS);
    expect(taken.failovers).toBe(1);
    // The room's state names the dead holder, with no hand-back time: the new holder logs a failover.
    expect(taken.previous).toMatchObject({ workerId: 'child-a', room: 'failover-room' });
    expect(taken.previous?.releasedAt).toBeUndefined();
    expect(await client.roomStatus('failover-room')).toMatchObject({ state: 'held', assignment: { workerId: 'worker-b' } });
  });

  it('hands the room to another worker at once when its worker process gets SIGTERM', async () => {
    const { prefix, child, client } = await roomOnChild('sigterm-room');
    const b = await startWorker(prefix, 'worker-b', 4);
    disposers.push(() => b.worker.close());

    child.child.kill('SIGTERM');
    const termAt = Date.now();
    const [code] = await child.exited;
    expect(code).toBe(0);
    expect(child.lines).toContainEqual(expect.objectContaining({ event: 'released', room: 'sigterm-room', reason: 'drained' }));
    const taken = await waitFor('worker-b to take the room', () => b.assigned.find((a) => a.room === 'sigterm-room'), 5000);
    console.log(`sigterm: room taken over ${taken.at - termAt} ms after SIGTERM`);
    expect(taken.failovers).toBe(0);
    // Handed back: the previous holder and when it let go (a handover, not a failover).
    expect(taken.previous).toMatchObject({ workerId: 'child-a' });
    expect(Date.parse(taken.previous?.releasedAt ?? '')).toBeGreaterThanOrEqual(termAt - 1000);
    expect((await client.assignment('sigterm-room'))?.workerId).toBe('worker-b');
  });
});
