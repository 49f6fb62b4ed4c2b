import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/server/index.js';
import { exportEvidence, loadEvidenceKeys, verify, verifyBundle } from '../../src/evidence/index.js';
import { bearer, SECRET, SseClient, startServer, token, type TestServer } from '../server/helpers.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { createYunet, hasYunet, type Yunet } from '../support/yunet.js';
import { decodeVideo, FfmpegSource, Publisher, Subscriber, waitFor } from './peers.js';

/**
 * An H.264 publisher (packetization mode 1, as browsers send it; here
 * libx264 through ffmpeg's RFC 6184 packetizer into a werift peer that
 * offers H.264 only) on the real media plane: the hiring side gets its
 * H.264 untouched, the audience the masked rendition (VP8), audited by
 * YuNet; the evidence holds the original H.264 in Matroska, verifies, and
 * exports.
 */

const ROOM = 'room-h264';
const CLIP = 'clm_franck_talking_face';

function maskedToken(sub: string): Promise<string> {
  return mintToken({ alg: 'HS256', secret: SECRET }, { room: ROOM, sub, role: 'applicant', masked: true });
}

/** The payload type's codec name in an SDP answer's video section. */
function answerCodecs(sdp: string): string[] {
  const video = sdp.split(/^m=/m).find((s) => s.startsWith('video')) ?? '';
  return [...video.matchAll(/^a=rtpmap:\d+ ([^/]+)\//gm)].map((m) => m[1] ?? '');
}

describe.skipIf(!hasTestData || !hasYunet)(`live media plane with an H.264 publisher${hasTestData && hasYunet ? '' : ` — skipped: ${noDataReason} (and the YuNet model)`}`, () => {
  let srv: TestServer;
  let events: SseClient;
  let yunet: Yunet;
  const source = new FfmpegSource('h264');
  const publisher = new Publisher('h264');
  const recruiter = new Subscriber();
  const audience = new Subscriber();
  const vp8Only = new Subscriber();

  beforeAll(async () => {
    yunet = await createYunet();
    srv = await startServer();
    events = await SseClient.open(`${srv.url}/v1/rooms/${ROOM}/events`, bearer(await token(ROOM, 'control')));
    await recruiter.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'recruiter'));
    await audience.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'audience'));
    await vp8Only.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'streamer'), {}, ['vp8']);
    await publisher.publish(srv.url, ROOM, await maskedToken('alice'));
    await source.start(clipPath(CLIP), (kind, packet) => publisher.write(kind, packet));
  });

  afterAll(async () => {
    await source.stop();
    await events.close();
    await srv.server.stop();
    await yunet.close();
  });

  it('answers an H.264-only offer with H.264, and a subscriber offering both with VP8 first and H.264 besides', () => {
    expect(answerCodecs(publisher.session?.answer ?? '')).toEqual(['H264']);
    expect(answerCodecs(recruiter.session?.answer ?? '')).toEqual(['VP8', 'H264']);
  });

  it('forwards the H.264 payloads unchanged to a hiring subscriber, which decodes them and sees the face', async () => {
    await waitFor(() => recruiter.count('video') >= 90, 15_000, `90 video packets at the recruiter (ffmpeg: ${source.stderr})`);
    const written = new Set(publisher.written.map((w) => w.payload));
    const video = recruiter.received.filter((r) => r.kind === 'video');
    expect(video.every((r) => written.has(r.payload))).toBe(true);
    const h264Type = recruiter.session?.answer.match(/^a=rtpmap:(\d+) H264\//m)?.[1];
    expect(recruiter.videoPackets.every((p) => String(p.packet.header.payloadType) === h264Type)).toBe(true);
    const frames = await decodeVideo(recruiter.videoPackets, 'h264');
    expect(frames.length).toBeGreaterThan(20);
    const seen = await Promise.all(frames.slice(-10).map((f) => yunet.detect(f)));
    expect(seen.filter((faces) => faces.length > 0).length).toBeGreaterThanOrEqual(8);
  });

  it('gives the audience the masked rendition in VP8: never a publisher payload, and no face an independent detector can find', async () => {
    await waitFor(() => audience.count('video') >= 120, 20_000, `120 masked video packets at the audience (ffmpeg: ${source.stderr})`);
    const written = new Set(publisher.written.map((w) => w.payload));
    expect(audience.received.filter((r) => r.kind === 'video' && written.has(r.payload))).toEqual([]);
    const vp8Type = audience.session?.answer.match(/^a=rtpmap:(\d+) VP8\//m)?.[1];
    expect(audience.videoPackets.every((p) => String(p.packet.header.payloadType) === vp8Type)).toBe(true);
    const masked = await decodeVideo(audience.videoPackets);
    expect(masked.length).toBeGreaterThan(20);
    const audited = masked.filter((_, i) => i % Math.max(1, Math.floor(masked.length / 30)) === 0);
    const hits: number[] = [];
    for (const frame of audited) {
      if ((await yunet.detect(frame)).length > 0) {
        hits.push(frame.index);
      }
    }
    expect(hits).toEqual([]);
    await waitFor(() => audience.count('audio') >= 30, 5000, 'audio at the audience');
  });

  it('a hiring subscriber that did not offer H.264 gets no video and a clear error event, and audio still flows', async () => {
    await waitFor(() => events.messages.some((m) => m.event === 'error' && m.data.includes('CODEC_MISMATCH')), 10_000, 'the CODEC_MISMATCH error');
    expect(vp8Only.count('video')).toBe(0);
    await waitFor(() => vp8Only.count('audio') >= 20, 5000, 'audio at the VP8-only subscriber');
    expect(events.messages.filter((m) => m.data.includes('CODEC_MISMATCH'))).toHaveLength(1);
  });

  it('records the original H.264 in Matroska segments that verify, decode, and export into a verifiable bundle', async () => {
    const res = await fetch(`${srv.url}${publisher.session?.location ?? ''}`, { method: 'DELETE', headers: bearer(await maskedToken('alice')) });
    expect(res.status).toBe(200);
    const root = join(srv.dataDir, 'evidence');
    await waitFor(() => existsSync(join(root, ROOM)) && readdirSync(join(root, ROOM)).some((s) => existsSync(join(root, ROOM, s, 'manifest.sig'))), 10_000, 'the signed manifest');
    const keys = await loadEvidenceKeys({ dataDir: srv.dataDir, needSigning: false });
    const result = await verify(root, ROOM, keys.publicKey);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const [session] = readdirSync(join(root, ROOM));
    const files = readdirSync(join(root, ROOM, session ?? '', 'alice'));
    const video = files.filter((f) => f.startsWith('video-'));
    expect(video.length).toBeGreaterThan(0);
    expect(video.every((f) => f.endsWith('.mkv'))).toBe(true);
    for (const f of video) {
      const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,nb_read_frames', '-of', 'csv=p=0', join(root, ROOM, session ?? '', 'alice', f)], { encoding: 'utf8' });
      expect(probe.status, probe.stderr).toBe(0);
      const [codec, width, frames] = probe.stdout.trim().split(',');
      expect({ codec, width }).toEqual({ codec: 'h264', width: '320' });
      expect(Number(frames)).toBeGreaterThan(10);
    }
    const work = await mkdtemp(join(tmpdir(), 'livemask-h264-export-'));
    try {
      const exported = await exportEvidence({
        root, room: ROOM, from: new Date(Date.now() - 120_000).toISOString(), to: new Date().toISOString(),
        out: join(work, 'bundle'), actor: 'ops-1', reason: 'h264 test', publicKey: keys.publicKey,
      });
      expect(exported.report.clip.path).toBe('clip.mkv');
      expect(exported.report.clip.tracks.find((t) => t.kind === 'video')).toMatchObject({ codec: 'h264', packetsIdentical: true });
      expect(await verifyBundle(exported.dir, keys.publicKey)).toMatchObject({ ok: true });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
