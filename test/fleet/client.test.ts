import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClientError, LivemaskClient, LivemaskError, type ClientRoomEvent, type RoomEventStream } from '../../src/client/index.js';
import { Publisher } from '../live/peers.js';
import { bearer, SseClient } from '../server/helpers.js';
import { repoRoot } from '../support/paths.js';
import { connectClient, deletePrefix, disposeAfterEach, REDIS_URL, testLogger, waitFor } from './helpers.js';
import { demoToken, FleetServeProcess, freePort } from './serve-process.js';

/**
 * The client library (`livemask/client`) against real `livemask serve`
 * workers on the real Redis. The workers use the default key prefix, so this
 * file keeps to a Redis database of its own (12; serve-fleet.test.ts uses 13)
 * and empties the prefix there before and after each test.
 */

const DB_URL = `${REDIS_URL.replace(/\/\d*$/, '')}/12`;
const PREFIX = 'livemask';
const DATA_ROOT = join(repoRoot, '.tmp', `client-test-${process.pid}`);

const disposers = disposeAfterEach();

async function startWorkers(...capacities: number[]): Promise<FleetServeProcess[]> {
  const workers: FleetServeProcess[] = [];
  for (const capacity of capacities) {
    const port = await freePort();
    const worker = new FleetServeProcess({ port, redisUrl: DB_URL, capacity, dataDir: join(DATA_ROOT, String(port)), publicUrlArg: `http://localhost:${port}/` });
    disposers.push(() => worker.stop());
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => w.ready()));
  return workers;
}

async function setup(): Promise<LivemaskClient> {
  await deletePrefix(PREFIX, DB_URL);
  disposers.push(async () => {
    await deletePrefix(PREFIX, DB_URL);
    rmSync(DATA_ROOT, { recursive: true, force: true });
  });
  const client = await LivemaskClient.connect({ redisUrl: DB_URL, logger: testLogger(), commandTimeoutMs: 3000 });
  disposers.push(() => client.close());
  return client;
}

function events(client: LivemaskClient, room: string): RoomEventStream {
  const stream = client.events(room);
  disposers.push(() => stream.return());
  return stream;
}


