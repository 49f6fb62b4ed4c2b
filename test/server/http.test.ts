import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mintToken } from '../../src/server/index.js';
import { bearer, putMask, SECRET, SseClient, startServer, token, type TestServer } from './helpers.js';

// Every test runs a real server on 127.0.0.1 and talks to it with fetch.

const running: TestServer[] = [];
const clients: SseClient[] = [];

async function serve(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  running.push(s);
  return s;
}

async function events(url: string, room: string, headers: Record<string, string>): Promise<SseClient> {
  const c = await SseClient.open(`${url}/v1/rooms/${room}/events`, headers);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(running.splice(0).map((s) => s.server.stop()));
});

async function rawConnect(url: string): Promise<Socket> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  await once(socket, 'connect');
  return socket;
}

/** The status line of the first response read from a raw socket. */
async function statusLine(socket: Socket): Promise<string> {
  let text = '';
  for await (const chunk of socket) {
    text += (chunk as Buffer).toString('latin1');
    if (text.includes('\r\n')) {
      break;
    }
  }
  return text.split('\r\n')[0] ?? '';
}

async function json(res: Response): Promise<{ error: string; message: string }> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as { error: string; message: string };
}

describe('health, readiness and metrics', () => {
  it('answers /healthz and /readyz while running', async () => {
    const { url } = await serve();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('exposes the named metrics in Prometheus text, with rooms counted live', async () => {
    const { url, server } = await serve({}, { defaultMetrics: true });
    const control = await token('r1', 'control');
    expect((await putMask(url, 'r1', 'a1', { masked: true }, control)).status).toBe(204);
    server.metrics.media.framesMasked(3);
    server.metrics.media.failsafeFrames();
    server.metrics.media.pipelineRestarted();
    server.metrics.media.observeStage('detect', 0.012);
    server.metrics.media.setSubscribers(2);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^livemask_rooms 1$/m);
    expect(text).toMatch(/^livemask_subscribers 2$/m);
    expect(text).toMatch(/^livemask_frames_masked_total 3$/m);
    expect(text).toMatch(/^livemask_failsafe_frames_total 1$/m);
    expect(text).toMatch(/^livemask_pipeline_restarts_total 1$/m);
    expect(text).toMatch(/^livemask_stage_latency_seconds_bucket\{le="0\.02",stage="detect"\} 1$/m);
    expect(text).toMatch(/^livemask_stage_latency_seconds_count\{stage="encode"\} 0$/m);
    // prom-client's default process metrics are in the same registry.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).not.toContain('a1');
  });

  it('answers 503 on /readyz once stop begins, closes event streams, then stops listening', async () => {
    const { url, server } = await serve({ LIVEMASK_DRAIN_MS: '400' });
    const stream = await events(url, 'r1', bearer(await token('r1', 'control')));
    expect(stream.response.status).toBe(200);
    const stopped = server.stop();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await json(ready)).toEqual({ error: 'UNAVAILABLE', message: 'not ready' });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // No new event streams while stopping.
    const late = await fetch(`${url}/v1/rooms/r1/events`, { headers: bearer(await token('r1', 'control')) });
    expect(late.status).toBe(503);
    expect(late.headers.get('retry-after')).toBe('1');
    await late.body?.cancel();
    await stopped;
    await stream.waitForEnd();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(server.stop()).toBe(stopped);
  });
});

