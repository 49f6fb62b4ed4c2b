import { randomBytes } from 'node:crypto';
import { link, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Crash-safe file writes. A sealed file is written to a temp name, fsynced,
 * renamed, and its directory fsynced, so a reader sees either nothing or the
 * whole file. An open file is appended through one serial queue.
 */

/** fsyncs a directory, so that a rename or create in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `path` through a temp file, fsync and rename. Never leaves a
 * half-written `path`. With `replace: false` the temp file is hard-linked into
 * place instead, so an existing `path` is never replaced: it fails with EEXIST.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array, options: { replace?: boolean } = {}): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (options.replace === false) {
    try {
      await link(temp, path);
    } finally {
      await rm(temp, { force: true });
    }
  } else {
    await rename(temp, path);
  }
  await fsyncDir(dirname(path));
}

/** True for the temp files {@link writeFileDurable} leaves behind when killed. */
export function isDurableTemp(name: string): boolean {
  return /^\..+\.tmp-[0-9a-f]{8}$/.test(name);
}

/**
 * A file written by appending, in call order. The first write error sticks:
 * every later append rejects with it.
 */
export class AppendFile {
  readonly path: string;
  readonly #handle: FileHandle;
  #chain: Promise<void> = Promise.resolve();
  #error: Error | undefined;
  #pendingBytes = 0;
  #closed = false;

  private constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  /** Opens `path` for appending: `create` fails when it exists, `append` continues it. */
  static async open(path: string, mode: 'create' | 'append'): Promise<AppendFile> {
    return new AppendFile(path, await open(path, mode === 'create' ? 'wx' : 'a'));
  }

  /** Bytes queued and not yet written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Queues `data`; resolves when it is written (to the page cache), with `sync` when fsynced too. */
  append(data: Uint8Array, options: { sync?: boolean } = {}): Promise<void> {
    this.#pendingBytes += data.length;
    return this.#enqueue(async () => {
      try {
        await this.#handle.write(data);
        if (options.sync === true) {
          await this.#handle.datasync();
        }
      } finally {
        this.#pendingBytes -= data.length;
      }
    });
  }

  sync(): Promise<void> {
    return this.#enqueue(() => this.#handle.sync());
  }

  /** Waits for queued writes, then closes; idempotent. Rejects with the first write error. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#chain.then(undefined, () => undefined);
      await this.#handle.close();
    }
    if (this.#error !== undefined) {
      throw this.#error;
    }
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(async () => {
      if (this.#error !== undefined) {
        throw this.#error;
      }
      try {
        await step();
      } catch (err) {
        this.#error = err instanceof Error ? err : new Error(String(err));
        throw err;
      }
    });
    // The chain itself must not reject: the caller of each append gets its error.
    this.#chain = next.then(undefined, () => undefined);
    return next;
  }
}
