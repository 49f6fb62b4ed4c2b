import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/server/index.js';
import { bearer, putMask, SECRET, SseClient, startServer, token, type TestServer } from '../server/helpers.js';
import { Publisher, Subscriber, waitFor } from './peers.js';

/**
 * Session limits, with real werift peers: LIVEMASK_MAX_SESSIONS=3 and
 * LIVEMASK_MAX_MASKED=1. No media needs to flow: the limits apply at offer
 * time and at the mask switch.
 */

const ROOM = 'room-limits';
const TINY_OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';

function maskedToken(sub: string): Promise<string> {
  return mintToken({ alg: 'HS256', secret: SECRET }, { room: ROOM, sub, role: 'applicant', masked: true });
}

describe('session limits', () => {
  let srv: TestServer;
  let events: SseClient;
  const alice = new Publisher();
  const carol = new Publisher();
  const viewer = new Subscriber();

  beforeAll(async () => {
    srv = await startServer({ LIVEMASK_MAX_SESSIONS: '3', LIVEMASK_MAX_MASKED: '1' });
    events = await SseClient.open(`${srv.url}/v1/rooms/${ROOM}/events`, bearer(await token(ROOM, 'control')));
  });
  afterAll(async () => {
    await Promise.all([alice.session?.pc.close(), carol.session?.pc.close(), viewer.session?.pc.close()]);
    await events.close();
    await srv.server.stop();
  });

  it('refuses a masked publisher beyond the masked renditions, and any session beyond the limit, with 503 and Retry-After', async () => {
    await alice.publish(srv.url, ROOM, await maskedToken('alice'));
    const refused = await new Publisher().publish(srv.url, ROOM, await maskedToken('bob')).then(
      () => 'accepted',
      (err: unknown) => String(err),
    );
    expect(refused).toMatch(/503 .*maximum of 1 masked renditions/);

    await carol.publish(srv.url, ROOM, await token(ROOM, 'guest', 'carol'));
    await viewer.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'audience'));
    const fourth = await fetch(`${srv.url}/v1/rooms/${ROOM}/whep/alice`, {
      method: 'POST',
      headers: { ...bearer(await token(ROOM, 'recruiter')), 'content-type': 'application/sdp' },
      body: TINY_OFFER,
    });
    expect(fourth.status).toBe(503);
    expect(fourth.headers.get('retry-after')).toBe('5');
    expect(((await fourth.json()) as { message: string }).message).toContain('maximum of 3 sessions');
  });

  it('a mask switched on with no rendition slot left fails closed: an error event, and no rendition', async () => {
    expect((await putMask(srv.url, ROOM, 'carol', { masked: true }, await token(ROOM, 'control'))).status).toBe(204);
    await waitFor(() => events.messages.some((m) => m.event === 'error' && m.data.includes('MASKED_CAPACITY')), 3000, 'the capacity error');
    expect(srv.server.live.maskedPipeline(ROOM, 'carol')).toBeUndefined();
    expect(srv.server.live.maskedPipeline(ROOM, 'alice')).toBeDefined();
  });

  it('a session that ends makes room again', async () => {
    const ended = await fetch(`${srv.url}${viewer.session?.location ?? ''}`, { method: 'DELETE', headers: bearer(await token(ROOM, 'audience')) });
    expect(ended.status).toBe(200);
    const again = new Subscriber();
    await again.subscribe(srv.url, ROOM, 'alice', await token(ROOM, 'recruiter'));
    expect(srv.server.live.subscriberCount).toBe(1);
    await fetch(`${srv.url}${again.session?.location ?? ''}`, { method: 'DELETE', headers: bearer(await token(ROOM, 'recruiter')) });
    await again.session?.pc.close();
  });

  it('ends every session of a room, and only that room, when the room leaves this worker (a fleet release)', async () => {
    const other = new Publisher();
    await other.publish(srv.url, 'room-elsewhere', await token('room-elsewhere', 'guest', 'gil'));
    const before = srv.server.live.publisherCount;
    expect(before).toBeGreaterThanOrEqual(3); // alice and carol here, gil in the other room
    expect(srv.server.live.endRoom(ROOM)).toBe(before - 1);
    expect(srv.server.live.publisherCount).toBe(1);
    await waitFor(() => events.messages.filter((m) => m.event === 'participant-left').length >= 2, 3000, 'participant-left for alice and carol');
    expect(srv.server.live.session(other.session?.location.split('/').pop() ?? '')?.room).toBe('room-elsewhere');
    await other.session?.pc.close();
  });
});
