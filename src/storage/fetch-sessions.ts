import { StoreError } from '../core/index.js';
import { FILES } from '../evidence/index.js';
import { checkPrefix, type EvidenceStore } from './evidence-store.js';
import { FsStore } from './fs-store.js';

export interface FetchOptions {
  room: string;
  /** One session; default every session of the room. */
  sessionId?: string;
  /** The evidence root to write into: `<to>/<room>/<session>/...`. */
  to: string;
  signal?: AbortSignal;
}

export interface FetchResult {
  /** `room/session` of each session fetched. */
  sessions: string[];
  /** `room/session` of each session left out of a whole-room fetch: no manifest.sig in the store (still open, or copied in part). */
  unsealed: string[];
  files: number;
  bytes: number;
}

/**
 * Downloads a room's sessions from a store into a directory laid out like
 * the evidence root, so that `verify` (which reads the filesystem) checks
 * exactly what the store holds. Files are written through {@link FsStore}:
 * durably, and never over a file that holds other bytes (STORE_CONFLICT), so
 * fetching into a live evidence root cannot overwrite the originals. Each
 * session's signature is written last. A whole-room fetch leaves out the
 * sessions with no signature in the store (still being recorded, when the
 * store is the local evidence root; copied in part, in a bucket) and names
 * them; a session asked for by id is fetched as it is, for verify to judge.
 * STORE_NOT_FOUND when the store has nothing for the room (or session).
 */
export async function fetchSessions(store: EvidenceStore, options: FetchOptions): Promise<FetchResult> {
  const prefix = checkPrefix(options.sessionId !== undefined ? `${options.room}/${options.sessionId}/` : `${options.room}/`);
  const call = options.signal ? { signal: options.signal } : {};
  const entries = await store.list(prefix, call);
  if (entries.length === 0) {
    throw new StoreError('STORE_NOT_FOUND', `the store ${store.id} holds no evidence for room ${options.room}${options.sessionId !== undefined ? ` session ${options.sessionId}` : ''}`);
  }
  const sessionOf = (key: string): string => key.split('/').slice(0, 2).join('/');
  const signed = new Set(entries.filter((e) => e.key.endsWith(`/${FILES.signature}`)).map((e) => sessionOf(e.key)));
  const unsealed = [...new Set(entries.map((e) => sessionOf(e.key)))].filter((s) => options.sessionId === undefined && !signed.has(s)).sort();
  const last = (key: string): number => (key.endsWith(`/${FILES.signature}`) ? 1 : 0);
  const keys = entries
    .map((e) => e.key)
    .filter((k) => !unsealed.includes(sessionOf(k)))
    .sort((a, b) => last(a) - last(b) || (a < b ? -1 : a > b ? 1 : 0));
  const target = new FsStore({ dir: options.to });
  const sessions = new Set<string>();
  let bytes = 0;
  try {
    for (const key of keys) {
      const data = await store.get(key, call);
      await target.put(key, data, call);
      sessions.add(sessionOf(key));
      bytes += data.length;
    }
  } finally {
    await target.close();
  }
  return { sessions: [...sessions].sort(), unsealed, files: keys.length, bytes };
}
