import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { connectClient, deletePrefix, REDIS_URL, waitFor } from './helpers.js';
import { freePort } from './serve-process.js';

/**
 * `livemask serve` with LIVEMASK_REDIS_URL joins the fleet. The server uses
 * the default key prefix, so this test keeps to a Redis database of its own
 * (13) and empties the prefix there afterwards.
 */

const FLEET_DB_URL = `${REDIS_URL.replace(/\/\d*$/, '')}/13`;
const DATA_DIR = join(repoRoot, '.tmp', `serve-fleet-${process.pid}`);

interface Serve {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: () => string;
  stderr: () => string;
  closed: Promise<unknown[]>;
}

const children: Serve[] = [];

afterEach(async () => {
  for (const run of children.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL');
    }
    await run.closed;
  }
  await deletePrefix('livemask', FLEET_DB_URL);
  rmSync(DATA_DIR, { recursive: true, force: true });
});

function serve(env: NodeJS.ProcessEnv, port = 0): Serve {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEMASK_')));
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/cli-entry.ts'), 'serve', '--demo', '--port', String(port)], {
    cwd: repoRoot,
    env: { ...base, LIVEMASK_LOG_LEVEL: 'info', LIVEMASK_DATA: DATA_DIR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const run = { child, stdout: () => stdout, stderr: () => stderr, closed: once(child, 'close') };
  children.push(run);
  return run;
}

describe('livemask serve in a fleet', () => {
  it('takes rooms up to LIVEMASK_CAPACITY, shows them in /metrics, and hands them back on SIGTERM', async () => {
    const run = serve({ LIVEMASK_REDIS_URL: FLEET_DB_URL, LIVEMASK_CAPACITY: '2' });
    const url = await waitFor(`the server URL (stderr: ${run.stderr().slice(-500)})`, () => /listening on (http:\/\/\S+)/.exec(run.stdout())?.[1], 30_000);
    const client = await connectClient('livemask', FLEET_DB_URL);
    try {
      await client.openRoom('serve-room');
      const assignment = await waitFor('serve-room to be assigned', () => client.assignment('serve-room'));
      expect(assignment.workerId).toMatch(new RegExp(`-${run.child.pid}$`));
      expect(assignment.publicUrl).toBe(url);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^livemask_fleet_rooms_held 1$/m);
      expect(metrics).toMatch(/^livemask_fleet_capacity 2$/m);

      run.child.kill('SIGTERM');
      const [code] = await run.closed;
      expect(code, run.stderr().slice(-2000)).toBe(0);
      expect(run.stderr()).toContain('fleet worker drained');
      // No other worker: the room waits in the queue for the next one.
      expect(await client.roomStatus('serve-room')).toEqual({ state: 'queued' });
      expect(await client.endRoom('serve-room')).toBe('removed');
    } finally {
      await client.close();
    }
  });

  it('is not ready and serves no room while it cannot join, then exits with a clear error when LIVEMASK_REDIS_URL points nowhere', async () => {
    const started = Date.now();
    const port = await freePort();
    const run = serve({ LIVEMASK_REDIS_URL: 'redis://:hunter2@127.0.0.1:1' }, port);
    // Listening, but still trying Redis: /readyz says 503, and media for any room is refused with Retry-After.
    const readyz = await waitFor('the server to listen', () => fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined), 10_000);
    expect(readyz.status).toBe(503);
    const minted = await fetch(`http://127.0.0.1:${port}/v1/demo/token?room=r1&role=control&sub=ctl`);
    const { token } = (await minted.json()) as { token: string };
    const mask = await fetch(`http://127.0.0.1:${port}/v1/rooms/r1/participants/alice/mask`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ masked: true }),
    });
    expect([mask.status, mask.headers.get('retry-after'), ((await mask.json()) as { message: string }).message]).toEqual([503, '1', 'this worker is joining the fleet']);
    const [code] = await run.closed;
    expect(code).toBe(1);
    expect(run.stderr()).toMatch(/livemask: cannot reach Redis at 127\.0\.0\.1:1 within 5000 ms: .*ECONNREFUSED/);
    expect(run.stderr()).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