/** Reads the stream until an event matches; fails after `timeoutMs`, naming the events it skipped. */
async function waitEvent(stream: RoomEventStream, what: string, match: (e: ClientRoomEvent) => boolean, timeoutMs = 10_000, passed: ClientRoomEvent[] = []): Promise<ClientRoomEvent> {
  const skipped: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    const result = await Promise.race([stream.next(), timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; skipped: ${skipped.join(', ') || 'nothing'}`);
    }
    if (result.done) {
      throw new Error(`the event stream ended before ${what}`);
    }
    if (match(result.value)) {
      return result.value;
    }
    skipped.push(result.value.type);
    passed.push(result.value);
  }
}

/** The error `work` rejects with, checked to be one of livemask's. */
async function rejection(work: Promise<unknown>): Promise<LivemaskError> {
  const error = await work.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(LivemaskError);
  return error as LivemaskError;
}

async function publish(url: string, room: string, participant: string): Promise<Publisher> {
  const publisher = new Publisher();
  disposers.push(async () => publisher.session?.pc.close());
  await publisher.publish(url, room, await demoToken(url, room, 'recruiter', participant));
  return publisher;
}

describe('livemask/client', () => {
  it('starts a room on a worker and returns its advertised URL; commands resolve once the holder applied them; events are relayed', async () => {
    const client = await setup();
    const [worker] = await startWorkers(2);
    if (!worker) {
      throw new Error('no worker');
    }
    const room = 'client-room';

    const started = await client.startRoom({ roomId: room, params: { title: 'backend interviews' } });
    // --public-url (given with a trailing slash) is what the client gets, not the listening address.
    expect(started.workerId).toMatch(worker.workerIdPattern);
    expect(started).toEqual({ roomId: room, workerId: started.workerId, url: worker.publicUrl });
    expect(await client.startRoom({ roomId: room })).toEqual(started);

    const stream = events(client, room);
    await stream.ready;
    const unread = client.events(room, { maxBuffered: 2 });
    disposers.push(() => unread.return());
    await unread.ready;

    // An event of the worker's own media plane: a publisher joins over WHIP at the advertised URL.
    await publish(started.url, room, 'rita');
    expect(await waitEvent(stream, 'participant-joined', (e) => e.type === 'participant-joined')).toMatchObject({
      type: 'participant-joined',
      room,
      participant: 'rita',
      role: 'recruiter',
      masked: false,
    });

    expect(await client.setMask(room, 'alice', true)).toEqual({ workerId: started.workerId, changed: true });
    // Applied before it resolved: an event posted on the worker over HTTP after it comes later in the room's log.
    const control = await demoToken(started.url, room, 'control', 'ctl');
    const probe = await fetch(`${started.url}/v1/rooms/${room}/events`, {
      method: 'POST',
      headers: { ...bearer(control), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'probe' }),
    });
    expect(probe.status).toBe(202);
    const probeSeq = ((await probe.json()) as { seq: number }).seq;
    const sse = await SseClient.open(`${started.url}/v1/rooms/${room}/events`, { ...bearer(control), 'last-event-id': '0' });
    try {
      const replayed = (await sse.waitForMessages(probeSeq)).map((m) => JSON.parse(m.data) as { type: string; participant?: string; seq: number });
      const maskOn = replayed.find((e) => e.type === 'mask-on' && e.participant === 'alice');
      expect(maskOn?.seq).toBeLessThan(probeSeq);
    } finally {
      await sse.close();
    }
    expect(await client.setMask(room, 'alice', true)).toEqual({ workerId: started.workerId, changed: false });

    const posted = await client.postEvent(room, { type: 'offer-sent', data: { step: 2 } });
    expect(posted).toEqual({ workerId: started.workerId, seq: probeSeq + 1, at: posted.at });
    expect(Number.isNaN(Date.parse(posted.at))).toBe(false);

    expect(await waitEvent(stream, 'mask-on', (e) => e.type === 'mask-on')).toMatchObject({ type: 'mask-on', room, participant: 'alice' });
    expect(await waitEvent(stream, 'the probe', (e) => e.type === 'posted')).toMatchObject({ name: 'probe', seq: probeSeq });
    expect(await waitEvent(stream, 'offer-sent', (e) => e.type === 'posted')).toMatchObject({ name: 'offer-sent', data: { step: 2 }, seq: probeSeq + 1 });
    // A mask switched over the worker's HTTP API is relayed too.
    const put = await fetch(`${started.url}/v1/rooms/${room}/participants/alice/mask`, {
      method: 'PUT',
      headers: { ...bearer(control), 'content-type': 'application/json' },
      body: JSON.stringify({ masked: false }),
    });
    expect(put.status).toBe(204);
    expect(await waitEvent(stream, 'mask-off', (e) => e.type === 'mask-off')).toMatchObject({ participant: 'alice' });
    // An iterator left unread keeps its first events, then fails instead of growing without bound.
    expect((await unread.next()).value).toMatchObject({ type: 'participant-joined' });
    expect((await unread.next()).value).toMatchObject({ type: 'mask-on' });
    expect(await rejection(unread.next())).toMatchObject({ name: 'ClientError', code: 'EVENTS_OVERFLOW' });
    expect(await unread.next()).toEqual({ value: undefined, done: true });

    // Ended: the worker lets go, and commands find no holder.
    expect(await client.endRoom(room)).toBe('signalled');
    const fleet = await connectClient(PREFIX, DB_URL);
    disposers.push(() => fleet.close());
    await waitFor('the room to be gone', async () => (await fleet.roomStatus(room)).state === 'none');
    const error = await rejection(client.setMask(room, 'alice', true));
    expect(error).toBeInstanceOf(ClientError);
    expect(error.code).toBe('ROOM_NOT_HELD');
  });

  it('with every slot full, startRoom reports queued and waits; it fails with ROOM_START_TIMEOUT and withdraws the room when none frees', async () => {
    const client = await setup();
    const [worker] = await startWorkers(1);
    if (!worker) {
      throw new Error('no worker');
    }
    const fleet = await connectClient(PREFIX, DB_URL);
    disposers.push(() => fleet.close());
    const first = await client.startRoom({ roomId: 'first' });
    expect(first.url).toBe(worker.publicUrl);

    const queuedEvents: string[] = [];
    client.on('queued', (roomId) => queuedEvents.push(roomId));
    const onQueued: string[] = [];
    const started = Date.now();
    const error = await rejection(client.startRoom({ roomId: 'second', timeoutMs: 1500, onQueued: (id) => onQueued.push(id) }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(error).toBeInstanceOf(ClientError);
    expect(error.code).toBe('ROOM_START_TIMEOUT');
    expect(error.message).toContain('taken out of the queue');
    expect(onQueued).toEqual(['second']);
    expect(queuedEvents).toEqual(['second']);
    expect(await fleet.roomStatus('second')).toEqual({ state: 'none' });

    // A queued room whose wait is long enough gets the slot the first room frees.
    const third = client.startRoom({ roomId: 'third', timeoutMs: 20_000 });
    await waitFor('third to be queued', () => queuedEvents.includes('third'));
    expect(await client.endRoom('first')).toBe('signalled');
    expect(await third).toEqual({ roomId: 'third', workerId: first.workerId, url: worker.publicUrl });
  });

  it('fails clearly without a holder, on bad input, on abort and once closed', async () => {
    const client = await setup();
    const started = Date.now();
    const notOpen = await rejection(client.setMask('nobody-room', 'alice', true));
    expect(notOpen).toBeInstanceOf(ClientError);
    expect(notOpen).toMatchObject({ code: 'ROOM_NOT_HELD', message: 'no worker holds room nobody-room (it is not open)' });
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(client.postEvent('nobody-room', { type: 'offer-sent' })).rejects.toMatchObject({ code: 'ROOM_NOT_HELD' });

    // No worker at all: the room waits in the queue; an abort ends the wait and withdraws it.
    const abort = new AbortController();
    const pending = client.startRoom({ roomId: 'waiting-room', signal: abort.signal, onQueued: () => abort.abort() });
    await expect(pending).rejects.toMatchObject({ name: 'AbortedError', code: 'ABORTED' });
    const fleet = await connectClient(PREFIX, DB_URL);
    disposers.push(() => fleet.close());
    expect(await fleet.roomStatus('waiting-room')).toEqual({ state: 'none' });
    await expect(client.startRoom({ roomId: 'kept-room', timeoutMs: 300, keepQueued: true })).rejects.toMatchObject({ code: 'ROOM_START_TIMEOUT' });
    expect(await fleet.roomStatus('kept-room')).toEqual({ state: 'queued' });
    expect(await rejection(client.setMask('kept-room', 'alice', true))).toMatchObject({ code: 'ROOM_NOT_HELD', message: 'no worker holds room kept-room (it is queued)' });

    const badRoom = await rejection(client.setMask('bad/room', 'alice', true));
    expect([badRoom.code, badRoom.message]).toEqual(['BAD_REQUEST', 'roomId: must be 1-128 of A-Z a-z 0-9 . _ ~ -']);
    const badParticipant = await rejection(client.setMask('kept-room', '', true));
    expect([badParticipant.code, badParticipant.message]).toEqual(['BAD_REQUEST', 'participant: must be 1-128 of A-Z a-z 0-9 . _ ~ -']);
    const badType = await rejection(client.postEvent('kept-room', { type: 'Not A Name' }));
    expect(badType.code).toBe('BAD_REQUEST');
    expect(badType.message).toMatch(/^event\.type: must be 1-64/);
    await expect(client.postEvent('kept-room', { type: 'big', data: { blob: 'x'.repeat(17_000) } })).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    const streamAbort = new AbortController();
    const aborted = client.events('kept-room', { signal: streamAbort.signal });
    await aborted.ready;
    const next = aborted.next();
    streamAbort.abort();
    await expect(next).rejects.toMatchObject({ code: 'ABORTED' });

    const open = client.events('kept-room');
    await open.ready;
    const waiting = open.next();
    await client.close();
    await client.close();
    await expect(waiting).rejects.toMatchObject({ name: 'ClientError', code: 'CLOSED' });
    await expect(client.setMask('kept-room', 'alice', true)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('after kill -9 of the holder, another worker takes the room and events() yields room-moved with its URL', async () => {
    const client = await setup();
    const workers = await startWorkers(2, 2);
    const room = 'moving-room';
    const started = await client.startRoom({ roomId: room });
    const holder = workers.find((w) => w.publicUrl === started.url);
    const other = workers.find((w) => w !== holder);
    if (!holder || !other) {
      throw new Error(`no worker advertises ${started.url}`);
    }
    const stream = events(client, room);
    await stream.ready;

    holder.child.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.exited;
    const before: ClientRoomEvent[] = [];
    const moved = await waitEvent(stream, 'room-moved', (e) => e.type === 'room-moved', 20_000, before);
    const tookMs = Date.now() - killedAt;
    console.log(`client: room-moved ${tookMs} ms after SIGKILL of the holder`);
    expect(tookMs).toBeLessThan(15_000);
    if (moved.type !== 'room-moved') {
      throw new Error('unreachable');
    }
    expect(moved.workerId).toMatch(other.workerIdPattern);
    expect(moved).toMatchObject({ type: 'room-moved', room, url: other.publicUrl, from: started.workerId });

    // Idempotent after the move too, and the new holder applies commands and relays its events.
    expect(await client.startRoom({ roomId: room })).toEqual({ roomId: room, workerId: moved.workerId, url: other.publicUrl });
    // The new holder's first event (relayed as it announces itself, so just before room-moved) says where the room came from.
    expect(before.find((e) => e.type === 'failover')).toMatchObject({ seq: 1, fromWorker: started.workerId, toWorker: moved.workerId, failovers: 1 });
    expect(await client.setMask(room, 'alice', true)).toEqual({ workerId: moved.workerId, changed: true });
    expect(await waitEvent(stream, 'mask-on', (e) => e.type === 'mask-on')).toMatchObject({ participant: 'alice', seq: 2 });
    await publish(other.publicUrl, room, 'rita');
    expect(await waitEvent(stream, 'participant-joined', (e) => e.type === 'participant-joined')).toMatchObject({ participant: 'rita' });
  });
});
