import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';

// The shipped entry point, `node bin/livemask.js serve`, runs the compiled
// dist/. It is rebuilt first when any source is newer than it, so that this
// never tests stale code.

const entry = join(repoRoot, 'bin', 'livemask.js');
const builtMain = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      newest = Math.max(newest, newestSource(path));
    } else if (entry.name.endsWith('.ts')) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

function ensureBuilt(): void {
  const sources = Math.max(...['src', 'workers'].map((d) => join(repoRoot, d)).filter(existsSync).map(newestSource));
  if (existsSync(builtMain) && statSync(builtMain).mtimeMs >= sources) {
    return;
  }
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
  if (build.status !== 0) {
    throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
}

type Child = ChildProcessByStdio<null, Readable, Readable>;

interface Run {
  child: Child;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: Child[] = [];
const work = mkdtempSync(join(tmpdir(), 'livemask-serve-'));

/** Environment without the caller's LIVEMASK_* variables, plus `env`. */
function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEMASK_')));
  return { ...base, LIVEMASK_LOG_LEVEL: 'info', ...env };
}

function start(args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [entry, 'serve', ...args], {
    cwd: work,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function waitForUrl(run: Run, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(run.stdout());
    if (match?.[1]) {
      return match[1];
    }
    if (run.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no URL on stdout (exit ${run.child.exitCode}): ${run.stderr()}`);
    }
    await Promise.race([once(run.child.stdout, 'data'), run.exited, new Promise((r) => setTimeout(r, 200))]);
  }
}

async function exitCode(run: Run, timeoutMs = 15_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms: ${run.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([run.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(() => ensureBuilt(), 240_000);

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const SECRET = 'process-test-secret-0123456789abcdef';

describe('the built package', () => {
  it('exports livemask/client and livemask/evidence-jobs, resolved by Node from package.json', () => {
    const script = "const c = await import('livemask/client'); const j = await import('livemask/evidence-jobs');"
      + " console.log(JSON.stringify([typeof c.LivemaskClient, typeof j.EvidenceJobs, typeof j.EvidenceWorker]));";
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual(['function', 'function', 'function']);
  });
});

describe('livemask serve as a process', () => {
  it.each([
    [{ LIVEMASK_TOKEN_SECRET: 'short' }, 'livemask: LIVEMASK_TOKEN_SECRET: must be at least 32 bytes (got 5)'],
    [{ LIVEMASK_TOKEN_SECRET: SECRET, LIVEMASK_MAX_BODY_BYTES: 'lots' }, /^livemask: LIVEMASK_MAX_BODY_BYTES: /],
    [{ LIVEMASK_TOKEN_SECRET: SECRET, LIVEMASK_REDIS_URL: 'http://u:hunter2@x' }, /^livemask: LIVEMASK_REDIS_URL: /],
    [{}, /^livemask: no token key: set LIVEMASK_TOKEN_SECRET or LIVEMASK_TOKEN_PUBLIC_KEY/],
  ])('exits 2 with one line naming the variable (%j)', async (env, reason) => {
    const run = start(['--port', '0'], { LIVEMASK_DATA: join(work, 'data'), ...env });
    expect(await exitCode(run)).toBe(2);
    const lines = run.stderr().split('\n').filter((l) => l !== '');
    expect(lines, run.stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(reason);
    expect(run.stderr()).not.toContain('hunter2');
    expect(run.stdout()).toBe('');
  });

  it('exits 2 naming --data when the data directory cannot be made (it once hung under /proc)', async () => {
    const run = start(['--port', '0', '--data', '/proc/livemask-cannot'], { LIVEMASK_TOKEN_SECRET: SECRET });
    expect(await exitCode(run)).toBe(2);
    expect(run.stderr().trim()).toMatch(/^livemask: --data: cannot create or write \/proc\/livemask-cannot \(\w+\)$/);
  });

  it('serves /healthz, creates its data directory, and stops gracefully on SIGTERM', async () => {
    const data = join(work, 'served-data');
    const run = start(['--port', '0', '--host', '127.0.0.1', '--data', data], { LIVEMASK_TOKEN_SECRET: SECRET });
    const url = await waitForUrl(run);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(existsSync(data)).toBe(true);
    expect((await fetch(`${url}/v1/demo/token?room=r&role=control&sub=s`)).status).toBe(404);
    run.child.kill('SIGTERM');
    expect(await exitCode(run)).toBe(0);
    const log = run.stderr();
    expect(log).toContain('"signal":"SIGTERM"');
    expect(log).toContain('"msg":"livemask serve stopped"');
    expect(log).not.toContain(SECRET);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('in demo mode says so, mints tokens, and stops on SIGINT', async () => {
    const run = start(['--port', '0', '--demo', '--data', join(work, 'demo-data')], {});
    const url = await waitForUrl(run);
    expect(run.stdout()).toContain('(demo mode)');
    const minted = await fetch(`${url}/v1/demo/token?room=r1&role=control&sub=me`);
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    const put = await fetch(`${url}/v1/rooms/r1/participants/a1/mask`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"masked":true}',
    });
    expect(put.status).toBe(204);
    run.child.kill('SIGINT');
    expect(await exitCode(run)).toBe(0);
    expect(run.stderr()).toContain('demo tokens are enabled');
    expect(run.stderr()).not.toContain(token.split('.')[2]);
  });
});
