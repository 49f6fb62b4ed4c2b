import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LivemaskClient } from '../../src/client/index.js';
import { readAudit, verify } from '../../src/evidence/index.js';
import { FfmpegSource, Publisher, Subscriber } from '../live/peers.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { collectEvents, deletePrefix, disposeAfterEach, REDIS_URL, testLogger, waitFor } from './helpers.js';
import { demoToken, FleetServeProcess, freePort } from './serve-process.js';

/**
 * A room's media moves with the room. Two real `livemask serve` workers of
 * one host (one data directory, one evidence key, as a host's workers are
 * deployed) run a room whose applicant publishes a real face clip over
 * WebRTC and was masked by the control plane (not by its token). The holder
 * is killed with SIGKILL. Then:
 * - the other worker takes the room within 15 s, and the client gets
 *   `room-moved` with its URL;
 * - the applicant re-publishes there with a token that does not say
 *   `masked`, and is masked all the same: the mask state outlived the
 *   holder, and the audience never gets one of its original frames;
 * - a worker refuses media for a room it does not hold (409);
 * - when the room ends, the evidence worker seals the dead worker's open
 *   session by recovery, and both workers' sessions verify as one room,
 *   with the `failover` event and the gap in the recording stated.
 * Keeps to Redis database 10 (the workers use the default key prefix).
 */

const DB_URL = `${REDIS_URL.replace(/\/\d*$/, '')}/10`;
const CLIP = 'clm_franck_talking_face';
const ROOM = 'moving-media-room';
const disposers = disposeAfterEach();


