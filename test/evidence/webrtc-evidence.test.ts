import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEvidenceKeys, readAudit, verify, verifyBundle } from '../../src/evidence/index.js';
import { tamperSuite } from './tamper-suite.js';
import { mintToken, type Role } from '../../src/server/index.js';
import { RECORDED_PARTICIPANTS, recordThroughWebrtc, type WebrtcRecording } from './webrtc-recording.js';
import { SECRET, token } from '../server/helpers.js';
import { hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { until } from '../browser/page-probes.js';

/**
 * The ops side of the evidence over HTTP and in Chromium: a room is
 * recorded through real WebRTC (two werift publishers fed by ffmpeg from a
 * real face clip); then `/v1/evidence` is called with and without an ops
 * token and a reason, and the replay page at `/ops/rooms/{room}` is opened,
 * played and seeked through its timeline. Screenshots go to .tmp/browser/.
 */

const CHROMIUM = process.env.LIVEMASK_CHROMIUM ?? '/usr/bin/chromium';
const ROOM = 'room-replay';
const SHOTS = join(repoRoot, '.tmp', 'browser');
const RECORD_SECONDS = 10;

const noChromium = existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (scripts/setup.sh --test, or set LIVEMASK_CHROMIUM)`;

function opsToken(room: string, sub = 'ops-ann'): Promise<string> {
  return mintToken({ alg: 'HS256', secret: SECRET }, { room, sub, role: 'ops' });
}

describe.skipIf(!hasTestData)(`evidence recorded through WebRTC, for ops: tamper suite, HTTP routes, replay page${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let rec: WebrtcRecording;
  let base: string;
  let ops: string;
  let publicKey: KeyObject;

  const get = (path: string, t: string | undefined, reason: string | undefined): Promise<Response> =>
    fetch(`${base}${path}`, {
      headers: {
        ...(t !== undefined ? { authorization: `Bearer ${t}` } : {}),
        ...(reason !== undefined ? { 'x-livemask-reason': encodeURIComponent(reason) } : {}),
      },
    });

  beforeAll(async () => {
    rec = await recordThroughWebrtc(ROOM, RECORD_SECONDS);
    base = rec.srv.url;
    ops = await opsToken(ROOM);
    publicKey = (await loadEvidenceKeys({ dataDir: rec.srv.dataDir, needSigning: false })).publicKey;
  }, 150_000);

  afterAll(async () => {
    await rec?.srv.server.stop();
  });

  tamperSuite('tamper suite on the WebRTC recording: each change is caught and named', () => ({
    root: rec.root, room: ROOM, session: rec.sessionId, publicKey, participant: 'alice',
    edit: { from: '"role":"applicant"', to: '"role":"recruiter"' }, dropType: 'room:mask-on',
  }));

  describe('access', () => {
    const session = (): string => rec.sessionId;
    const routes = (): string[] => [
      `/v1/evidence/rooms/${ROOM}`,
      `/v1/evidence/rooms/${ROOM}/verify`,
      `/v1/evidence/rooms/${ROOM}/audit`,
      `/v1/evidence/rooms/${ROOM}/sessions/${session()}/timeline`,
      `/v1/evidence/rooms/${ROOM}/sessions/${session()}/media/alice`,
    ];

    const posts = (): string[] => [
      `/v1/evidence/rooms/${ROOM}/exports`,
      `/v1/evidence/rooms/${ROOM}/hold`,
      `/v1/evidence/rooms/${ROOM}/release`,
      '/v1/evidence/sweep',
    ];
    const post = (path: string, t: string, body: Record<string, unknown>): Promise<Response> =>
      fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('gives 403 to every other role on every evidence route, and 401 without a token', async () => {
      const roles: Role[] = ['streamer', 'cohost', 'guest', 'recruiter', 'applicant', 'audience', 'control'];
      for (const role of roles) {
        const t = await token(ROOM, role);
        for (const path of routes()) {
          const res = await get(path, t, 'curious');
          expect(res.status, `${role} ${path}`).toBe(403);
        }
        for (const path of posts()) {
          const res = await post(path, t, { reason: 'curious', from: '2020-01-01T00:00:00Z', to: '2030-01-01T00:00:00Z' });
          expect(res.status, `${role} POST ${path}`).toBe(403);
        }
      }
      expect((await readAudit(rec.root, ROOM)).length).toBe(0);
      expect((await get(`/v1/evidence/rooms/${ROOM}`, undefined, 'curious')).status).toBe(401);
      const forged = `${ops.slice(0, -4)}AAAA`;
      expect((await get(`/v1/evidence/rooms/${ROOM}`, forged, 'curious')).status).toBe(401);
    });

    it('gives 403 to an ops token for another room, and for a route across rooms without room "*"', async () => {
      const other = await opsToken('room-other');
      expect((await get(`/v1/evidence/rooms/${ROOM}`, other, 'dispute')).status).toBe(403);
      expect((await get('/v1/evidence/rooms', ops, 'dispute')).status).toBe(403);
      const all = await opsToken('*');
      const res = await get('/v1/evidence/rooms', all, 'dispute');
      expect(res.status).toBe(200);
      expect(((await res.json()) as { rooms: { room: string }[] }).rooms.map((r) => r.room)).toContain(ROOM);
    });

    it('gives 400 to an ops access without a reason, and audits nothing for it', async () => {
      const before = (await readAudit(rec.root, ROOM)).length;
      for (const path of routes()) {
        const res = await get(path, ops, undefined);
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as { message: string }).message).toMatch(/reason/);
        expect((await get(path, ops, '   ')).status).toBe(400);
      }
      expect((await readAudit(rec.root, ROOM)).length).toBe(before);
    });

    it('serves the verification and audits each access with the actor and the reason', async () => {
      const res = await get(`/v1/evidence/rooms/${ROOM}/verify`, ops, 'dispute #41: applicant asks for the record');
      expect(res.status).toBe(200);
      const body = (await res.json()) as { intact: boolean; counts: { segments: number; sessions: number } };
      expect(body.intact).toBe(true);
      expect(body.counts.segments).toBeGreaterThanOrEqual(4); // two participants, audio and video each
      const last = (await readAudit(rec.root, ROOM)).at(-1);
      expect(last?.type).toBe('verify');
      expect(last?.data).toMatchObject({ actor: 'ops-ann', reason: 'dispute #41: applicant asks for the record' });

      const audit = await get(`/v1/evidence/rooms/${ROOM}/audit`, ops, 'review of accesses');
      const log = (await audit.json()) as { intact: boolean; entries: { action: string; actor: string; reason: string }[] };
      expect(log.intact).toBe(true);
      expect(log.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['list', 'verify']));
    });

    it('a posted room event and the mask switch are in the session timeline', async () => {
      const res = await get(`/v1/evidence/rooms/${ROOM}/sessions/${session()}/timeline`, ops, 'timeline check');
      const tl = (await res.json()) as { events: { type: string; data: Record<string, unknown>; offsetMs: number }[]; media: { participant: string }[] };
      const types = tl.events.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['room:participant-joined', 'room:mask-on', 'room:posted', 'room:participant-left']));
      expect(tl.events.find((e) => e.type === 'room:posted')?.data).toMatchObject({ name: 'offer-sent', data: { offer: 'o-1' } });
      expect(tl.media.map((m) => m.participant).sort()).toEqual([...RECORDED_PARTICIPANTS]);
    });
  });

  describe('export, hold, release and sweep over HTTP', () => {
    const post = (path: string, t: string, body: Record<string, unknown>): Promise<Response> =>
      fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('exports a range: the bundle downloads file by file and verifies elsewhere with only the public key; each step is audited', async () => {
      const tl = (await (await get(`/v1/evidence/rooms/${ROOM}/sessions/${rec.sessionId}/timeline`, ops, 'export prep')).json()) as { startedAt: string };
      const t0 = Date.parse(tl.startedAt);
      const from = new Date(t0 + 3000).toISOString();
      const to = new Date(t0 + 7000).toISOString();
      expect((await post(`/v1/evidence/rooms/${ROOM}/exports`, ops, { from, to })).status).toBe(400); // no reason
      const res = await post(`/v1/evidence/rooms/${ROOM}/exports`, ops, { from, to, reason: 'dispute #41: export' });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { id: string; files: string[]; counts: { segments: number } };
      expect(res.headers.get('location')).toBe(`/v1/evidence/rooms/${ROOM}/exports/${body.id}`);
      expect(body.files).toEqual(expect.arrayContaining(['bundle.json', 'clip.webm', 'report.json', 'report.txt', 'timeline.json']));
      expect(body.counts.segments).toBeGreaterThanOrEqual(4);
      const elsewhere = await mkdtemp(join(tmpdir(), 'livemask-bundle-http-'));
      try {
        for (const file of body.files) {
          const got = await get(`/v1/evidence/rooms/${ROOM}/exports/${body.id}/${file}`, ops, 'dispute #41: download');
          expect(got.status, file).toBe(200);
          await mkdir(dirname(join(elsewhere, file)), { recursive: true });
          await writeFile(join(elsewhere, file), Buffer.from(await got.arrayBuffer()));
        }
        expect(await verifyBundle(elsewhere, publicKey)).toMatchObject({ ok: true });
      } finally {
        await rm(elsewhere, { recursive: true, force: true });
      }
      expect((await get(`/v1/evidence/rooms/${ROOM}/exports/${body.id}/../../evidence-keys/demo.pem`, ops, 'probe')).status).toBe(404);
      expect((await get(`/v1/evidence/rooms/${ROOM}/exports/${body.id}/nope.txt`, ops, 'probe')).status).toBe(404);
      const audit = await readAudit(rec.root, ROOM);
      expect(audit.filter((e) => e.type === 'export' && e.data.reason === 'dispute #41: export')).toHaveLength(1);
      expect(audit.filter((e) => e.type === 'export' && e.data.reason === 'dispute #41: download')).toHaveLength(body.files.length);
    });

    it('refuses a backwards range (400) and a range with no recording (404)', async () => {
      const bad = await post(`/v1/evidence/rooms/${ROOM}/exports`, ops, { from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z', reason: 'check' });
      expect(bad.status).toBe(400);
      const empty = await post(`/v1/evidence/rooms/${ROOM}/exports`, ops, { from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z', reason: 'check' });
      expect(empty.status).toBe(404);
    });

    it('holds and releases the room (audited); the sweep runs over HTTP for a room-"*" token and keeps sessions within retention', async () => {
      const held = await post(`/v1/evidence/rooms/${ROOM}/hold`, ops, { reason: 'litigation hold #7' });
      expect(held.status).toBe(200);
      expect(await held.json()).toMatchObject({ room: ROOM, held: true, actor: 'ops-ann', reason: 'litigation hold #7' });
      const all = await opsToken('*');
      expect((await post('/v1/evidence/sweep', ops, { reason: 'nightly', dryRun: true })).status).toBe(403); // needs room "*"
      const dry = await post('/v1/evidence/sweep', all, { reason: 'nightly', dryRun: true });
      expect(dry.status).toBe(200);
      // Fresh sessions are within the 90-day retention; which expired ones a hold keeps is tested in test/evidence/governance.test.ts.
      expect(((await dry.json()) as { kept: { room: string; why: string }[] }).kept).toEqual(expect.arrayContaining([expect.objectContaining({ room: ROOM, why: 'retained' })]));
      const released = await post(`/v1/evidence/rooms/${ROOM}/release`, ops, { reason: 'settled' });
      expect(released.status).toBe(200);
      expect(await released.json()).toMatchObject({ held: false });
      const again = await post(`/v1/evidence/rooms/${ROOM}/release`, ops, { reason: 'settled' });
      expect(again.status).toBe(409);
      const after = ((await (await post('/v1/evidence/sweep', all, { reason: 'nightly', dryRun: true })).json()) as {
        kept: { room: string; why: string }[]; deleted: unknown[]; derived: unknown;
      });
      expect(after.kept).toEqual(expect.arrayContaining([expect.objectContaining({ room: ROOM, why: 'retained' })]));
      expect(after.deleted).toEqual([]);
      // The sweep also looks at exports and replay media (sweep-derived.ts): today's export and a live session's media stay.
      expect(after.derived).toEqual({ exports: [], replayCache: [] });
      const types = (await readAudit(rec.root, ROOM)).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['hold', 'release']));
      expect(await verify(rec.root, ROOM, publicKey)).toMatchObject({ ok: true });
    });
  });

  describe.skipIf(noChromium !== undefined)(`replay page in Chromium${noChromium ? ` — skipped: ${noChromium}` : ''}`, () => {
    let browser: Browser | undefined;
    let page: Page;

    beforeAll(async () => {
      await mkdir(SHOTS, { recursive: true });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--disable-background-networking', '--no-sandbox', '--headless=new', '--autoplay-policy=no-user-gesture-required'],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (err) => console.error(`replay page error: ${err.message}`));
    });

    afterAll(async () => {
      await browser?.close();
    });

    type Track = { participant: string; currentTime: number; offsetSec: number; ready: number; decoded: number; paused: boolean; width: number; lumaVariance: number };
    // Runs in the page: each player's state, and the luma variance of its current frame (0 when blank).
    const TRACKS = `() => window.replay.tracks.map((t) => {
      const c = document.createElement('canvas');
      c.width = 80;
      c.height = 45;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(t.video, 0, 0, c.width, c.height);
      const px = g.getImageData(0, 0, c.width, c.height).data;
      let sum = 0, sum2 = 0;
      for (let i = 0; i < px.length; i += 4) {
        const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
        sum += y;
        sum2 += y * y;
      }
      const n = px.length / 4;
      return {
        participant: t.participant, currentTime: t.video.currentTime, offsetSec: t.offsetSec, ready: t.video.readyState,
        decoded: t.video.getVideoPlaybackQuality().totalVideoFrames, paused: t.video.paused, width: t.video.videoWidth,
        lumaVariance: sum2 / n - (sum / n) ** 2,
      };
    })`;
    const tracks = (): Promise<Track[]> => page.evaluate<Track[]>(`(${TRACKS})()`);

    it('loads the session with a token and a reason: intact, one player per participant, the timeline', async () => {
      await page.goto(`${base}/ops/rooms/${ROOM}#token=${ops}`);
      expect(await page.title()).toBe('livemask evidence replay');
      await page.locator('#reason').fill('dispute #41: replay');
      await page.locator('#load').click();
      await until(() => page.locator('#verification').textContent(), (t) => t?.startsWith('intact') === true, 20_000, 'the verification banner');
      await until(tracks, (ts) => ts.length === 2 && ts.every((t) => t.ready >= 2 && t.width > 0), 20_000, 'both recordings to load');
      expect(await page.locator('#timeline button.event').count()).toBeGreaterThan(5);
      // The token never went into the address bar's history.
      expect(page.url()).not.toContain('token=');
      const audit = await readAudit(rec.root, ROOM);
      expect(audit.filter((e) => e.data.reason === 'dispute #41: replay').map((e) => e.type)).toEqual(expect.arrayContaining(['list', 'replay', 'media']));
    });

    it('plays: every participant\'s video advances and frames decode', async () => {
      await page.locator('#play').click();
      const start = await tracks();
      await until(tracks, (ts) => ts.every((t, i) => t.currentTime > (start[i]?.currentTime ?? 0) + 1), 10_000, 'both videos to advance');
      const now = await tracks();
      expect(now.every((t) => t.decoded > 10 && t.lumaVariance > 100)).toBe(true);
      // In sync on the session clock: the two participants' session times agree within 0.5 s.
      const sessionTimes = now.map((t) => t.offsetSec + t.currentTime);
      expect(Math.abs((sessionTimes[0] ?? 0) - (sessionTimes[1] ?? 0))).toBeLessThan(0.5);
    });

    it('seeks through the timeline: clicking the mask-on event puts every player there, and frames still decode', async () => {
      const maskOn = page.locator('#timeline button.event', { hasText: 'room:mask-on' });
      const offsetMs = Number(await maskOn.getAttribute('data-offset-ms'));
      expect(offsetMs).toBeGreaterThan(2000);
      const before = await tracks();
      await maskOn.click();
      const there = await until(
        tracks,
        (ts) => ts.every((t) => Math.abs(t.offsetSec + t.currentTime - offsetMs / 1000) < 1.0),
        5000,
        'the players at the mask-on time',
      );
      // It moved (the players were elsewhere), and playback goes on from there with new frames.
      expect(before.some((t) => Math.abs(t.offsetSec + t.currentTime - offsetMs / 1000) > 1.0)).toBe(true);
      const decoded = there.map((t) => t.decoded);
      await until(tracks, (ts) => ts.every((t, i) => t.decoded > (decoded[i] ?? 0) + 5), 10_000, 'frames to decode after the seek');
      expect(await page.locator('#timeline button.selected').textContent()).toContain('room:mask-on');
      expect(Number(await page.locator('#timeline li.current button').getAttribute('data-offset-ms'))).toBeGreaterThanOrEqual(offsetMs);
      const path = join(SHOTS, 'replay.png');
      await page.screenshot({ path, fullPage: true });
      expect((await stat(path)).size).toBeGreaterThan(1000);
    });

    it('exports a range from the page: the export button makes a bundle, audited with the page\'s reason', async () => {
      await page.locator('#export-from').fill('2');
      await page.locator('#export-to').fill('6');
      await page.locator('#export').click();
      await until(() => page.locator('#status').textContent(), (t) => t?.startsWith('exported ') === true || t?.startsWith('export failed') === true, 30_000, 'the export');
      expect(await page.locator('#status').textContent()).toMatch(/^exported /);
      const result = JSON.parse((await page.locator('#export-result').textContent()) ?? '{}') as { id: string; files: string[] };
      expect(result.files).toContain('clip.webm');
      const audit = await readAudit(rec.root, ROOM);
      expect(audit.some((e) => e.type === 'export' && e.data.reason === 'dispute #41: replay' && e.data.export === result.id)).toBe(true);
    });

    it('shows a clear error for a wrong token, and loads nothing', async () => {
      const other = await browser?.newPage();
      if (!other) {
        throw new Error('no browser');
      }
      await other.goto(`${base}/ops/rooms/${ROOM}#token=${await token(ROOM, 'recruiter')}`);
      await other.locator('#reason').fill('curious');
      await other.locator('#load').click();
      await until(() => other.locator('#status').textContent(), (t) => t?.includes('403') === true, 10_000, 'the refusal');
      expect(await other.locator('#players video').count()).toBe(0);
      await other.close();
    });
  });
});
