import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, StoreError } from '../../src/core/index.js';
import { EvidenceRecorder, verify, type Manifest } from '../../src/evidence/index.js';
import { LivemaskServer, parseServerConfig } from '../../src/server/index.js';
import { EvidenceMirror, fetchSessions, FsStore, S3Store, type EvidenceStore, type MirrorResult } from '../../src/storage/index.js';
import { readIvf } from '../evidence/helpers.js';
import { noS3Reason, removeAll, S3_URL, s3UrlOf, uniqueS3Location } from './helpers.js';
import { runCli } from '../support/cli.js';

/**
 * End to end: a session recorded by the EvidenceRecorder is mirrored to a
 * store, fetched back into a fresh directory, and `verify` passes on it; a
 * byte flipped in the store is caught by `verify` after a fetch. On FsStore
 * always, and on S3Store (a real s3rver) when LIVEMASK_S3_URL is set.
 */

const ROOM = 'mirror-room';
const SESSION = 's-0001';
const exec = promisify(execFile);
const silent = createLogger({ level: 'silent' });

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** 6 s of VP8 test pattern (a keyframe every 30 frames) in IVF: no shared data needed. */
async function testPatternIvf(dir: string): Promise<string> {
  const out = join(dir, 'pattern.ivf');
  await exec('ffmpeg', [
    '-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=30', '-t', '6',
    '-c:v', 'libvpx', '-g', '30', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k', '-f', 'ivf', out,
  ]);
  return out;
}

/** Records one session of the IVF as alice's video; `seal` false leaves it open (no manifest). */
async function record(root: string, sessionId: string, ivf: string, signingKey: KeyObject, seal = true): Promise<{ recorder: EvidenceRecorder; manifest: Manifest | undefined }> {
  const recorder = new EvidenceRecorder({ root, room: ROOM, sessionId, signingKey, segmentSeconds: 2 });
  await recorder.start();
  recorder.event('participant-joined', { participant: 'alice', role: 'applicant' });
  const video = recorder.addVideoTrack('alice', 'vp8');
  const t0 = Date.now();
  for (const f of readIvf(ivf)) {
    video.pushFrame({ data: f.data, timestamp90k: Math.round(f.ms * 90), keyframe: f.keyframe, arrivalMs: t0 + f.ms });
  }
  if (!seal) {
    return { recorder, manifest: undefined };
  }
  const closed = await recorder.close();
  if (!closed.ok) {
    throw closed.error;
  }
  return { recorder, manifest: closed.manifest };
}


function nextEvent<T>(mirror: EvidenceMirror, event: 'mirrored' | 'mirror-error', timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    const off = mirror.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      off();
      resolve((event === 'mirrored' ? args[0] : args[2]) as T);
    });
  });
}

interface Target {
  name: string;
  skip: string | undefined;
  open(work: string): Promise<{ store: EvidenceStore; cliEnv: Record<string, string> }>;
}

const targets: Target[] = [
  {
    name: 'FsStore (another directory)',
    skip: undefined,
    // eslint-disable-next-line @typescript-eslint/require-await -- same shape as the S3 target
    open: async (work) => ({ store: new FsStore({ dir: join(work, 'fs-store') }), cliEnv: { LIVEMASK_STORE: 'fs' } }),
  },
  {
    name: 'S3Store (s3rver)',
    skip: S3_URL === undefined ? noS3Reason : undefined,
    // eslint-disable-next-line @typescript-eslint/require-await -- same shape as the FS target
    open: async () => {
      const location = uniqueS3Location();
      return { store: new S3Store({ location }), cliEnv: { LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: s3UrlOf(location) } };
    },
  },
];

