import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, StoreError } from '../../src/core/index.js';
import type { EvidenceStore } from '../../src/storage/index.js';
import { repoRoot } from '../support/paths.js';
import { fsBackend, s3Backend, type Backend, type OpenedStore } from './helpers.js';
import { exited } from '../support/process.js';

/**
 * The one contract of EvidenceStore, run on each back end: FsStore always,
 * S3Store against a real S3-compatible server when LIVEMASK_S3_URL is set.
 */

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
}


/** Resolves once `check` holds, polling; rejects after `timeoutMs`. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface ByteRelay {
  /** The S3 URL with the relay as its host. */
  url: string;
  /** Bytes the client has sent through the relay so far. */
  sent(): number;
  close(): Promise<void>;
}

/**
 * A plain TCP relay in front of the S3 server (http only): what the client
 * sends goes through unchanged, counted, so a test can act once an upload is
 * really under way.
 */
async function byteRelay(target: URL): Promise<ByteRelay> {
  let sent = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 80), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => (sent += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const sock of [client, upstream]) {
      sock.on('error', end);
      sock.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const via = new URL(target.href);
  via.hostname = '127.0.0.1';
  via.port = String(port);
  return {
    url: via.href,
    sent: () => sent,
    close: async () => {
      for (const sock of sockets) {
        sock.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function contract(backend: Backend): void {
  describe.skipIf(backend.skip !== undefined)(`EvidenceStore contract: ${backend.name}${backend.skip !== undefined ? ` — ${backend.skip}` : ''}`, () => {
    let opened: OpenedStore;
    let store: EvidenceStore;
    const children: ChildProcess[] = [];
    const relays: (ByteRelay | undefined)[] = [];

    beforeAll(async () => {
      opened = await backend.open();
      store = opened.store;
    });

    afterEach(async () => {
      for (const child of children.splice(0)) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
        }
        await exited(child);
      }
      for (const relay of relays.splice(0)) {
        await relay?.close();
      }
    });

    afterAll(async () => {
      await opened.dispose();
    });

    it('puts and gets back byte-exact: binary, empty, and a 3 MiB segment; head gives the size', async () => {
      const objects: [string, Uint8Array][] = [
        ['rt/s-1/manifest.sig', randomBytes(97)],
        ['rt/s-1/events.jsonl', new Uint8Array(0)],
        ['rt/s-1/alice/video-000001.webm', randomBytes(3 * 1024 * 1024)],
      ];
      for (const [key, bytes] of objects) {
        expect(await store.put(key, bytes)).toEqual({ key, bytes: bytes.length });
      }
      for (const [key, bytes] of objects) {
        expect(Buffer.from(await store.get(key)).equals(Buffer.from(bytes))).toBe(true);
        expect(await store.head(key)).toEqual({ key, bytes: bytes.length });
      }
      expect(await store.head('rt/s-1/absent.webm')).toBeUndefined();
    });

    it('never replaces: the same bytes again succeed, other bytes fail with STORE_CONFLICT and the first stay', async () => {
      const key = 'ow/s-1/manifest.json';
      const first = Buffer.from('{"sealed":1}');
      await store.put(key, first);
      await expect(store.put(key, Buffer.from(first))).resolves.toEqual({ key, bytes: first.length });
      await expectCode(store.put(key, Buffer.from('{"sealed":2}')), 'STORE_CONFLICT');
      expect(Buffer.from(await store.get(key)).toString()).toBe('{"sealed":1}');
    });

    it('lists by prefix, sorted: a room, a session, a partial name, everything', async () => {
      const keys = ['ls-a/s-1/events.jsonl', 'ls-a/s-1/bob/audio-000001.webm', 'ls-a/s-2/events.jsonl', 'ls-b/s-1/events.jsonl', 'ls-ab/s-1/events.jsonl'];
      for (const key of keys) {
        await store.put(key, Buffer.from(key));
      }
      const keysOf = async (prefix: string): Promise<string[]> => (await store.list(prefix)).map((e) => e.key);
      expect(await keysOf('ls-a/')).toEqual(['ls-a/s-1/bob/audio-000001.webm', 'ls-a/s-1/events.jsonl', 'ls-a/s-2/events.jsonl']);
      expect(await keysOf('ls-a/s-1/')).toEqual(['ls-a/s-1/bob/audio-000001.webm', 'ls-a/s-1/events.jsonl']);
      expect(await keysOf('ls-a')).toEqual(['ls-a/s-1/bob/audio-000001.webm', 'ls-a/s-1/events.jsonl', 'ls-a/s-2/events.jsonl', 'ls-ab/s-1/events.jsonl']);
      expect(await keysOf('ls-a/s-1/bob/a')).toEqual(['ls-a/s-1/bob/audio-000001.webm']);
      expect(await keysOf('ls-none/')).toEqual([]);
      const all = await store.list('');
      expect(all.map((e) => e.key)).toEqual([...all.map((e) => e.key)].sort());
      expect(all.find((e) => e.key === 'ls-b/s-1/events.jsonl')).toEqual({ key: 'ls-b/s-1/events.jsonl', bytes: 'ls-b/s-1/events.jsonl'.length });
    });

    it('lists past one page: 25 keys with 4 to a page come back whole and in order', async () => {
      const paged = await backend.open({ pageSize: 4 });
      try {
        const keys = Array.from({ length: 25 }, (_, i) => `pg/s-1/alice/video-${String(i + 1).padStart(6, '0')}.webm`);
        for (const key of keys) {
          await paged.store.put(key, Buffer.from([keys.indexOf(key)]));
        }
        expect((await paged.store.list('pg/')).map((e) => e.key)).toEqual(keys);
      } finally {
        await paged.dispose();
      }
    });

    it('deletes: the key is gone from get, head and list; deleting it again succeeds', async () => {
      const key = 'del/s-1/checkpoints.jsonl';
      await store.put(key, Buffer.from('cp'));
      await store.delete(key);
      await expectCode(store.get(key), 'STORE_NOT_FOUND');
      expect(await store.head(key)).toBeUndefined();
      expect(await store.list('del/')).toEqual([]);
      await expect(store.delete(key)).resolves.toBeUndefined();
    });

    it('a missing key fails get with STORE_NOT_FOUND, a StoreError', async () => {
      const err = await rejection(store.get('missing/s-1/manifest.json'));
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ name: 'StoreError', code: 'STORE_NOT_FOUND' });
    });

    it('refuses bad keys and prefixes with STORE_BAD_KEY, on every call', async () => {
      const bad = ['', 'a/b', '/a/b/c', 'a/b/c/d/e', '../b/c', 'a/../c', 'a/./c', 'a//c', 'a/b/.hidden', 'a/b/.x.tmp-0011aabb', 'a/b/video-000001.webm.open', 'a/b/c d', 'a\\b/c/d'];
      for (const key of bad) {
        await expectCode(store.put(key, Buffer.from('x')), 'STORE_BAD_KEY');
        await expectCode(store.get(key), 'STORE_BAD_KEY');
        await expectCode(store.head(key), 'STORE_BAD_KEY');
        await expectCode(store.delete(key), 'STORE_BAD_KEY');
      }
      for (const prefix of ['../', '/a/', 'a/../', 'a/b/c/d/', 'a/.hid']) {
        await expectCode(store.list(prefix), 'STORE_BAD_KEY');
      }
    });

    it('an aborted signal rejects with AbortedError and writes nothing', async () => {
      const ac = new AbortController();
      ac.abort();
      expect(await rejection(store.put('ab/s-1/events.jsonl', Buffer.from('x'), { signal: ac.signal }))).toBeInstanceOf(AbortedError);
      expect(await rejection(store.list('ab/', { signal: ac.signal }))).toBeInstanceOf(AbortedError);
      expect(await store.head('ab/s-1/events.jsonl')).toBeUndefined();
    });

    it('a write killed with SIGKILL leaves no half-written object visible, and the key can be written afterwards', async () => {
      const key = 'kill/s-1/alice/video-000001.webm';
      const mib = 128;
      // S3: the child talks to the server through a relay that counts what it sends, so that the kill lands mid-upload on any machine.
      const s3 = opened.dir === undefined ? await byteRelay(new URL(opened.childArgs[1] ?? '')) : undefined;
      relays.push(s3);
      const childArgs = s3 ? ['s3', s3.url] : opened.childArgs;
      const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/storage/fixtures/put-child.ts'), ...childArgs, key, String(mib)], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      await until(() => out.includes('go') || child.exitCode !== null, 30_000, 'the child to start its put');
      expect(err).not.toMatch(/Error/);
      const dir = opened.dir;
      let tempSeen = false;
      if (dir !== undefined) {
        // FsStore: kill once the temp file has bytes in it, so the write is really cut.
        const parent = join(dir, 'kill', 's-1', 'alice');
        const temps = async (): Promise<string[]> => (await readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith('.'));
        await until(async () => {
          for (const t of await temps()) {
            if ((await stat(join(parent, t)).catch(() => undefined))?.size) {
              tempSeen = true;
            }
          }
          return tempSeen || child.exitCode !== null;
        }, 30_000, 'the temp file to fill');
      } else {
        // S3: kill once 8 MiB of the 128 MiB body went out.
        await until(() => (s3?.sent() ?? 0) > 8 * 1024 * 1024 || child.exitCode !== null, 60_000, 'the upload to be under way');
      }
      child.kill('SIGKILL');
      expect(await exited(child)).toBe('SIGKILL');
      expect(tempSeen || dir === undefined).toBe(true);
      expect(out).not.toContain('done');

      // Never half an object: either none, or (had the put finished) all of it.
      const seen = await store.head(key);
      const listed = await store.list('kill/');
      expect(listed.every((e) => e.key === key)).toBe(true);
      if (seen === undefined) {
        expect(listed).toEqual([]);
        await expectCode(store.get(key), 'STORE_NOT_FOUND');
      } else {
        expect(seen.bytes).toBe(mib * 1024 * 1024);
        expect(Buffer.from(await store.get(key)).every((b) => b === 0x5a)).toBe(true);
      }
      // The leftovers of the killed write do not block a new one.
      if (seen === undefined) {
        const bytes = randomBytes(1024);
        await store.put(key, bytes);
        expect(Buffer.from(await store.get(key)).equals(bytes)).toBe(true);
      }
    });

    it('close() is idempotent; calls after it fail with CLOSED', async () => {
      const other = await backend.open();
      await other.store.put('cl/s-1/events.jsonl', Buffer.from('x'));
      await other.dispose();
      await other.store.close();
      await expectCode(other.store.get('cl/s-1/events.jsonl'), 'CLOSED');
      await expectCode(other.store.list(''), 'CLOSED');
    });
  });
}

contract(fsBackend);
contract(s3Backend);

describe('FsStore: what only the filesystem shows', () => {
  let opened: OpenedStore;
  beforeAll(async () => {
    opened = await fsBackend.open();
  });
  afterAll(async () => {
    await opened.dispose();
  });

  it('lists only complete keys: no temp names, no open segments, no files outside the key shape', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    const dir = opened.dir ?? '';
    await opened.store.put('fx/s-1/alice/video-000001.webm', Buffer.from('sealed'));
    await writeFile(join(dir, 'fx', 's-1', 'alice', '.video-000002.webm.tmp-0011aabb'), 'half');
    await writeFile(join(dir, 'fx', 's-1', 'alice', 'video-000002.webm.open'), 'open');
    await writeFile(join(dir, 'mirrored.jsonl'), '{}\n');
    await writeFile(join(dir, 'fx', 'audit.jsonl'), '{}\n');
    await mkdir(join(dir, 'fx', 's-1', 'alice', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'fx', 's-1', 'alice', 'deeper', 'x.webm'), 'too deep');
    expect((await opened.store.list('')).map((e) => e.key)).toEqual(['fx/s-1/alice/video-000001.webm']);
  });
});
