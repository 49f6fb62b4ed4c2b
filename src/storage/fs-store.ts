import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { AbortedError, StoreError } from '../core/index.js';
import { fsyncDir, writeFileDurable } from '../evidence/index.js';
import { checkKey, checkPrefix, checkSignal, isKey, sha256Hex, type EvidenceStore, type PutOptions, type StoreCallOptions, type StoreEntry } from './evidence-store.js';

export interface FsStoreOptions {
  /** The directory that holds the objects, `<dir>/<room>/<session>/...`: by default the evidence root. */
  dir: string;
}

/**
 * The filesystem back end of {@link EvidenceStore}. A put writes a temp file
 * (a dot name, never listed), fsyncs it, hard-links it to its key's path
 * (which fails, atomically, when the path exists) and fsyncs the directory:
 * a reader sees the whole object or nothing, even after a kill or a power
 * cut. It keeps no retention: `retainUntil` is ignored (the sweep's hold
 * logic governs deletion here).
 */
export class FsStore implements EvidenceStore {
  readonly kind = 'fs' as const;
  readonly id: string;
  readonly dir: string;
  #closed = false;

  constructor(options: FsStoreOptions) {
    this.dir = resolve(options.dir);
    this.id = `file://${this.dir}`;
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<StoreEntry> {
    const path = this.#path(key, options.signal);
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (err) {
      throw ioError('put', key, err);
    }
    try {
      await writeFileDurable(path, bytes, { replace: false });
    } catch (err) {
      if (errno(err) !== 'EEXIST') {
        throw ioError('put', key, err);
      }
      const existing = await this.get(key, options);
      if (sha256Hex(existing) !== sha256Hex(bytes)) {
        throw new StoreError('STORE_CONFLICT', `store key ${key} holds other bytes; sealed evidence is never replaced`);
      }
    }
    return { key, bytes: bytes.length };
  }

  async get(key: string, options: StoreCallOptions = {}): Promise<Uint8Array> {
    const path = this.#path(key, options.signal);
    try {
      return await readFile(path);
    } catch (err) {
      if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errno(err))) {
        throw new StoreError('STORE_NOT_FOUND', `no object at store key ${key}`, { cause: err });
      }
      throw ioError('get', key, err);
    }
  }

  async head(key: string, options: StoreCallOptions = {}): Promise<StoreEntry | undefined> {
    const path = this.#path(key, options.signal);
    try {
      const s = await stat(path);
      return s.isFile() ? { key, bytes: s.size } : undefined;
    } catch (err) {
      if (['ENOENT', 'ENOTDIR'].includes(errno(err))) {
        return undefined;
      }
      throw ioError('head', key, err);
    }
  }

  async list(prefix: string, options: StoreCallOptions = {}): Promise<StoreEntry[]> {
    this.#ready(options.signal);
    checkPrefix(prefix);
    const complete = prefix.split('/').slice(0, -1);
    const out: StoreEntry[] = [];
    try {
      await this.#walk(complete, prefix, out, options.signal);
    } catch (err) {
      throw err instanceof AbortedError ? err : ioError('list', prefix, err);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string, options: StoreCallOptions = {}): Promise<void> {
    const path = this.#path(key, options.signal);
    try {
      await unlink(path);
    } catch (err) {
      if (['ENOENT', 'ENOTDIR'].includes(errno(err))) {
        return;
      }
      throw ioError('delete', key, err);
    }
    await fsyncDir(dirname(path));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Collects the keys under `parts` (a directory) that start with `prefix`; at most 4 levels deep. */
  async #walk(parts: string[], prefix: string, out: StoreEntry[], signal: AbortSignal | undefined): Promise<void> {
    checkSignal(signal);
    let entries;
    try {
      entries = await readdir(join(this.dir, ...parts), { withFileTypes: true });
    } catch (err) {
      if (['ENOENT', 'ENOTDIR'].includes(errno(err))) {
        return;
      }
      throw err;
    }
    for (const e of entries) {
      const key = [...parts, e.name].join('/');
      // Temp files (dot names) and anything outside the key alphabet are not objects.
      if (!(key.startsWith(prefix) || prefix.startsWith(`${key}/`)) || e.name.startsWith('.')) {
        continue;
      }
      if (e.isDirectory() && parts.length < 3) {
        await this.#walk([...parts, e.name], prefix, out, signal);
      } else if (e.isFile() && key.startsWith(prefix) && isKey(key)) {
        const s = await stat(join(this.dir, key));
        out.push({ key, bytes: s.size });
      }
    }
  }

  #path(key: string, signal: AbortSignal | undefined): string {
    this.#ready(signal);
    return join(this.dir, ...checkKey(key));
  }

  #ready(signal: AbortSignal | undefined): void {
    if (this.#closed) {
      throw new StoreError('CLOSED', 'the evidence store is closed');
    }
    checkSignal(signal);
  }
}

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? '';
}

function ioError(op: string, key: string, err: unknown): StoreError {
  const code = errno(err) || (err instanceof Error ? err.message : String(err));
  return new StoreError('STORE_IO', `store ${op} ${key} failed: ${code}`, { cause: err });
}
