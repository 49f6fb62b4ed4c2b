import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError } from '../core/index.js';

/**
 * Where evidence lives:
 *
 *     <root>/<room>/<sessionId>/events.jsonl        hash-chained event log
 *     <root>/<room>/<sessionId>/checkpoints.jsonl   signed chain heads
 *     <root>/<room>/<sessionId>/manifest.json       final manifest, and
 *     <root>/<room>/<sessionId>/manifest.sig        its detached Ed25519 signature
 *     <root>/<room>/<sessionId>/public-key.pem      the signer's public key (informative only)
 *     <root>/<room>/<sessionId>/<participant>/video-000001.webm
 *
 * A segment being written carries `.open` after its name.
 */

export const FILES = {
  events: 'events.jsonl',
  checkpoints: 'checkpoints.jsonl',
  manifest: 'manifest.json',
  signature: 'manifest.sig',
  publicKey: 'public-key.pem',
} as const;

export const OPEN_SUFFIX = '.open';

/** Ids name directories: the server's id alphabet, but no leading dot (no `.`, `..` or hidden names). */
const ID_RE = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;

export function checkId(what: string, id: string): string {
  if (!ID_RE.test(id)) {
    throw new EvidenceError('EVIDENCE_BAD_ID', `${what} id ${JSON.stringify(id)} must be 1-128 of A-Z a-z 0-9 . _ ~ - and not start with a dot`);
  }
  return id;
}

export function sessionDir(root: string, room: string, sessionId: string): string {
  return join(root, checkId('room', room), checkId('session', sessionId));
}

/** A segment's path relative to its session directory, e.g. `alice/video-000001.webm` (`.mkv` for H.264, which WebM cannot carry). */
export function segmentName(participant: string, kind: 'video' | 'audio', index: number, ext: 'webm' | 'mkv' = 'webm'): string {
  return `${participant}/${kind}-${String(index).padStart(6, '0')}.${ext}`;
}

export interface SessionRef {
  room: string;
  sessionId: string;
  dir: string;
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && ID_RE.test(e.name)).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw err;
  }
}

/** The sessions under `root`, of one room or all, sorted by room then session id. */
export async function listSessions(root: string, room?: string): Promise<SessionRef[]> {
  const rooms = room !== undefined ? [checkId('room', room)] : await subdirs(root);
  const out: SessionRef[] = [];
  for (const r of rooms) {
    for (const s of await subdirs(join(root, r))) {
      const dir = join(root, r, s);
      if (await isFile(join(dir, FILES.events))) {
        out.push({ room: r, sessionId: s, dir });
      }
    }
  }
  return out;
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Every file under a session's participant directories, as `participant/name`, sorted. */
export async function participantFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of await subdirs(dir)) {
    const entries = await readdir(join(dir, p), { withFileTypes: true });
    for (const e of entries) {
      if (e.isFile()) {
        out.push(`${p}/${e.name}`);
      }
    }
  }
  return out.sort();
}