describe('graceful stop and connections', () => {
  const body = '{"masked":true}';
  const head = (t: string): string =>
    `PUT /v1/rooms/r1/participants/a1/mask HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;

  it('is not held up by a connection that never sent a request', async () => {
    const { url, server } = await serve({}, { closeGraceMs: 10_000 });
    const socket = await rawConnect(url);
    const closed = once(socket, 'close');
    const t0 = Date.now();
    await server.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    await closed;
  });

  it('lets a request in flight finish, then stops', async () => {
    const { url, server, lines } = await serve({}, { closeGraceMs: 10_000 });
    const socket = await rawConnect(url);
    socket.write(head(await token('r1', 'control')) + body.slice(0, 5));
    await vi.waitFor(() => expect(lines().join('\n')).toContain('"msg":"incoming request"'), { timeout: 5000, interval: 20 });
    const switched: string[] = [];
    server.rooms.on('event', (e) => switched.push(`${e.type} ${'participant' in e ? (e.participant ?? '') : ''}`));
    const stopped = server.stop();
    expect(server.ready).toBe(false);
    socket.write(body.slice(5));
    expect(await statusLine(socket)).toBe('HTTP/1.1 204 No Content');
    expect(switched).toEqual(['mask-on a1']);
    await stopped;
  });

  it('closes a request that does not finish within the grace time', async () => {
    const { url, server, lines } = await serve({}, { closeGraceMs: 300 });
    const socket = await rawConnect(url);
    const closed = once(socket, 'close');
    socket.write(head(await token('r1', 'control')) + body.slice(0, 5));
    await vi.waitFor(() => expect(lines().join('\n')).toContain('"msg":"incoming request"'), { timeout: 5000, interval: 20 });
    const t0 = Date.now();
    await server.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3000);
    await closed;
  });
});

describe('mask switch and room events', () => {
  it('switches a mask over HTTP and streams mask-on then mask-off to an SSE client', async () => {
    const { url, server } = await serve();
    const control = await token('r1', 'control', 'live-room-server');
    const stream = await events(url, 'r1', bearer(control));
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');

    const on = await putMask(url, 'r1', 'applicant-7', { masked: true }, control);
    expect(on.status).toBe(204);
    expect(await on.text()).toBe('');
    expect(server.rooms.isMasked('r1', 'applicant-7')).toBe(true);
    const off = await putMask(url, 'r1', 'applicant-7', { masked: false }, control);
    expect(off.status).toBe(204);
    expect(server.rooms.isMasked('r1', 'applicant-7')).toBe(false);

    const [first, second] = await stream.waitForMessages(2);
    expect(first?.event).toBe('mask-on');
    expect(first?.id).toBe('1');
    expect(JSON.parse(first?.data ?? '{}')).toMatchObject({ type: 'mask-on', room: 'r1', participant: 'applicant-7', seq: 1 });
    expect(second?.event).toBe('mask-off');
    expect(JSON.parse(second?.data ?? '{}')).toMatchObject({ type: 'mask-off', participant: 'applicant-7', seq: 2 });
    expect(Date.parse((JSON.parse(second?.data ?? '{}') as { at: string }).at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('streams only its own room, media events too, and replays after Last-Event-ID', async () => {
    const { url, server } = await serve();
    const control = await token('r1', 'control');
    const stream = await events(url, 'r1', bearer(control));
    server.rooms.setMask('r2', 'x', true);
    server.rooms.join('r1', 'a1', { role: 'applicant', masked: true });
    server.rooms.report('r1', { type: 'face-lost', participant: 'a1', seconds: 4 });
    server.rooms.report('r1', { type: 'error', participant: 'a1', reason: 'decoder died' });
    const got = await stream.waitForMessages(3);
    expect(got.map((m) => m.event)).toEqual(['participant-joined', 'face-lost', 'error']);
    expect(JSON.parse(got[1]?.data ?? '{}')).toMatchObject({ seconds: 4 });

    const resumed = await events(url, 'r1', { ...bearer(control), 'last-event-id': '1' });
    const replay = await resumed.waitForMessages(2);
    expect(replay.map((m) => m.id)).toEqual(['2', '3']);
  });

  it('writes heartbeat comments', async () => {
    const { url } = await serve({}, { heartbeatMs: 50 });
    const stream = await events(url, 'r1', bearer(await token('r1', 'control')));
    await stream.waitForComment('heartbeat', 2000);
    expect(stream.comments[0]).toBe('connected');
  });

  it('unsubscribes when the client disconnects', async () => {
    const { url, server } = await serve();
    // The media plane listens from the start (mask switches start masked renditions); each event stream adds one.
    const base = server.rooms.listenerCount('event');
    const control = await token('r1', 'control');
    const a = await events(url, 'r1', bearer(control));
    await events(url, 'r1', bearer(control));
    expect(server.rooms.listenerCount('event')).toBe(base + 2);
    await a.close();
    await vi.waitFor(() => expect(server.rooms.listenerCount('event')).toBe(base + 1), { timeout: 5000, interval: 20 });
  });

  it('answers 400 with a reason for a bad body or a bad id', async () => {
    const { url } = await serve();
    const control = await token('r1', 'control');
    for (const body of [{ masked: 'yes' }, {}, { masked: true, extra: 1 }, [true], null]) {
      const res = await putMask(url, 'r1', 'a1', body, control);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = await json(res);
      expect(err.error).toBe('BAD_REQUEST');
      expect(err.message).toMatch(/^body must be \{"masked": true\|false\}/);
    }
    const notJson = await fetch(`${url}/v1/rooms/r1/participants/a1/mask`, {
      method: 'PUT',
      headers: { ...bearer(control), 'content-type': 'application/json' },
      body: '{"masked": tru',
    });
    expect(notJson.status).toBe(400);
    expect(await json(notJson)).toEqual({ error: 'BAD_REQUEST', message: 'body is not valid JSON' });
    const badId = await putMask(url, 'r1', 'a%20b', { masked: true }, control);
    expect(badId.status).toBe(400);
    expect((await json(badId)).message).toMatch(/^participant id must be/);
  });

  it('answers 413 for a body over the limit, with or without content-length', async () => {
    const { url, server } = await serve();
    const control = await token('r1', 'control');
    const huge = JSON.stringify({ masked: true, pad: 'x'.repeat(200 * 1024) });
    const res = await fetch(`${url}/v1/rooms/r1/participants/a1/mask`, {
      method: 'PUT',
      headers: { ...bearer(control), 'content-type': 'application/json' },
      body: huge,
    });
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({ error: 'PAYLOAD_TOO_LARGE', message: 'request body is too large' });

    const chunks = [huge.slice(0, 40_000), huge.slice(40_000)];
    const streamed = await fetch(`${url}/v1/rooms/r1/participants/a1/mask`, {
      method: 'PUT',
      headers: { ...bearer(control), 'content-type': 'application/json' },
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) {
            controller.close();
          } else {
            controller.enqueue(new TextEncoder().encode(next));
          }
        },
      }),
      duplex: 'half',
    });
    expect(streamed.status).toBe(413);
    expect(server.rooms.isMasked('r1', 'a1')).toBe(false);
  });

  it('answers 404 with a JSON error for an unknown route', async () => {
    const { url } = await serve();
    const res = await fetch(`${url}/v1/nothing`);
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: 'NOT_FOUND', message: 'no such route' });
  });
});

describe('tokens on the control endpoints', () => {
  const ed = generateKeyPairSync('ed25519');
  const publicPem = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('refuses bad tokens with 401 or 403 and a JSON error that leaks nothing', async () => {
    const { url, server } = await serve({ LIVEMASK_TOKEN_PUBLIC_KEY: publicPem });
    const forged = await mintToken({ alg: 'HS256', secret: 'x'.repeat(40) }, { room: 'r1', sub: 's', role: 'control' });
    const cases: [string, Record<string, string>, number, string][] = [
      ['missing', {}, 401, 'missing bearer token'],
      ['malformed', { authorization: 'Token abc' }, 401, 'malformed authorization header: expected "Bearer <jwt>"'],
      ['forged', bearer(forged), 401, 'token signature invalid'],
      ['expired', bearer(await token('r1', 'control', 's', { expiresInSec: -120 })), 401, 'token expired'],
      ['other room', bearer(await token('r2', 'control')), 403, 'token is for another room'],
      ['audience', bearer(await token('r1', 'audience')), 403, "role 'audience' may not use this endpoint"],
      ['applicant', bearer(await token('r1', 'applicant')), 403, "role 'applicant' may not use this endpoint"],
      ['streamer', bearer(await token('r1', 'streamer')), 403, "role 'streamer' may not use this endpoint"],
    ];
    for (const [name, headers, status, message] of cases) {
      for (const [method, path] of [
        ['PUT', '/v1/rooms/r1/participants/a1/mask'],
        ['GET', '/v1/rooms/r1/events'],
      ] as const) {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: { ...headers, 'content-type': 'application/json' },
          ...(method === 'PUT' ? { body: '{"masked":true}' } : {}),
        });
        expect(res.status, `${name} ${method}`).toBe(status);
        expect(await json(res), `${name} ${method}`).toEqual({ error: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message });
        if (status === 401) {
          expect(res.headers.get('www-authenticate')).toBe('Bearer realm="livemask"');
        }
      }
    }
    expect(server.rooms.isMasked('r1', 'a1')).toBe(false);
    expect(server.rooms.roomCount).toBe(0);
    // An EdDSA control token works on the same server.
    const ok = await mintToken({ alg: 'EdDSA', privateKey: ed.privateKey }, { room: 'r1', sub: 's', role: 'control' });
    expect((await putMask(url, 'r1', 'a1', { masked: true }, ok)).status).toBe(204);
  });

  it('checks the token before reading the body: an unauthenticated huge body gets 401, not 413', async () => {
    const { url } = await serve();
    const res = await fetch(`${url}/v1/rooms/r1/participants/a1/mask`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(200 * 1024),
    });
    expect(res.status).toBe(401);
  });

  it('never writes the bearer token, or any part of it, to a log line', async () => {
    const { url, lines } = await serve({}, { heartbeatMs: 50 });
    const good = await token('r1', 'control', 'ls-1');
    const expired = await token('r1', 'control', 'ls-1', { expiresInSec: -60 });
    const otherRoom = await token('r2', 'control', 'ls-1');
    const forged = await mintToken({ alg: 'HS256', secret: 'y'.repeat(40) }, { room: 'r1', sub: 'ls-1', role: 'control' });
    for (const t of [good, expired, otherRoom, forged]) {
      await (await putMask(url, 'r1', 'a1', { masked: true }, t)).arrayBuffer();
    }
    const stream = await events(url, 'r1', bearer(good));
    await stream.waitForComment('heartbeat');
    await stream.close();
    await fetch(`${url}/v1/rooms/r1/participants/a1/mask`, {
      method: 'PUT',
      headers: { ...bearer(good), 'content-type': 'application/json' },
      body: '{"masked": tru',
    });
    const text = lines().join('\n');
    // The server did log these requests, refusals included...
    expect(text).toContain('"url":"/v1/rooms/r1/participants/a1/mask"');
    expect(text).toContain('refused: token expired');
    expect(text).toContain('events stream opened');
    // ...but no token, header or signature.
    for (const t of [good, expired, otherRoom, forged]) {
      for (const part of t.split('.')) {
        expect(text).not.toContain(part);
      }
    }
    expect(text.toLowerCase()).not.toContain('bearer ');
    expect(text).not.toContain(SECRET);
  });
});

describe('demo tokens', () => {
  it('do not exist outside demo mode', async () => {
    const { url } = await serve();
    const res = await fetch(`${url}/v1/demo/token?room=r1&role=control&sub=me`);
    expect(res.status).toBe(404);
    expect((await json(res)).error).toBe('NOT_FOUND');
  });

  it('are minted in demo mode with a random secret, valid here only', async () => {
    const demo = await serve({}, {}, { demo: true });
    const plain = await serve();
    const res = await fetch(`${demo.url}/v1/demo/token?room=r1&role=control&sub=me`);
    expect(res.status).toBe(200);
    const { token: t, expiresAt } = (await res.json()) as { token: string; expiresAt: string };
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now() + 3500_000);
    expect((await putMask(demo.url, 'r1', 'a1', { masked: true }, t)).status).toBe(204);
    // LIVEMASK_TOKEN_SECRET was set, but demo tokens are not signed with it.
    expect((await putMask(plain.url, 'r1', 'a1', { masked: true }, t)).status).toBe(401);
    expect((await putMask(demo.url, 'r1', 'a1', { masked: false }, await token('r1', 'control'))).status).toBe(401);
    const masked = (await (await fetch(`${demo.url}/v1/demo/token?room=r1&role=applicant&sub=a1&masked=true`)).json()) as {
      token: string;
    };
    await expect(demo.server.verifier.verify(masked.token)).resolves.toMatchObject({ role: 'applicant', masked: true });
    const bad = await fetch(`${demo.url}/v1/demo/token?room=r1&role=admin&sub=me`);
    expect(bad.status).toBe(400);
    expect((await json(bad)).message).toMatch(/^query role: /);
    expect(demo.lines().join('\n')).toContain('demo tokens are enabled');
  });
});
