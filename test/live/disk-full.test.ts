import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEvidenceKeys, recover, verify } from '../../src/evidence/index.js';
import { bearer, SseClient, startServer, token, type TestServer } from '../server/helpers.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { FfmpegSource, Publisher, Subscriber, waitFor } from './peers.js';

/**
 * A full disk, for real: the server's data directory is a 384 KiB tmpfs
 * (mounted here as root), and a real WebRTC publisher streams a real face
 * clip until the evidence fills it. Recording must stop with an
 * `evidence-error` event while live media keeps flowing; once there is room
 * again, what was recorded is sealed and verifies.
 */

const mountPoint = mkdtempSync(join(tmpdir(), 'livemask-full-'));
const mounted = hasTestData && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=384k', 'tmpfs', mountPoint]).status === 0;
const skip = !hasTestData ? noDataReason : !mounted ? 'needs root to mount a small tmpfs' : undefined;
const ROOM = 'room-full';

describe.skipIf(skip !== undefined)(`evidence on a full disk${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let srv: TestServer;
  let events: SseClient;
  const source = new FfmpegSource();
  const publisher = new Publisher();
  const recruiter = new Subscriber();

  beforeAll(async () => {
    srv = await startServer({ LIVEMASK_DATA: mountPoint });
    events = await SseClient.open(`${srv.url}/v1/rooms/${ROOM}/events`, bearer(await token(ROOM, 'control')));
    await publisher.publish(srv.url, ROOM, await token(ROOM, 'guest', 'gus'));
    await recruiter.subscribe(srv.url, ROOM, 'gus', await token(ROOM, 'recruiter'));
    await source.start(clipPath('clm_franck_talking_face'), (kind, packet) => publisher.write(kind, packet));
  });

  afterAll(async () => {
    await source.stop();
    await events?.close();
    await srv?.server.stop();
    // A lazy unmount: a file the failed recording still holds must not keep the mount busy.
    if (spawnSync('umount', [mountPoint]).status !== 0) {
      spawnSync('umount', ['-l', mountPoint]);
    }
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('stops recording with an evidence-error event, and live media keeps flowing', async () => {
    await waitFor(() => events.messages.some((m) => m.event === 'evidence-error'), 30_000, 'the evidence-error event');
    const error = events.messages.find((m) => m.event === 'evidence-error');
    expect(error?.data).toMatch(/EVIDENCE_IO/);
    const at = Date.now();
    await waitFor(() => recruiter.count('video', at) >= 60, 5000, 'video at the recruiter after the disk filled');
    expect(srv.server.live.publisherCount).toBe(1);
  });

  it('once there is room again, what was recorded is sealed and verifies', async () => {
    await source.stop();
    await fetch(`${srv.url}${publisher.session?.location ?? ''}`, { method: 'DELETE', headers: bearer(await token(ROOM, 'guest', 'gus')) });
    await srv.server.stop();
    execFileSync('mount', ['-o', 'remount,size=8m', mountPoint]);
    const keys = await loadEvidenceKeys({ dataDir: mountPoint, needSigning: true });
    const root = join(mountPoint, 'evidence');
    await recover(root, { signingKey: keys.signingKey! });
    const result = await verify(root, ROOM, keys.publicKey);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const [session] = readdirSync(join(root, ROOM));
    const video = readdirSync(join(root, ROOM, session ?? '', 'gus')).filter((f) => f.startsWith('video-') && f.endsWith('.webm'));
    expect(video.length).toBeGreaterThan(0);
    for (const f of video) {
      const decoded = spawnSync('ffmpeg', ['-v', 'error', '-i', join(root, ROOM, session ?? '', 'gus', f), '-f', 'null', '-'], { encoding: 'utf8' });
      expect(decoded.status, `${f}: ${decoded.stderr}`).toBe(0);
    }
  });
});