for (const target of targets) {
  describe.skipIf(target.skip !== undefined)(`evidence mirrored to ${target.name}, fetched back and verified${target.skip !== undefined ? ` — ${target.skip}` : ''}`, () => {
    const keys = generateKeyPairSync('ed25519');
    let work: string;
    let root: string;
    let ivf: string;
    let manifest: Manifest;
    let store: EvidenceStore;
    let cliEnv: Record<string, string>;
    let mirror: EvidenceMirror;
    let open: EvidenceRecorder | undefined;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'livemask-mirror-'));
      root = join(work, 'data', 'evidence');
      ivf = await testPatternIvf(work);
      manifest = (await record(root, SESSION, ivf, keys.privateKey)).manifest as Manifest;
      ({ store, cliEnv } = await target.open(work));
      mirror = new EvidenceMirror({ root, store, retainDays: 1, logger: silent });
    });

    afterAll(async () => {
      await open?.close();
      await removeAll(store);
      await mirror.close();
      await rm(work, { recursive: true, force: true });
    });

    it('copies the sealed session whole, checks each object read back, and marks it mirrored once', async () => {
      expect(manifest.segments.length).toBeGreaterThanOrEqual(2);
      // A session still being recorded is not copied.
      open = (await record(root, 's-0000-open', ivf, keys.privateKey, false)).recorder;
      expect((await mirror.pending()).map((s) => s.sessionId)).toEqual([SESSION]);

      const mirrored = nextEvent<MirrorResult>(mirror, 'mirrored');
      mirror.schedule();
      const result = await mirrored;
      await mirror.idle();
      const files = manifest.segments.length + 5;
      expect(result).toMatchObject({ room: ROOM, sessionId: SESSION, files });
      const stored = await store.list(`${ROOM}/`);
      expect(stored.map((e) => e.key)).toEqual(
        [...manifest.segments.map((s) => `${ROOM}/${SESSION}/${s.path}`),
          ...['checkpoints.jsonl', 'events.jsonl', 'manifest.json', 'manifest.sig', 'public-key.pem'].map((f) => `${ROOM}/${SESSION}/${f}`)].sort(),
      );
      for (const s of manifest.segments) {
        expect(stored.find((e) => e.key === `${ROOM}/${SESSION}/${s.path}`)?.bytes).toBe(s.bytes);
      }
      const marker = (await readFile(join(root, 'mirrored.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(marker).toEqual([expect.objectContaining({ room: ROOM, sessionId: SESSION, store: store.id, files }) as unknown]);
      expect(await mirror.pending()).toEqual([]);
    });

    it('fetches the room back into a fresh directory, where verify passes with the same counts', async () => {
      const fetched = join(work, 'fetched-1', 'evidence');
      const result = await fetchSessions(store, { room: ROOM, to: fetched });
      expect(result).toMatchObject({ sessions: [`${ROOM}/${SESSION}`], files: manifest.segments.length + 5 });
      const local = await verify(root, ROOM, keys.publicKey, SESSION);
      const remote = await verify(fetched, ROOM, keys.publicKey);
      expect(local.ok).toBe(true);
      // The whole room verifies there: the same counts, and the same session spans.
      expect(remote).toMatchObject({ ok: true, counts: local.counts });
      expect(remote.ok && remote.continuity?.sessions.map((x) => x.sessionId)).toEqual([SESSION]);
    });

    it('livemask evidence fetch, then verify: exit 0 and intact', async () => {
      const to = join(work, 'fetched-cli');
      const fetched = await runCli(['evidence', 'fetch', ROOM, '--to', to, '--data', join(work, 'data')], cliEnv);
      expect(fetched.code).toBe(0);
      expect(fetched.out).toContain(`check it with: livemask evidence verify ${ROOM} --data ${to}`);
      if (target.name.startsWith('FsStore')) {
        // With LIVEMASK_STORE=fs the store is the local evidence root, where s-0000-open is still being recorded.
        expect(fetched.out).toContain(`left out ${ROOM}/s-0000-open: the store holds no manifest.sig`);
      }
      const verified = await runCli(['evidence', 'verify', ROOM, '--data', to], { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(keys.publicKey) });
      expect(verified).toMatchObject({ code: 0, out: expect.stringMatching(/^intact: room mirror-room: 1 session, /) as unknown });
      const none = await runCli(['evidence', 'fetch', 'no-such-room', '--to', to, '--data', join(work, 'data')], cliEnv);
      expect(none.code).toBe(3);
    });

    it('a byte flipped in the store is caught by verify after a fetch, naming the segment', async () => {
      const seg = manifest.segments[1];
      const key = `${ROOM}/${SESSION}/${seg?.path ?? ''}`;
      const bytes = Buffer.from(await store.get(key));
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] ?? 0) ^ 0x01;
      await store.delete(key);
      await store.put(key, bytes);
      const fetched = join(work, 'fetched-tampered', 'evidence');
      await fetchSessions(store, { room: ROOM, sessionId: SESSION, to: fetched });
      const result = await verify(fetched, ROOM, keys.publicKey);
      expect(result).toMatchObject({ ok: false, problem: { kind: 'segment-altered', where: key } });
      // A fetch never overwrites a file holding other bytes: the intact copy stays intact.
      const err = await fetchSessions(store, { room: ROOM, to: join(work, 'fetched-1', 'evidence') }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('STORE_CONFLICT');
      expect((await verify(join(work, 'fetched-1', 'evidence'), ROOM, keys.publicKey)).ok).toBe(true);
    });

    it('refuses to copy a session whose local segment differs from its sealed hash, and copies it once repaired', async () => {
      const altered = (await record(root, 's-0002', ivf, keys.privateKey)).manifest as Manifest;
      const path = join(root, ROOM, 's-0002', altered.segments[0]?.path ?? '');
      const original = await readFile(path);
      const changed = Buffer.from(original);
      changed[100] = (changed[100] ?? 0) ^ 0xff;
      await writeFile(path, changed);
      const failed = nextEvent<Error>(mirror, 'mirror-error');
      mirror.schedule();
      const err = await failed;
      await mirror.idle();
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe('STORE_INTEGRITY');
      expect(await store.list(`${ROOM}/s-0002/`)).toEqual([]);
      expect((await mirror.pending()).map((s) => s.sessionId)).toEqual(['s-0002']);

      await writeFile(path, original);
      const mirrored = nextEvent<MirrorResult>(mirror, 'mirrored');
      mirror.schedule();
      expect(await mirrored).toMatchObject({ sessionId: 's-0002', files: altered.segments.length + 5 });
      await mirror.idle();
      expect(await mirror.pending()).toEqual([]);
    });
  });
}

