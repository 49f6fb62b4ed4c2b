import { createHash } from 'node:crypto';
import { AbortedError, StoreError } from '../core/index.js';

/**
 * The store of SEALED evidence: a key-value store of immutable objects, with
 * two back ends that pass the same contract tests (test/storage/):
 *
 * - `FsStore`, the default: files under a directory. A put writes a temp
 *   file, fsyncs it, links it into place and fsyncs the directory, so a
 *   reader never sees a half-written object. By default its directory is the
 *   evidence root itself, where the recorder writes.
 * - `S3Store`: an S3-compatible bucket through `@aws-sdk/client-s3`, with
 *   Object Lock retention when the bucket has Object Lock enabled.
 *
 * Keys are `<room>/<session>/<file>` or `<room>/<session>/<participant>/<file>`,
 * each part 1-128 of `A-Z a-z 0-9 . _ ~ -` not starting with a dot (the
 * evidence id alphabet), so no key is absolute, climbs with `..`, or names a
 * temp file; a name ending in `.open` (a segment still being written) is
 * refused too.
 *
 * The contract:
 * - `put` never replaces: a key that already holds the same bytes succeeds
 *   (so a retried mirror is harmless), one that holds other bytes fails with
 *   STORE_CONFLICT.
 * - `get` of a missing key fails with STORE_NOT_FOUND; `head` answers undefined.
 * - `delete` is idempotent: deleting a missing key succeeds. (On a bucket with
 *   Object Lock, S3 keeps a retained version; the key only disappears.)
 * - `list(prefix)` answers every key starting with `prefix`, sorted, however
 *   many there are.
 * - The store does not vouch for content: `get` returns what is stored, and
 *   `livemask evidence verify` checks it against the signed manifest.
 */

export interface StoreEntry {
  key: string;
  bytes: number;
}

export interface PutOptions {
  /** Keep the object at least until then: S3 Object Lock when the bucket supports it; ignored elsewhere. */
  retainUntil?: Date;
  signal?: AbortSignal;
}

export interface StoreCallOptions {
  signal?: AbortSignal;
}

export interface EvidenceStore {
  /** `fs` or `s3`. */
  readonly kind: 'fs' | 's3';
  /** Where it stores, for logs and the mirror marker: never holds credentials. */
  readonly id: string;
  /** Stores `bytes` at `key` unless the key holds the same bytes already; never replaces other bytes. */
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<StoreEntry>;
  /** The object's bytes; STORE_NOT_FOUND when there is none. */
  get(key: string, options?: StoreCallOptions): Promise<Uint8Array>;
  /** The object's size, or undefined when there is none. */
  head(key: string, options?: StoreCallOptions): Promise<StoreEntry | undefined>;
  /** Every key that starts with `prefix` ('' for all), sorted. */
  list(prefix: string, options?: StoreCallOptions): Promise<StoreEntry[]>;
  /** Removes the key; succeeds when there was none. */
  delete(key: string, options?: StoreCallOptions): Promise<void>;
  /** Releases connections; idempotent. Later calls fail with CLOSED. */
  close(): Promise<void>;
}

const PART_RE = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;

/** The parts of a valid key; throws STORE_BAD_KEY naming the problem. */
export function checkKey(key: string): string[] {
  const parts = key.split('/');
  const bad = (why: string): StoreError => new StoreError('STORE_BAD_KEY', `store key ${JSON.stringify(key)} ${why}`);
  if (parts.length < 3 || parts.length > 4) {
    throw bad('must be <room>/<session>/<file> or <room>/<session>/<participant>/<file>');
  }
  if (parts.some((p) => !PART_RE.test(p))) {
    throw bad('has a part that is empty, starts with a dot, or holds characters other than A-Z a-z 0-9 . _ ~ -');
  }
  if (key.endsWith('.open')) {
    throw bad('names an open segment: the store holds sealed files only');
  }
  return parts;
}

/** True when `key` is a valid key (listings skip anything else). */
export function isKey(key: string): boolean {
  try {
    checkKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a list prefix: '' or the start of a key, whose complete parts (all
 * but the last) are valid key parts. Throws STORE_BAD_KEY.
 */
export function checkPrefix(prefix: string): string {
  const parts = prefix.split('/');
  const complete = parts.slice(0, -1);
  const last = parts.at(-1) ?? '';
  if (complete.length > 3 || complete.some((p) => !PART_RE.test(p)) || (last !== '' && !/^[A-Za-z0-9._~-]{1,128}$/.test(last)) || last.startsWith('.')) {
    throw new StoreError('STORE_BAD_KEY', `store prefix ${JSON.stringify(prefix)} is not the start of a key`);
  }
  return prefix;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws AbortedError when `signal` is aborted. */
export function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new AbortedError('evidence store call aborted', { cause: signal.reason });
  }
}
