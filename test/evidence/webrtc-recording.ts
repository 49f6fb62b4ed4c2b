import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Manifest } from '../../src/evidence/index.js';
import { mintToken } from '../../src/server/index.js';
import { FfmpegSource, Publisher, waitFor } from '../live/peers.js';
import { putMask, SECRET, startServer, token, type TestServer } from '../server/helpers.js';
import { clipPath } from '../support/paths.js';

/**
 * A room recorded through real WebRTC: `livemask serve` (in process) takes
 * two werift publishers, each fed VP8 and Opus RTP by ffmpeg from a real
 * face clip; mid-stream the live-room server switches the applicant's mask
 * on and posts a room event; then both leave, and the room's evidence
 * session is sealed.
 */

export interface WebrtcRecording {
  srv: TestServer;
  room: string;
  root: string;
  sessionId: string;
  /** Wall-clock ms of the mask-on switch. */
  maskOnAt: number;
}

export const RECORDED_PARTICIPANTS = ['alice', 'bob'] as const;

export async function recordThroughWebrtc(room: string, seconds: number): Promise<WebrtcRecording> {
  const srv = await startServer({ LIVEMASK_SEGMENT_SECONDS: '2' });
  const sources = [new FfmpegSource(), new FfmpegSource()];
  const publishers = [new Publisher(), new Publisher()];
  try {
    const tokens = [
      await mintToken({ alg: 'HS256', secret: SECRET }, { room, sub: 'alice', role: 'applicant', masked: false }),
      await token(room, 'streamer', 'bob'),
    ];
    const clips = [clipPath('clm_franck_talking_face'), clipPath('clm_franck_talking_face')];
    // Media time, not wall time: on a loaded machine ffmpeg may fall behind real time.
    const span = publishers.map(() => ({ first: -1, last: -1 }));
    const mediaSeconds = (): number => Math.min(...span.map((t) => (t.first < 0 ? 0 : (((t.last - t.first) >>> 0) / 90_000))));
    for (const [i, p] of publishers.entries()) {
      await p.publish(srv.url, room, tokens[i] ?? '');
      await sources[i]?.start(clips[i] ?? '', (kind, packet) => {
        if (kind === 'video') {
          const t = span[i];
          if (t) {
            t.last = packet.readUInt32BE(4);
            t.first = t.first < 0 ? t.last : t.first;
          }
        }
        p.write(kind, packet);
      });
    }
    const control = await token(room, 'control', 'live-room');
    await waitFor(() => mediaSeconds() >= seconds / 2, 60_000, `${seconds / 2} s of video from both publishers`);
    const maskOnAt = Date.now();
    const res = await putMask(srv.url, room, 'alice', { masked: true }, control);
    if (res.status !== 204) {
      throw new Error(`mask switch: ${res.status}`);
    }
    const posted = await fetch(`${srv.url}/v1/rooms/${room}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${control}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'offer-sent', data: { offer: 'o-1' } }),
    });
    if (!posted.ok) {
      throw new Error(`room event: ${posted.status} ${await posted.text()}`);
    }
    await waitFor(() => mediaSeconds() >= seconds, 60_000, `${seconds} s of video from both publishers`);
    await sleep(200); // the last packets on the loopback
    for (const s of sources) {
      await s.stop();
    }
    for (const p of publishers) {
      const location = p.session?.location ?? '';
      await fetch(new URL(location, srv.url), { method: 'DELETE', headers: { authorization: `Bearer ${tokens[publishers.indexOf(p)] ?? ''}` } });
      await p.session?.pc.close();
    }
    const root = join(srv.dataDir, 'evidence');
    const sealed = (): string | undefined =>
      existsSync(join(root, room)) ? readdirSync(join(root, room)).find((s) => existsSync(join(root, room, s, 'manifest.sig'))) : undefined;
    await waitFor(() => sealed() !== undefined, 15_000, 'the signed manifest of the recorded room');
    const sessionId = sealed() ?? '';
    const manifest = JSON.parse(readFileSync(join(root, room, sessionId, 'manifest.json'), 'utf8')) as Manifest;
    for (const participant of RECORDED_PARTICIPANTS) {
      const video = manifest.segments.filter((s) => s.participant === participant && s.kind === 'video').length;
      if (video < 2) {
        throw new Error(`the recording of ${participant} has ${video} video segments, the tests need 2 or more (ffmpeg: ${sources[0]?.stderr ?? ''})`);
      }
    }
    return { srv, room, root, sessionId, maskOnAt };
  } catch (err) {
    for (const s of sources) {
      await s.stop();
    }
    await srv.server.stop();
    throw err;
  }
}