describe.skipIf(!hasTestData)(`fleet failover with live media and evidence${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  it('moves the room, keeps the applicant masked on the new worker, and both workers\' evidence verifies as one room with the gap stated', async () => {
    await deletePrefix('livemask', DB_URL);
    disposers.push(() => deletePrefix('livemask', DB_URL));
    const data = mkdtempSync(join(tmpdir(), 'livemask-failover-'));
    disposers.push(() => rm(data, { recursive: true, force: true }));
    const key = generateKeyPairSync('ed25519');
    const env = { LIVEMASK_EVIDENCE_KEY: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const workers: FleetServeProcess[] = [];
    for (let i = 0; i < 2; i += 1) {
      const port = await freePort();
      const worker = new FleetServeProcess({ port, redisUrl: DB_URL, capacity: 2, dataDir: data, evidence: true, env });
      disposers.push(() => worker.stop());
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.ready()));
    const client = await LivemaskClient.connect({ redisUrl: DB_URL, logger: testLogger(), commandTimeoutMs: 5000 });
    disposers.push(() => client.close());

    const started = await client.startRoom({ roomId: ROOM });
    const holder = workers.find((w) => w.publicUrl === started.url);
    const other = workers.find((w) => w !== holder);
    if (!holder || !other) {
      throw new Error(`no worker advertises ${started.url}`);
    }
    const { stream, seen } = collectEvents(client, ROOM, disposers);
    await stream.ready;

    // The applicant publishes on the holder; the control plane masks it.
    const source = new FfmpegSource();
    let target = new Publisher();
    disposers.push(() => source.stop());
    const first = target;
    disposers.push(async () => first.session?.pc.close());
    await first.publish(started.url, ROOM, await demoToken(started.url, ROOM, 'applicant', 'alice'));
    expect(await client.setMask(ROOM, 'alice', true)).toMatchObject({ changed: true });
    await source.start(clipPath(CLIP), (kind, packet) => target.write(kind, packet));
    // About 3 s of media recorded on the holder.
    await waitFor(`video from the first publisher (ffmpeg: ${source.stderr})`, () => first.written.length >= 240, 20_000);

    holder.child.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.exited;
    const moved = await waitFor('room-moved', () => seen.find((e) => e.type === 'room-moved'), 20_000);
    console.log(`failover with media: room-moved ${Date.now() - killedAt} ms after SIGKILL`);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(moved).toMatchObject({ url: other.publicUrl, from: started.workerId });

    // A worker serves only the rooms it holds: the new holder refuses media for another room.
    const stranger = new Publisher();
    disposers.push(async () => stranger.session?.pc.close());
    await expect(stranger.publish(other.publicUrl, 'not-this-room', await demoToken(other.publicUrl, 'not-this-room', 'applicant', 'zed')))
      .rejects.toThrow(/: 409 .*ROOM_NOT_HERE/);

    // The applicant re-publishes to the new URL, with a token that does not say masked.
    const second = new Publisher();
    disposers.push(async () => second.session?.pc.close());
    await second.publish(other.publicUrl, ROOM, await demoToken(other.publicUrl, ROOM, 'applicant', 'alice'));
    target = second;
    // The new holder relays what it recorded while taking the room over: the mask it kept (seq 1 there), then the failover.
    const failover = await waitFor('the failover event', () => seen.find((e) => e.type === 'failover'), 5000);
    expect(failover).toMatchObject({ seq: 2, fromWorker: started.workerId, toWorker: expect.stringMatching(other.workerIdPattern) as unknown, failovers: 1 });
    expect(seen.filter((e) => e.type === 'mask-on').map((e) => e.seq).at(-1)).toBe(1);
    const joined = await waitFor('alice to join the new holder', () => seen.slice(seen.indexOf(failover)).find((e) => e.type === 'participant-joined' && e.participant === 'alice'), 10_000);
    expect(joined).toMatchObject({ masked: true });

    // The audience on the new holder gets the masked rendition: never one of the original frames.
    const audience = new Subscriber();
    disposers.push(async () => audience.session?.pc.close());
    await audience.subscribe(other.publicUrl, ROOM, 'alice', await demoToken(other.publicUrl, ROOM, 'audience', 'ann'));
    await waitFor('masked video at the audience', () => audience.count('video') >= 90, 30_000);
    const original = new Set(second.written.map((w) => w.payload));
    const leaked = audience.received.filter((r) => r.kind === 'video' && original.has(r.payload));
    expect(leaked).toHaveLength(0);

    // The room ends once the applicant left; the new holder finalises it.
    await source.stop();
    const aliceToken = await demoToken(other.publicUrl, ROOM, 'applicant', 'alice');
    const left = await fetch(`${other.publicUrl}${second.session?.location ?? ''}`, { method: 'DELETE', headers: { authorization: `Bearer ${aliceToken}` } });
    expect(left.status).toBe(200);
    await waitFor('alice to leave', () => seen.some((e) => e.type === 'participant-left' && e.participant === 'alice'), 10_000);
    expect(await client.endRoom(ROOM)).toBe('signalled');
    const root = join(data, 'evidence');
    const finalised = await waitFor(
      `the finalise audit entry (log: ${other.stderr.slice(-1500)})`,
      async () => (await readAudit(root, ROOM).catch(() => [])).find((e) => e.type === 'verify' && e.data.actor === 'system'),
      40_000,
    );
    const sessions = (await readdir(join(root, ROOM))).filter((n) => !n.startsWith('.') && !n.startsWith('audit')).sort();
    expect(sessions).toHaveLength(2);
    expect(finalised.data, JSON.stringify(finalised.data)).toMatchObject({ reason: 'room ended', intact: true });
    expect(finalised.data.recovered).toHaveLength(1);

    const result = await verify(root, ROOM, key.publicKey);
    expect(result).toMatchObject({ ok: true, counts: { sessions: 2 } });
    if (!result.ok || !result.continuity) {
      throw new Error('no continuity');
    }
    const [before, after] = result.continuity.sessions;
    expect(before?.workerId).toBe(started.workerId);
    expect(before?.recovered).toBe(true);
    expect(after?.workerId).toMatch(other.workerIdPattern);
    expect(result.continuity.takeovers).toHaveLength(1);
    const takeover = result.continuity.takeovers[0];
    console.log(`failover with media: evidence gap ${takeover?.gapMs} ms`);
    expect(takeover).toMatchObject({ type: 'failover', fromWorker: started.workerId, previousSessionId: before?.sessionId, sessionId: after?.sessionId });
    expect(takeover?.gapMs).toBeGreaterThan(0);
    expect(takeover?.gapMs).toBeLessThan(30_000);
    // The new session's chain holds the failover and the mask state it started with.
    const chain = await readFile(join(root, ROOM, after?.sessionId ?? '', 'events.jsonl'), 'utf8');
    const types = chain.trimEnd().split('\n').map((line) => (JSON.parse(line) as { type: string }).type);
    expect(types).toContain('room:failover');
    expect(types).toContain('room:mask-on');
    expect(types.indexOf('room:mask-on')).toBeLessThan(types.indexOf('room:participant-joined'));
  });
});