describe.skipIf(S3_URL === undefined)(`livemask serve with LIVEMASK_STORE=s3 copies sessions sealed before it started${S3_URL === undefined ? ` — ${noS3Reason}` : ''}`, () => {
  it('mirrors them in the background from the start, and stops cleanly', async () => {
    const work = await mkdtemp(join(tmpdir(), 'livemask-mirror-serve-'));
    const location = uniqueS3Location();
    const check = new S3Store({ location });
    let server: LivemaskServer | undefined;
    try {
      const keys = generateKeyPairSync('ed25519');
      const data = join(work, 'data');
      const ivf = await testPatternIvf(work);
      await record(join(data, 'evidence'), SESSION, ivf, keys.privateKey);
      const env = {
        LIVEMASK_STORE: 's3',
        LIVEMASK_S3_URL: s3UrlOf(location),
        LIVEMASK_EVIDENCE_KEY: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      };
      const config = parseServerConfig({ demo: true, port: '0', data }, env);
      expect(config.store).toMatchObject({ kind: 's3', retainDays: 90, lockMode: 'GOVERNANCE' });
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        server = await LivemaskServer.create(config, silent, { defaultMetrics: false });
      } finally {
        process.env = saved;
      }
      await server.start();
      const sig = `${ROOM}/${SESSION}/manifest.sig`;
      const end = Date.now() + 30_000;
      while ((await check.head(sig)) === undefined) {
        expect(Date.now()).toBeLessThan(end);
        await new Promise((r) => setTimeout(r, 100));
      }
      const fetched = join(work, 'fetched', 'evidence');
      await fetchSessions(check, { room: ROOM, to: fetched });
      expect((await verify(fetched, ROOM, keys.publicKey)).ok).toBe(true);
    } finally {
      await server?.stop();
      await removeAll(check);
      await check.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});
