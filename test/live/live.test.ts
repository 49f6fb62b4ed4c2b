import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/server/index.js';
import { bearer, putMask, SECRET, SseClient, startServer, token, type TestServer } from '../server/helpers.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { lumaRegion, ssim } from '../../src/eval/index.js';
import { loadEvidenceKeys, verify } from '../../src/evidence/index.js';
import { lumaStdDev } from '../support/frames.js';
import { createYunet, hasYunet, type Yunet } from '../support/yunet.js';
import { decodeVideo, FfmpegSource, Publisher, Subscriber, waitFor } from './peers.js';

/**
 * The media plane with real WebRTC: werift peers in this process publish a
 * real face clip (ffmpeg, VP8 RTP) through WHIP and subscribe through WHEP.
 * The recruiter gets the original; the audience the masked rendition, which
 * YuNet (an independent detector, test-only) audits frame by frame.
 */

const ROOM = 'room-live';
const CLIP = 'clm_franck_talking_face';

function maskedToken(room: string, sub: string): Promise<string> {
  return mintToken({ alg: 'HS256', secret: SECRET }, { room, sub, role: 'applicant', masked: true });
}

async function sdpPost(url: string, path: string, t: string, body: string, type = 'application/sdp'): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { ...bearer(t), 'content-type': type }, body });
}

/** H.264 in packetization mode 0 (no fmtp): not taken; mode 1 is (test/live/h264.test.ts). */
const H264_MODE0_ONLY = [
  'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 't=0 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 102', 'c=IN IP4 0.0.0.0', 'a=rtpmap:102 H264/90000', 'a=sendonly', '',
].join('\r\n');

