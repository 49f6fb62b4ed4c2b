import { sign, verify as verifySignature, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EvidenceError, LivemaskError } from '../core/index.js';
import { checkChain, checkpointMessage, nextEntry, parseLog, type ChainEntry } from './hash-chain.js';
import { checkId, isFile } from './layout.js';

/**
 * The room's access audit log: who read, exported, held, released or swept
 * its evidence, when and why. It is a hash chain like a session's event log
 * (`<root>/<room>/audit.jsonl`, one {@link ChainEntry} per line, `type` the
 * action, `data` `{ actor, reason, session?, ...detail }`). When the writer
 * has the signing key, each append also signs the new head into
 * `audit-checkpoints.jsonl`, so a rewritten chain is caught by the key.
 *
 * Writers in several processes (the server and the `livemask evidence` CLI)
 * take a lock file around read-last-entry-then-append.
 */

export type AuditAction = 'list' | 'verify' | 'export' | 'hold' | 'release' | 'sweep-delete' | 'export-delete' | 'audit' | 'replay' | 'media';

export interface AuditRecord {
  actor: string;
  action: AuditAction;
  reason: string;
  session?: string;
  detail?: Record<string, unknown>;
}

export const AUDIT_FILES = {
  log: 'audit.jsonl',
  checkpoints: 'audit-checkpoints.jsonl',
  lock: 'audit.lock',
} as const;

/** The pseudo session id the audit log's checkpoints are signed under. */
const AUDIT_SCOPE = '@audit';

const LOCK_WAIT_MS = 5_000;
/** A lock older than this was left by a killed process. */
const LOCK_STALE_MS = 15_000;

/** In-process serialisation per log, so this process never contends with itself. */
const queues = new Map<string, Promise<unknown>>();

/** Appends one audit entry, durably; resolves with it. */
export async function appendAudit(root: string, room: string, record: AuditRecord, signingKey?: KeyObject): Promise<ChainEntry> {
  const dir = join(root, checkId('room', room));
  checkRecord(record);
  const previous = queues.get(dir) ?? Promise.resolve();
  const next = previous.then(undefined, () => undefined).then(() => withLock(dir, () => appendLocked(dir, room, record, signingKey)));
  queues.set(dir, next);
  try {
    return await next;
  } finally {
    if (queues.get(dir) === next) {
      queues.delete(dir);
    }
  }
}

/** The room's audit entries, oldest first; [] when none. Does not check the chain (see {@link verifyAudit}). */
export async function readAudit(root: string, room: string): Promise<ChainEntry[]> {
  const text = await readOptional(join(root, checkId('room', room), AUDIT_FILES.log));
  return text === undefined ? [] : parseLog(text).entries;
}

export type AuditVerifyResult = { ok: true; count: number; signed: number } | { ok: false; kind: string; line: number; message: string };

/**
 * Checks the audit chain and, given the public key, every signed head: an
 * edited, removed, reordered or cut entry is named with its line. An absent
 * log verifies as empty.
 */
export async function verifyAudit(root: string, room: string, publicKey?: KeyObject): Promise<AuditVerifyResult> {
  const dir = join(root, checkId('room', room));
  const parsed = parseLog((await readOptional(join(dir, AUDIT_FILES.log))) ?? '');
  const chainProblem = parsed.problem ?? checkChain(parsed.entries);
  if (chainProblem) {
    return { ok: false, kind: chainProblem.kind, line: chainProblem.line, message: chainProblem.message };
  }
  const entries = parsed.entries;
  let signed = 0;
  if (publicKey) {
    const lines = ((await readOptional(join(dir, AUDIT_FILES.checkpoints))) ?? '').split('\n').filter((l) => l !== '');
    for (const [i, line] of lines.entries()) {
      const cp = parseCheckpoint(line);
      if (!cp || !verifySignature(null, checkpointMessage(room, AUDIT_SCOPE, cp.seq, cp.head), publicKey, Buffer.from(cp.sig, 'base64'))) {
        return { ok: false, kind: 'signature-bad', line: i + 1, message: `${AUDIT_FILES.checkpoints} line ${i + 1} does not verify with the configured public key` };
      }
      const e = entries[cp.seq];
      if (!e) {
        return { ok: false, kind: 'log-truncated', line: entries.length, message: `audit log ends at seq ${entries.length - 1}; a signed head covers seq ${cp.seq}` };
      }
      if (e.hash !== cp.head) {
        return { ok: false, kind: 'event-edited', line: cp.seq + 1, message: `audit chain differs from the signed head at seq ${cp.seq}` };
      }
      signed += 1;
    }
  }
  return { ok: true, count: entries.length, signed };
}

function checkRecord(r: AuditRecord): void {
  if (r.actor.trim() === '') {
    throw new LivemaskError('BAD_USAGE', 'an audited access needs an actor');
  }
  if (r.reason.trim() === '') {
    throw new LivemaskError('BAD_USAGE', 'an audited access needs a reason');
  }
}

async function appendLocked(dir: string, room: string, record: AuditRecord, signingKey: KeyObject | undefined): Promise<ChainEntry> {
  const parsed = parseLog((await readOptional(join(dir, AUDIT_FILES.log))) ?? '');
  const data: Record<string, unknown> = { ...record.detail, actor: record.actor, reason: record.reason };
  if (record.session !== undefined) {
    data.session = record.session;
  }
  // A log cut by a crash mid-line is continued after its last whole entry; verify still reports the cut.
  const entry = nextEntry(parsed.entries.at(-1), record.action, data, new Date());
  await appendLine(join(dir, AUDIT_FILES.log), JSON.stringify(entry));
  if (signingKey) {
    const sig = sign(null, checkpointMessage(room, AUDIT_SCOPE, entry.seq, entry.hash), signingKey).toString('base64');
    await appendLine(join(dir, AUDIT_FILES.checkpoints), JSON.stringify({ seq: entry.seq, head: entry.hash, at: entry.at, sig }));
  }
  return entry;
}

async function appendLine(path: string, line: string): Promise<void> {
  const handle = await open(path, 'a');
  try {
    await handle.write(`${line}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = join(dir, AUDIT_FILES.lock);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new EvidenceError('EVIDENCE_IO', `cannot lock the audit log: ${(err as Error).message}`, { cause: err });
      }
      if (await isStale(lock)) {
        await unlink(lock).then(undefined, ignoreMissing);
        continue;
      }
      if (Date.now() > deadline) {
        throw new EvidenceError('EVIDENCE_IO', `the audit log of ${dir} stayed locked for ${LOCK_WAIT_MS} ms`);
      }
      await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).then(undefined, ignoreMissing);
  }
}

async function isStale(lock: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(lock)).mtimeMs > LOCK_STALE_MS;
  } catch {
    return false;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
    throw err;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  return (await isFile(path)) ? readFile(path, 'utf8') : undefined;
}

function parseCheckpoint(line: string): { seq: number; head: string; sig: string } | undefined {
  try {
    const v = JSON.parse(line) as { seq?: unknown; head?: unknown; sig?: unknown } | null;
    return v && typeof v.seq === 'number' && typeof v.head === 'string' && typeof v.sig === 'string'
      ? { seq: v.seq, head: v.head, sig: v.sig }
      : undefined;
  } catch {
    return undefined;
  }
}
