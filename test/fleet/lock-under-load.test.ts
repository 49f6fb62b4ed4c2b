import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LivemaskClient } from '../../src/client/index.js';
import { FLEET_DEFAULTS, lockRenewMs } from '../../src/fleet/index.js';
import { FfmpegSource, Publisher, Subscriber } from '../live/peers.js';
import { clipPath, hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { connectClient, deletePrefix, disposeAfterEach, REDIS_URL, testLogger, waitFor } from './helpers.js';

/**
 * No CPU-heavy work on the thread that renews BullMQ locks (issue 5). A real
 * `livemask serve` worker holds a fleet room while a masked publisher streams
 * the face clip through it (the masked rendition decodes, detects and
 * encodes) to an audience subscriber, for {@link LOAD_MS}. Then: no "room
 * lock lost" line, the same worker still holds the room, and the event-loop
 * delay the worker reports (prom-client's `nodejs_eventloop_lag_max_seconds`,
 * the max of `monitorEventLoopDelay` since the previous scrape) stayed under
 * the lock renewal period.
 *
 * `livemask serve` has no key prefix setting, so this test keeps to a Redis
 * database of its own (11) and empties the prefix there afterwards.
 */

const CLIP = 'clm_franck_talking_face';
const LOAD_MS = 20_000;
const DB_URL = `${REDIS_URL.replace(/\/\d*$/, '')}/11`;
const RENEW_MS = lockRenewMs(FLEET_DEFAULTS);
const disposers = disposeAfterEach();

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') {
    throw new Error('no port');
  }
  return address.port;
}

class ServeProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly publicUrl: string;
  readonly exited: Promise<unknown[]>;
  stderr = '';
  #stdout = '';

  constructor(port: number, dataDir: string) {
    this.publicUrl = `http://localhost:${port}`;
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEMASK_')));
    const args = ['--import', 'tsx', join(repoRoot, 'test/support/cli-entry.ts'), 'serve', '--demo', '--port', String(port), '--public-url', this.publicUrl];
    this.child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...base, LIVEMASK_LOG_LEVEL: 'info', LIVEMASK_DATA: dataDir, LIVEMASK_EVIDENCE: 'off', LIVEMASK_REDIS_URL: DB_URL, LIVEMASK_CAPACITY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout.on('data', (d: Buffer) => (this.#stdout += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = once(this.child, 'close');
  }

  async ready(): Promise<void> {
    await waitFor(
      `livemask serve to join the fleet (stderr: ${this.stderr.slice(-800)})`,
      () => {
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`livemask serve exited: ${this.stderr.slice(-800)}`);
        }
        return this.#stdout.includes('listening on') && this.stderr.includes('fleet worker taking rooms');
      },
      30_000,
    );
  }

  /** The named metric's value from /metrics. */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.publicUrl}/metrics`)).text();
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (match?.[1] === undefined) {
      throw new Error(`no ${name} in /metrics`);
    }
    return Number(match[1]);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }
}

async function demoToken(url: string, room: string, role: string, sub: string, masked = false): Promise<string> {
  const res = await fetch(`${url}/v1/demo/token?room=${room}&role=${role}&sub=${sub}${masked ? '&masked=true' : ''}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

describe.skipIf(!hasTestData)(`room locks under media load${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  it(`keeps its room lock while a masked rendition runs for ${LOAD_MS / 1000} s, with the event loop never held past the ${RENEW_MS} ms renewal`, async () => {
    await deletePrefix('livemask', DB_URL);
    disposers.push(() => deletePrefix('livemask', DB_URL));
    const dataDir = mkdtempSync(join(tmpdir(), 'livemask-lock-load-'));
    disposers.push(() => rm(dataDir, { recursive: true, force: true }));
    const worker = new ServeProcess(await freePort(), dataDir);
    disposers.push(() => worker.stop());
    await worker.ready();
    const client = await LivemaskClient.connect({ redisUrl: DB_URL, logger: testLogger(), commandTimeoutMs: 5000 });
    disposers.push(() => client.close());
    const fleet = await connectClient('livemask', DB_URL);
    disposers.push(() => fleet.close());

    const room = 'load-room';
    const started = await client.startRoom({ roomId: room });
    expect(started.url).toBe(worker.publicUrl);
    const before = await fleet.roomStatus(room);
    if (before.state !== 'held') {
      throw new Error(`room not held after startRoom: ${before.state}`);
    }

    const publisher = new Publisher();
    const source = new FfmpegSource();
    const audience = new Subscriber();
    disposers.push(async () => {
      await source.stop();
      await publisher.session?.pc.close();
      await audience.session?.pc.close();
    });
    await publisher.publish(started.url, room, await demoToken(started.url, room, 'applicant', 'alice', true));
    await source.start(clipPath(CLIP), (kind, packet) => publisher.write(kind, packet));
    await audience.subscribe(started.url, room, 'alice', await demoToken(started.url, room, 'audience', 'ann'));
    await waitFor(`masked video at the audience (ffmpeg: ${source.stderr})`, async () => audience.count('video') >= 30 && (await worker.metric('livemask_frames_masked_total')) > 0, 30_000);

    // Scrape once a second: each scrape reports the loop's longest delay since the previous one.
    await worker.metric('nodejs_eventloop_lag_max_seconds');
    const lagMaxMs: number[] = [];
    const maskedAtStart = await worker.metric('livemask_frames_masked_total');
    const loadUntil = Date.now() + LOAD_MS;
    await waitFor('the load period to end', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      lagMaxMs.push((await worker.metric('nodejs_eventloop_lag_max_seconds')) * 1000);
      return Date.now() > loadUntil;
    }, LOAD_MS + 10_000);
    const maskedFrames = (await worker.metric('livemask_frames_masked_total')) - maskedAtStart;
    console.log(`lock under load: ${maskedFrames} masked frames in ${LOAD_MS} ms; event-loop delay max per second (ms): ${lagMaxMs.map((x) => x.toFixed(0)).join(' ')}`);

    // The masked rendition really ran the whole time (about 25 fps).
    expect(maskedFrames).toBeGreaterThan((LOAD_MS / 1000) * 10);
    expect(worker.stderr).not.toContain('room lock lost');
    expect(worker.stderr).not.toContain('room job failed');
    expect(Math.max(...lagMaxMs)).toBeLessThan(RENEW_MS);
    expect(await fleet.roomStatus(room)).toMatchObject({ state: 'held', assignment: { workerId: before.assignment.workerId, publicUrl: worker.publicUrl } });
  }, LOAD_MS + 90_000);
});