describe.skipIf(!hasTestData || !hasYunet)(`live media plane (WHIP/WHEP, werift)${hasTestData && hasYunet ? '' : ` — skipped: ${noDataReason} (and the YuNet model)`}`, () => {
  let srv: TestServer;
  let events: SseClient;
  let yunet: Yunet;
  const source = new FfmpegSource();
  let publisher = new Publisher();
  const recruiter = new Subscriber();
  const audience = new Subscriber();

  beforeAll(async () => {
    yunet = await createYunet();
    srv = await startServer();
    events = await SseClient.open(`${srv.url}/v1/rooms/${ROOM}/events`, bearer(await token(ROOM, 'control')));
    await publisher.publish(srv.url, ROOM, await maskedToken(ROOM, 'alice'));
    // The source writes to whichever publisher is current (one test makes alice leave and come back).
    await source.start(clipPath(CLIP), (kind, packet) => publisher.write(kind, packet));
    await recruiter.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'recruiter'));
    await audience.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'audience'));
  });

  afterAll(async () => {
    await source.stop();
    await events.close();
    await srv.server.stop();
    await yunet.close();
  });

  it('forwards the publisher VP8 payloads unchanged to a hiring subscriber', async () => {
    await waitFor(() => recruiter.count('video') >= 60, 10_000, `60 video packets (ffmpeg: ${source.stderr})`);
    const written = new Set(publisher.written.map((w) => w.payload));
    const video = recruiter.received.filter((r) => r.kind === 'video');
    expect(video.every((r) => written.has(r.payload))).toBe(true);
    await waitFor(() => recruiter.count('audio') >= 20, 5000, 'audio at the recruiter');
  });

  it('passes a hiring subscriber\'s PLI on to the publisher, at most one per 500 ms', async () => {
    const bursts: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 700)); // past the throttle interval
      const sent = Date.now();
      await recruiter.requestKeyframes(10);
      await new Promise((resolve) => setTimeout(resolve, 300));
      bursts.push(publisher.plis.filter((t) => t >= sent).length);
    }
    // Each burst of 10 reaches the publisher, thinned to one (two when the masked rendition asks for a keyframe of its own meanwhile).
    expect(bursts.every((n) => n >= 1 && n <= 2), `PLIs at the publisher per burst: ${bursts.join(', ')}`).toBe(true);
  });

  it('gives the audience the masked rendition: never a publisher video payload, and no face an independent detector can find', async () => {
    await waitFor(() => audience.count('video') >= 120, 15_000, `120 masked video packets at the audience (ffmpeg: ${source.stderr})`);
    await waitFor(() => audience.count('audio') >= 50, 5000, 'audio at the audience');
    const written = new Set(publisher.written.map((w) => w.payload));
    const video = audience.received.filter((r) => r.kind === 'video');
    // Not one raw packet: every video payload the audience got was made by the masked rendition.
    expect(video.filter((r) => written.has(r.payload))).toEqual([]);
    expect(events.messages.some((m) => m.event === 'participant-joined')).toBe(true);
    expect(events.messages.some((m) => m.event === 'error')).toBe(false);

    const masked = await decodeVideo(audience.videoPackets);
    const original = await decodeVideo(recruiter.videoPackets);
    expect(masked.length).toBeGreaterThan(20);
    const seen = await Promise.all(original.slice(-30).map((f) => yunet.detect(f)));
    // The auditor does see the face in the original rendition of the same stream...
    expect(seen.filter((faces) => faces.length > 0).length).toBeGreaterThanOrEqual(24);
    const faceBox = seen.find((faces) => faces.length > 0)?.[0]?.box;
    expect(faceBox).toBeDefined();
    const hits: number[] = [];
    const similar: number[] = [];
    // YuNet costs ~0.2 s a frame here: it audits 40 frames spread over the stream, the first included; SSIM checks every frame.
    const audited = new Set(Array.from({ length: 40 }, (_, i) => Math.floor((i * masked.length) / 40)));
    for (const frame of masked) {
      // ...and never in the masked one.
      if (audited.has(frame.index) && (await yunet.detect(frame)).length > 0) {
        hits.push(frame.index);
      }
      const nearest = original.reduce((best, f) => (Math.abs(f.at - frame.at) < Math.abs(best.at - frame.at) ? f : best));
      const a = lumaRegion(frame, faceBox!);
      const b = lumaRegion(nearest, faceBox!);
      if (a && b && ssim(a, b) >= 0.5) {
        similar.push(frame.index);
      }
    }
    expect(hits).toEqual([]);
    expect(similar).toEqual([]);
  });

  it('an audience token asking for the original in any way still gets the masked rendition, starting on a keyframe', async () => {
    await waitFor(() => audience.count('video') >= 30, 15_000, 'the masked rendition running');
    const sneaky = new Subscriber();
    const asked = Date.now();
    await sneaky.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'audience', 'sneaky'), {
      query: '?rendition=original&role=recruiter&masked=false',
      headers: { 'x-livemask-rendition': 'original', 'x-livemask-role': 'recruiter' },
      sdpLines: ['a=x-livemask-rendition:original'],
    });
    await waitFor(() => sneaky.count('video') >= 30, 10_000, 'video at the sneaky subscriber');
    // A new subscriber starts on a decodable picture: its first video packet starts a keyframe.
    // (How soon is a speed, measured by bench/live-latency.ts, not asserted here.)
    const first = sneaky.videoPackets[0];
    expect(first && (first.packet.payload[0] ?? 0) & 0x10).toBeTruthy();
    expect(first && ((first.packet.payload[1] ?? 1) & 0x01)).toBe(0);
    console.log(`first masked keyframe ${String((first?.at ?? 0) - asked)} ms after the WHEP offer`);
    const written = new Set(publisher.written.map((w) => w.payload));
    expect(sneaky.received.filter((r) => r.kind === 'video' && written.has(r.payload))).toEqual([]);
    await sneaky.session?.pc.close();
    await fetch(`${srv.url}${sneaky.session?.location ?? ''}`, { method: 'DELETE', headers: bearer(await token(ROOM, 'audience', 'sneaky')) });
  });

  it('mask off gives the audience the passthrough within 1 s; mask on stops it from the next packet and the masked rendition resumes', async () => {
    const control = await token(ROOM, 'control');
    expect((await putMask(srv.url, ROOM, 'alice', { masked: false }, control)).status).toBe(204);
    const off = Date.now();
    const isRaw = (payload: string): boolean => publisher.written.some((w) => w.payload === payload);
    await waitFor(() => audience.received.some((r) => r.kind === 'video' && r.at >= off && isRaw(r.payload)), 1000, 'passthrough video at the audience after mask off');
    await waitFor(() => audience.count('video', off) >= 30, 3000, 'more video after mask off');

    const switching = Date.now();
    expect((await putMask(srv.url, ROOM, 'alice', { masked: true }, control)).status).toBe(204);
    const on = Date.now();
    await waitFor(() => publisher.written.filter((w) => w.at >= on).length >= 60, 5000, 'publisher packets after mask on');
    const afterSwitch = new Set(publisher.written.filter((w) => w.at >= on).map((w) => w.payload));
    // No payload the publisher wrote after the PUT returned may reach the audience (zero allowance).
    expect(audience.received.filter((r) => r.kind === 'video' && afterSwitch.has(r.payload))).toEqual([]);
    // Packets already forwarded before the switch may still be on the loopback: allow them 100 ms.
    const written = new Set(publisher.written.map((w) => w.payload));
    expect(audience.received.filter((r) => r.kind === 'video' && r.at >= on + 100 && written.has(r.payload))).toEqual([]);
    expect(recruiter.count('video', on + 100)).toBeGreaterThan(0);
    // The masked rendition comes back, from a keyframe.
    await waitFor(() => audience.count('video', on + 100) >= 30, 5000, 'masked video at the audience after mask on');
    // Meanwhile the last unmasked picture did not stay on screen: the first frame after the switch is the flat grey cover.
    // (The cover may arrive before the PUT's answer: look from just before the request.)
    const fromSwitch = audience.videoPackets.filter((p) => p.at >= switching);
    const firstKey = fromSwitch.findIndex((p) => ((p.packet.payload[0] ?? 0) & 0x10) !== 0 && ((p.packet.payload[1] ?? 1) & 0x01) === 0);
    const [cover] = await decodeVideo(fromSwitch.slice(Math.max(0, firstKey)));
    expect(cover).toBeDefined();
    expect([cover?.width, cover?.height]).toEqual([160, 90]);
    expect(cover && lumaStdDev(cover)).toBeLessThan(2);
    expect((cover?.at ?? Infinity) - on).toBeLessThan(1000);
    console.log(`cover keyframe at the audience ${String((cover?.at ?? 0) - switching)} ms after the mask switch was asked for`);
  });

  it('refuses bad requests with clear 4xx answers', async () => {
    const t = await token(ROOM, 'guest', 'bob');
    const bad = await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, 'hello');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('SDP');
    expect((await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, await token('other-room', 'guest'), 'v=0')).status).toBe(403);
    expect((await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, 'v=0', 'text/plain')).status).toBe(415);
    expect((await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, await token(ROOM, 'control'), 'v=0')).status).toBe(403);
    const noIce = await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, H264_MODE0_ONLY.replace('H264/90000', 'VP8/90000'));
    expect(noIce.status).toBe(400);
    const h264 = await sdpPost(srv.url, `/v1/rooms/${ROOM}/whip`, t, H264_MODE0_ONLY);
    expect(h264.status).toBe(400);
    expect(((await h264.json()) as { message: string }).message).toMatch(/offered H264.*supported VP8, H264 \(H264 needs packetization-mode=1\)/);
  });

  it('takes trickled candidates on PATCH from the session owner only', async () => {
    const location = recruiter.session?.location ?? '';
    const frag = ['a=ice-ufrag:abcd', 'a=ice-pwd:0123456789abcdef012345', 'a=mid:0',
      'a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host', ''].join('\r\n');
    const patch = async (t: string, type = 'application/trickle-ice-sdpfrag'): Promise<Response> =>
      fetch(`${srv.url}${location}`, { method: 'PATCH', headers: { ...bearer(t), 'content-type': type }, body: frag });
    expect((await patch(await token(ROOM, 'recruiter'))).status).toBe(204);
    expect((await patch(await token(ROOM, 'audience', 'mallory'))).status).toBe(404);
    expect((await patch(await token(ROOM, 'recruiter'), 'text/plain')).status).toBe(415);
    // The session carries on.
    const before = recruiter.count('video');
    await waitFor(() => recruiter.count('video') > before + 10, 3000, 'video after the PATCH');
  });

  it('keeps serving after garbage UDP and RTP to a publisher port, counting what it dropped; other rooms keep working', async () => {
    const port = /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host/.exec(publisher.session?.answer ?? '')?.[1];
    expect(port).toBeDefined();
    const dropped = async (): Promise<{ notRtp: number; srtp: number }> => {
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      const count = (reason: string): number => Number(new RegExp(`^livemask_media_packets_dropped_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
      return { notRtp: count('not-rtp'), srtp: count('srtp-invalid') };
    };
    const start = await dropped();
    const socket = createSocket('udp4');
    for (let i = 0; i < 100; i += 1) {
      if (i % 10 === 0) {
        await new Promise((r) => setTimeout(r, 20)); // paced, so a busy machine's socket buffer does not overflow
      }
      // Not STUN, DTLS, TURN or RTP by its first byte (RFC 7983): 200-255.
      const junk = randomBytes(50 + i);
      junk[0] = 200 + (i % 56);
      socket.send(junk, Number(port), '127.0.0.1');
      // RTP by its first byte and header, but not SRTP from the peer: forged or garbage RTP.
      const rtp = randomBytes(60 + i);
      rtp[0] = 0x80;
      rtp[1] = 96;
      socket.send(rtp, Number(port), '127.0.0.1');
    }
    socket.close();
    let end = await dropped();
    const deadline = Date.now() + 3000;
    while ((end.notRtp - start.notRtp < 100 || end.srtp - start.srtp < 100) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      end = await dropped();
    }
    // Counted (loopback UDP may drop a few under load, never add any).
    expect(end.notRtp - start.notRtp).toBeGreaterThanOrEqual(90);
    expect(end.notRtp - start.notRtp).toBeLessThanOrEqual(100);
    expect(end.srtp - start.srtp).toBeGreaterThanOrEqual(90);
    expect(end.srtp - start.srtp).toBeLessThanOrEqual(100);
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

  it('restarts a masked rendition whose decoder dies: pipeline-restarted, the audience resumes masked, the hiring side never stops', async () => {
    const pipeline = srv.server.live.maskedPipeline(ROOM, 'alice');
    expect(pipeline?.pids.decoder).toBeDefined();
    const killed = Date.now();
    process.kill(pipeline?.pids.decoder ?? 0, 'SIGKILL');
    await waitFor(() => events.messages.some((m) => m.event === 'pipeline-restarted'), 5000, 'pipeline-restarted');
    expect(events.messages.find((m) => m.event === 'pipeline-restarted')?.data).toContain('decoder killed by SIGKILL');
    // The restarted decoder needs a keyframe: the worker asks the publisher for one.
    await waitFor(() => publisher.plis.some((t) => t >= killed), 3000, 'a PLI at the publisher');
    await waitFor(() => audience.count('video', killed + 500) >= 30, 8000, 'masked video after the restart');
    const written = new Set(publisher.written.map((w) => w.payload));
    expect(audience.received.filter((r) => r.kind === 'video' && r.at >= killed && written.has(r.payload))).toEqual([]);
    // The recruiter's passthrough does not depend on the masked rendition.
    const gaps = recruiter.received.filter((r) => r.kind === 'video' && r.at >= killed).map((r) => r.at);
    expect(Math.max(...gaps.slice(1).map((t, i) => t - (gaps[i] ?? t)))).toBeLessThan(500);
  });

  it('one room\'s failure does not touch another: a second room\'s masked rendition runs on while the first one\'s encoder dies', async () => {
    const calm = 'room-calm';
    const calmSource = new FfmpegSource();
    const calmPublisher = new Publisher();
    const calmAudience = new Subscriber();
    const calmEvents = await SseClient.open(`${srv.url}/v1/rooms/${calm}/events`, bearer(await token(calm, 'control')));
    try {
      await calmPublisher.publish(srv.url, calm, await maskedToken(calm, 'dana'));
      // The audience connects before the media flows: once the second rendition starts,
      // two renditions share this host's two cores and a DTLS handshake can take seconds.
      await calmAudience.subscribe(srv.url, calm, 'dana', await token(calm, 'audience'));
      await calmSource.start(clipPath(CLIP), (kind, packet) => calmPublisher.write(kind, packet));
      await waitFor(() => calmAudience.count('video') >= 30, 30_000, 'masked video in the second room');
      const restartsBefore = events.messages.filter((m) => m.event === 'pipeline-restarted').length;
      const pipeline = srv.server.live.maskedPipeline(ROOM, 'alice');
      const calmPipeline = srv.server.live.maskedPipeline(calm, 'dana');
      expect(pipeline?.pids.encoder).toBeDefined();
      const killed = Date.now();
      process.kill(pipeline?.pids.encoder ?? 0, 'SIGKILL');
      await waitFor(() => events.messages.filter((m) => m.event === 'pipeline-restarted').length > restartsBefore, 5000, 'pipeline-restarted in the first room');
      await waitFor(() => audience.count('video', killed + 500) >= 20, 8000, 'masked video in the first room after its restart');
      // Meanwhile the second room: the same pipeline processes, video all along, no event of the failure, nothing raw.
      expect(srv.server.live.maskedPipeline(calm, 'dana')?.pids).toEqual(calmPipeline?.pids);
      const times = calmAudience.received.filter((r) => r.kind === 'video' && r.at >= killed).map((r) => r.at);
      expect(times.length).toBeGreaterThan(10);
      // (A restart there would also show as new pids above, and as a gap of several seconds.)
      expect(Math.max(...times.slice(1).map((t, i) => t - (times[i] ?? t)))).toBeLessThan(2000);
      expect(calmEvents.messages.map((m) => m.event)).not.toContain('pipeline-restarted');
      expect(calmEvents.messages.map((m) => m.event)).not.toContain('error');
      const written = new Set(calmPublisher.written.map((w) => w.payload));
      expect(calmAudience.received.filter((r) => r.kind === 'video' && written.has(r.payload))).toEqual([]);
    } finally {
      await calmSource.stop();
      await calmEvents.close();
      await calmAudience.session?.pc.close();
      await calmPublisher.session?.pc.close();
    }
  });

  it('DELETE by its owner ends a session and emits participant-left; nobody else may; the room\'s evidence is sealed and verifies', async () => {
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

    // The room's last publisher left: its evidence session is sealed, verifies, and every segment decodes.
    const root = join(srv.dataDir, 'evidence');
    const keys = await loadEvidenceKeys({ dataDir: srv.dataDir, needSigning: false });
    await waitFor(() => existsSync(join(root, ROOM)) && readdirSync(join(root, ROOM)).some((s) => existsSync(join(root, ROOM, s, 'manifest.sig'))), 10_000, 'the signed manifest (its signature is written last)');
    const result = await verify(root, ROOM, keys.publicKey);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    expect(result.counts.segments).toBeGreaterThanOrEqual(2); // alice's video and audio at least
    const [session] = readdirSync(join(root, ROOM));
    const segments = readdirSync(join(root, ROOM, session ?? '', 'alice')).filter((f) => f.endsWith('.webm'));
    expect(segments.some((f) => f.startsWith('video-'))).toBe(true);
    for (const f of segments) {
      const decoded = spawnSync('ffmpeg', ['-v', 'error', '-i', join(root, ROOM, session ?? '', 'alice', f), '-f', 'null', '-'], { encoding: 'utf8' });
      expect(decoded.status, `${f}: ${decoded.stderr}`).toBe(0);
      expect(decoded.stderr.trim(), f).toBe('');
    }
  });
  it('a publisher that leaves and comes back: its subscribers resume, the audience still masked', async () => {
    const back = new Publisher();
    await back.publish(srv.url, ROOM, await maskedToken(ROOM, 'alice'));
    const since = Date.now();
    publisher = back;
    await waitFor(() => recruiter.count('video', since) >= 30, 8000, 'the recruiter resuming');
    await waitFor(() => audience.count('video', since) >= 30, 10_000, 'the audience resuming');
    const written = new Set(back.written.map((w) => w.payload));
    expect(audience.received.filter((r) => r.kind === 'video' && r.at >= since && written.has(r.payload))).toEqual([]);
    const recruiterRaw = recruiter.received.filter((r) => r.kind === 'video' && r.at >= since + 200);
    expect(recruiterRaw.length).toBeGreaterThan(0);
    expect(recruiterRaw.every((r) => written.has(r.payload))).toBe(true);
  });
});
