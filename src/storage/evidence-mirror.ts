import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortedError, StoreError, TypedEmitter, type Logger } from '../core/index.js';
import { FILES, listSessions, sessionDir, type Manifest, type SessionRef } from '../evidence/index.js';
import { sha256Hex, type EvidenceStore } from './evidence-store.js';
import { appendMarker, readMarker } from './mirror-marker.js';

export interface EvidenceMirrorOptions {
  /** The local evidence root, `<data>/evidence`, where the recorder writes. */
  root: string;
  /** Where sealed sessions are copied to. The mirror owns it: `close()` closes it. */
  store: EvidenceStore;
  /** Days to keep each mirrored object after its session ended (S3 Object Lock); 0 asks for none. Default 90. */
  retainDays?: number;
  logger?: Logger;
}

export interface MirrorResult {
  room: string;
  sessionId: string;
  files: number;
  bytes: number;
}

export type EvidenceMirrorEvents = {
  mirrored: [result: MirrorResult];
  'mirror-error': [room: string, sessionId: string, error: Error];
};

/** The session files other than segments, in upload order: the signature last, so a session in the store is complete once it has one. */
const SESSION_FILES = [FILES.publicKey, FILES.events, FILES.checkpoints, FILES.manifest, FILES.signature] as const;

/**
 * Copies each SEALED session (its manifest.sig written) from the local
 * evidence root to a store, under the keys `<room>/<session>/<file>`:
 * every segment the signed manifest lists, then the public key, the event
 * log, the checkpoints, the manifest and, last, its signature. Each object
 * is read back and its SHA-256 compared with the sealed hash (the
 * manifest's for a segment; the local file's for the others); a segment
 * whose local bytes differ from its sealed hash is not copied at all. A
 * session copied whole gets a line in `<root>/mirrored.jsonl`.
 *
 * The live recorder is untouched: it keeps appending open segments to local
 * disk. A failure is logged and emitted as `mirror-error`, and the session
 * is tried again on the next `schedule()` (every seal, and at start).
 */
export class EvidenceMirror extends TypedEmitter<EvidenceMirrorEvents> {
  readonly root: string;
  readonly store: EvidenceStore;
  readonly #retainDays: number;
  readonly #logger: Logger | undefined;
  readonly #markerPath: string;
  readonly #abort = new AbortController();
  #running: Promise<void> = Promise.resolve();
  #queued = false;
  #closing: Promise<void> | undefined;

  constructor(options: EvidenceMirrorOptions) {
    super();
    this.root = options.root;
    this.store = options.store;
    this.#retainDays = options.retainDays ?? 90;
    this.#logger = options.logger?.child({ module: 'storage-mirror', store: options.store.id });
    this.#markerPath = join(options.root, 'mirrored.jsonl');
  }

