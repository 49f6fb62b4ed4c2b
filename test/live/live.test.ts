import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/server/index.js';
import { bearer, putMask, SECRET, SseClient, startServer, token, type TestServer } from '../server/helpers.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { FfmpegSource, Publisher, Subscriber, waitFor } from './peers.js';

/**
 * The media plane with real WebRTC: werift peers in this process publish a
 * real face clip (ffmpeg, VP8 RTP) through WHIP and subscribe through WHEP.
 * The masked rendition is not built yet, so non-hiring subscribers of a
 * masked participant must get audio and no video packet at all.
 */

const ROOM = 'room-live';
const CLIP = 'clm_franck_talking_face';

function maskedToken(room: string, sub: string): Promise<string> {
  return mintToken({ alg: 'HS256', secret: SECRET }, { room, sub, role: 'applicant', masked: true });
}

async function sdpPost(url: string, path: string, t: string, body: string, type = 'application/sdp'): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { ...bearer(t), 'content-type': type }, body });
}

const H264_ONLY = [
  'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 't=0 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 102', 'c=IN IP4 0.0.0.0', 'a=rtpmap:102 H264/90000', 'a=sendonly', '',
].join('\r\n');

describe.skipIf(!hasTestData)(`live media plane (WHIP/WHEP, werift)${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let srv: TestServer;
  let events: SseClient;
  const source = new FfmpegSource();
  const publisher = new Publisher();
  const recruiter = new Subscriber();
  const audience = new Subscriber();

  beforeAll(async () => {
    srv = await startServer();
    events = await SseClient.open(`${srv.url}/v1/rooms/${ROOM}/events`, bearer(await token(ROOM, 'control')));
    await publisher.publish(srv.url, ROOM, await maskedToken(ROOM, 'alice'));
    await source.start(clipPath(CLIP), (kind, packet) => publisher.write(kind, packet));
    await recruiter.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'recruiter'));
    await audience.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'audience'));
  });

  afterAll(async () => {
    await source.stop();
    await events.close();
    await srv.server.stop();
  });

  it('forwards the publisher VP8 payloads unchanged to a hiring subscriber', async () => {
    await waitFor(() => recruiter.count('video') >= 60, 10_000, `60 video packets (ffmpeg: ${source.stderr})`);
    const written = new Set(publisher.written.map((w) => w.payload));
    const video = recruiter.received.filter((r) => r.kind === 'video');
    expect(video.every((r) => written.has(r.payload))).toBe(true);
    await waitFor(() => recruiter.count('audio') >= 20, 5000, 'audio at the recruiter');
  });

  it('fails closed for a masked participant: the audience gets audio and no video, and an error event', async () => {
    await waitFor(() => audience.count('audio') >= 50, 5000, 'audio at the audience');
    expect(publisher.written.length).toBeGreaterThan(60);
    expect(audience.count('video')).toBe(0);
    const error = events.messages.find((m) => m.event === 'error');
    expect(error?.data).toContain('MASKED_RENDITION_UNAVAILABLE');
    expect(events.messages.some((m) => m.event === 'participant-joined')).toBe(true);
  });

  it('mask off resumes the passthrough within 1 s; mask on stops it from the next packet', async () => {
    const control = await token(ROOM, 'control');
    expect((await putMask(srv.url, ROOM, 'alice', { masked: false }, control)).status).toBe(204);
    const off = Date.now();
    await waitFor(() => audience.count('video', off) > 0, 1000, 'video at the audience after mask off');
    await waitFor(() => audience.count('video') >= 30, 3000, 'more video after mask off');

    expect((await putMask(srv.url, ROOM, 'alice', { masked: true }, control)).status).toBe(204);
    const on = Date.now();
    const afterSwitch = new Set(publisher.written.filter((w) => w.at >= on).map((w) => w.payload));
    await waitFor(() => publisher.written.filter((w) => w.at >= on).length >= 60, 5000, 'publisher packets after mask on');
    publisher.written.filter((w) => w.at >= on).forEach((w) => afterSwitch.add(w.payload));
    // No payload the publisher wrote after the PUT returned may reach the audience (zero allowance).
    expect(audience.received.filter((r) => r.kind === 'video' && afterSwitch.has(r.payload))).toEqual([]);
    // Packets already forwarded before the switch may still be on the loopback: allow them 100 ms.
    expect(audience.count('video', on + 100)).toBe(0);
    expect(recruiter.count('video', on + 100)).toBeGreaterThan(0);
  });

  it('refuses bad requests with clear 4xx answers', async () => {
    const t = await token(ROOM, 'guest', 'bob');
    const bad = await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, 'hello');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('SDP');
    expect((await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, await token('other-room', 'guest'), 'v=0')).status).toBe(403);
    expect((await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, 'v=0', 'text/plain')).status).toBe(415);
    expect((await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, await token(ROOM, 'control'), 'v=0')).status).toBe(403);
    const noIce = await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, H264_ONLY.replace('H264/90000', 'VP8/90000'));
    expect(noIce.status).toBe(400);
    const h264 = await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, H264_ONLY);
    expect(h264.status).toBe(400);
    expect(((await h264.json()) as { message: string }).message).toMatch(/offered H264.*supported VP8/);
  });

  it('keeps serving after garbage UDP to a publisher port; other rooms keep working', async () => {
    const port = /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host/.exec(publisher.session?.answer ?? '')?.[1];
    expect(port).toBeDefined();
    const socket = createSocket('udp4');
    for (let i = 0; i < 200; i += 1) {
      socket.send(randomBytes(50 + (i % 200)), Number(port), '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 300));
    socket.close();
    const before = recruiter.count('video');
    await waitFor(() => recruiter.count('video') > before + 20, 3000, 'video after garbage');

    const other = new Publisher();
    await other.publish(srv.url, 'room-other', await token('room-other', 'applicant', 'carol'));
    const viewer = new Subscriber();
    await viewer.subscribe(srv.url, 'room-other', 'carol', await token('room-other', 'audience'));
    expect(srv.server.live.subscriberCount).toBe(3);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/^livemask_subscribers 3$/m);
    expect(metrics).toMatch(/^livemask_rooms 2$/m);
    const viewerUrl = viewer.session?.location ?? '';
    expect(viewerUrl).toMatch(/^\/v1\/rooms\/room-other\/whep\/carol\/[0-9a-f-]{36}$/);
    const ended = await fetch(`${srv.url}${viewerUrl}`, { method: 'DELETE', headers: bearer(await token('room-other', 'audience')) });
    expect(ended.status).toBe(200);
    expect(srv.server.live.subscriberCount).toBe(2);
    expect(await (await fetch(`${srv.url}/metrics`)).text()).toMatch(/^livemask_subscribers 2$/m);
    await viewer.session?.pc.close();
    await other.session?.pc.close();
  });

  it('DELETE by its owner ends a session and emits participant-left; nobody else may', async () => {
    const location = publisher.session?.location ?? '';
    expect(location).toMatch(/^\/v1\/rooms\/room-live\/whip\/[0-9a-f-]{36}$/);
    // Another participant of the same room cannot end (or even find) alice's session.
    const stranger = await fetch(`${srv.url}${location}`, { method: 'DELETE', headers: bearer(await token(ROOM, 'guest', 'mallory')) });
    expect(stranger.status).toBe(404);
    expect(srv.server.live.session(location.split('/').pop() ?? '')?.kind).toBe('whip');
    const res = await fetch(`${srv.url}${location}`, { method: 'DELETE', headers: bearer(await maskedToken(ROOM, 'alice')) });
    expect(res.status).toBe(200);
    await waitFor(() => events.messages.some((m) => m.event === 'participant-left'), 3000, 'participant-left');
    const again = await fetch(`${srv.url}${location}`, { method: 'DELETE', headers: bearer(await maskedToken(ROOM, 'alice')) });
    expect(again.status).toBe(404);
  });
});