  /**
   * Queues a pass over every sealed session not yet mirrored to this store.
   * Never throws: failures are logged and emitted. A pass already queued
   * (not started) covers this call too.
   */
  schedule(): void {
    if (this.#closing || this.#queued) {
      return;
    }
    this.#queued = true;
    this.#running = this.#running
      .then(async () => {
        this.#queued = false;
        await this.mirrorPending({ signal: this.#abort.signal });
      })
      .then(undefined, (err: unknown) => {
        // mirrorPending reports each failure itself; this is a fault in the mirror, kept from breaking the queue.
        this.#logger?.error({ err }, 'evidence mirror pass failed');
      });
  }

  /** Resolves once every queued pass has run. */
  idle(): Promise<void> {
    return this.#running;
  }

  /** The sealed sessions of the root that this store has no marker line for. */
  async pending(): Promise<SessionRef[]> {
    const done = await readMarker(this.#markerPath, this.store.id);
    const out: SessionRef[] = [];
    for (const ref of await listSessions(this.root)) {
      if (!done.has(`${ref.room}/${ref.sessionId}`) && (await isFile(join(ref.dir, FILES.signature)))) {
        out.push(ref);
      }
    }
    return out;
  }

  /** Mirrors every pending session, one at a time; a failure is logged and emitted, and the others go on. */
  async mirrorPending(options: { signal?: AbortSignal } = {}): Promise<{ mirrored: MirrorResult[]; failed: number }> {
    const mirrored: MirrorResult[] = [];
    let failed = 0;
    let refs: SessionRef[];
    try {
      refs = await this.pending();
    } catch (err) {
      this.#logger?.error({ err }, 'evidence mirror could not list the sessions to copy; retried on the next pass');
      return { mirrored, failed: 1 };
    }
    for (const ref of refs) {
      if (options.signal?.aborted === true) {
        break;
      }
      try {
        mirrored.push(await this.mirrorSession(ref.room, ref.sessionId, options));
      } catch (err) {
        failed += 1;
        this.#reportFailure(ref, err);
      }
    }
    return { mirrored, failed };
  }

  /**
   * Copies one sealed session and verifies every object read back. Throws
   * StoreError: STORE_NOT_FOUND when the session is not sealed,
   * STORE_INTEGRITY when a sealed file is missing locally or a segment or an
   * object read back differs from its sealed hash, STORE_CONFLICT when the
   * store holds other bytes at a key, STORE_IO when the store fails.
   */
  async mirrorSession(room: string, sessionId: string, options: { signal?: AbortSignal } = {}): Promise<MirrorResult> {
    const dir = sessionDir(this.root, room, sessionId);
    const manifestText = await readOptional(join(dir, FILES.manifest));
    if (manifestText === undefined || !(await isFile(join(dir, FILES.signature)))) {
      throw new StoreError('STORE_NOT_FOUND', `evidence session ${room}/${sessionId} is not sealed (no signed manifest): nothing to mirror yet`);
    }
    const manifest = JSON.parse(manifestText) as Manifest;
    const retainUntil = this.#retainUntil(manifest);
    const files: { name: string; sealed: string | undefined }[] = [
      ...manifest.segments.map((s) => ({ name: s.path, sealed: s.sha256 })),
      ...SESSION_FILES.map((name) => ({ name, sealed: undefined })),
    ];
    let bytes = 0;
    let count = 0;
    for (const file of files) {
      const local = await readOptional(join(dir, file.name), 'bytes');
      if (local === undefined) {
        if (file.sealed !== undefined || file.name === FILES.manifest || file.name === FILES.signature) {
          throw new StoreError('STORE_INTEGRITY', `evidence ${room}/${sessionId}/${file.name} is missing locally: not mirrored`);
        }
        continue; // an optional session file (public-key.pem)
      }
      const expected = sha256Hex(local);
      if (file.sealed !== undefined && expected !== file.sealed) {
        throw new StoreError('STORE_INTEGRITY', `evidence ${room}/${sessionId}/${file.name} differs locally from its sealed SHA-256: not mirrored (run livemask evidence verify)`);
      }
      const key = `${room}/${sessionId}/${file.name}`;
      await this.store.put(key, local, { ...(retainUntil ? { retainUntil } : {}), ...signal(options) });
      const back = await this.store.get(key, signal(options));
      if (sha256Hex(back) !== expected) {
        throw new StoreError('STORE_INTEGRITY', `store object ${key} read back differs from its sealed SHA-256`);
      }
      bytes += local.length;
      count += 1;
    }
    const result: MirrorResult = { room, sessionId, files: count, bytes };
    await appendMarker(this.#markerPath, { ...result, store: this.store.id, at: new Date().toISOString() });
    this.#logger?.info({ room, session: sessionId, files: count, bytes }, 'evidence session mirrored');
    this.safeEmit('mirrored', result);
    return result;
  }

  /** Aborts the pass in flight (its session is retried at the next start), waits for it, and closes the store. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort(new AbortedError('evidence mirror closed'));
      await this.#running;
      await this.store.close();
    })();
    return this.#closing;
  }

  #retainUntil(manifest: Manifest): Date | undefined {
    if (this.#retainDays <= 0) {
      return undefined;
    }
    const ended = Date.parse(manifest.endedAt ?? '');
    return new Date((Number.isFinite(ended) ? ended : Date.now()) + this.#retainDays * 86_400_000);
  }

  #reportFailure(ref: SessionRef, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (error instanceof AbortedError) {
      this.#logger?.info({ room: ref.room, session: ref.sessionId }, 'evidence mirror stopped; the session is copied on the next start');
    } else {
      this.#logger?.error({ err: error, room: ref.room, session: ref.sessionId }, 'evidence session not mirrored; retried on the next pass');
    }
    this.safeEmit('mirror-error', ref.room, ref.sessionId, error);
  }
}

function signal(options: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

async function readOptional(path: string): Promise<string | undefined>;
async function readOptional(path: string, as: 'bytes'): Promise<Uint8Array | undefined>;
async function readOptional(path: string, as?: 'bytes'): Promise<string | Uint8Array | undefined> {
  try {
    return as === 'bytes' ? await readFile(path) : await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw err;
  }
}
