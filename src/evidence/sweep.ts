import type { KeyObject } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError, type Logger } from '../core/index.js';
import { appendAudit, readAudit } from './audit.js';
import { fsyncDir } from './durable-file.js';
import { isHeld } from './holds.js';
import { checkId, FILES, listSessions, type SessionRef } from './layout.js';
import { checkRetentionDays, DAY_MS, judgeSessions, type RetentionBasis, type SessionTimes } from './retention.js';
import { sweepDerived, type DerivedCopies, type DerivedSweepResult } from './sweep-derived.js';

/**
 * The retention sweep: deletes the sessions past retention whose room is not
 * held (the rule is in retention.ts), auditing each deletion in the room's
 * audit log as `sweep-delete` and logging it (room and session ids only).
 *
 * A deletion is crash-safe: the session directory is first renamed to a
 * hidden tombstone (`<room>/.swept-<session>`, a dot-name that no session
 * listing sees) and the room directory fsynced, then the deletion is
 * audited, then the tombstone removed. A crash leaves either the whole
 * session or a tombstone, never a session with missing segments; the next
 * sweep finishes any tombstone (auditing it when the crash came before its
 * audit entry). If the audit entry cannot be written, the tombstone is
 * renamed back and the session kept.
 */

export const TOMBSTONE_PREFIX = '.swept-';

export interface SweepOptions {
  /** Sessions older than this many days (see retention.ts) are deleted unless held. */
  retentionDays: number;
  /** The clock; default now. */
  now?: Date;
  /** Who the audit entries name; default `system`. */
  actor?: string;
  /** List what would be deleted; change nothing. */
  dryRun?: boolean;
  /** Sweep one room only. */
  room?: string;
  logger?: Logger;
  /** Signs the audit log's new heads. */
  signingKey?: KeyObject;
  /** Copies of evidence outside the root (exports, replay media) that the sweep also prunes (sweep-derived.ts). */
  derived?: DerivedCopies;
}

export interface SessionKey {
  room: string;
  sessionId: string;
}

export interface SweptSession extends SessionKey {
  basis: RetentionBasis;
  /** ISO time the age counts from. */
  reference: string;
  ageDays: number;
}

export interface KeptSession extends SessionKey {
  /** `held`: expired but its room is held (or its hold state is unreadable); `retained`: not expired; `no-age`: no usable time. */
  why: 'held' | 'retained' | 'no-age';
}

export interface SweepResult {
  dryRun: boolean;
  retentionDays: number;
  now: string;
  /** Deleted (in a dry run: would be deleted). */
  deleted: SweptSession[];
  kept: KeptSession[];
  /** Deletions a crash interrupted, finished now (in a dry run: found). */
  interrupted: SessionKey[];
  /** Expired sessions that could not be deleted; they are kept whole. */
  failed: (SessionKey & { message: string })[];
  /** What it pruned outside the root, when asked to (`derived`). */
  derived?: DerivedSweepResult;
}

type TimedRef = SessionRef & SessionTimes;

interface SweepContext {
  root: string;
  now: Date;
  retentionDays: number;
  dryRun: boolean;
  actor: string;
  signingKey: KeyObject | undefined;
  logger: Logger | undefined;
}

/** Runs the retention sweep over every room under `root` (or `options.room`). */
export async function sweep(root: string, options: SweepOptions): Promise<SweepResult> {
  checkRetentionDays(options.retentionDays);
  const ctx: SweepContext = {
    root,
    now: options.now ?? new Date(),
    retentionDays: options.retentionDays,
    dryRun: options.dryRun === true,
    actor: options.actor ?? 'system',
    signingKey: options.signingKey,
    logger: options.logger?.child({ module: 'evidence-sweep' }),
  };
  const result: SweepResult = { dryRun: ctx.dryRun, retentionDays: ctx.retentionDays, now: ctx.now.toISOString(), deleted: [], kept: [], interrupted: [], failed: [] };
  const rooms = options.room !== undefined ? [checkId('room', options.room)] : await roomDirs(root);
  for (const room of rooms) {
    await sweepRoom(ctx, room, result);
  }
  if (options.derived) {
    // After the sessions: the replay media of a session deleted just now goes in this same sweep.
    result.derived = await sweepDerived(ctx, options.derived, options.room);
  }
  ctx.logger?.info(
    { dryRun: ctx.dryRun, retentionDays: ctx.retentionDays, deleted: result.deleted.length, kept: result.kept.length, interrupted: result.interrupted.length, failed: result.failed.length },
    'retention sweep done',
  );
  return result;
}

async function sweepRoom(ctx: SweepContext, room: string, result: SweepResult): Promise<void> {
  const { root, logger } = ctx;
  for (const sessionId of await tombstones(root, room)) {
    result.interrupted.push({ room, sessionId });
    if (!ctx.dryRun) {
      await finishTombstone(root, room, sessionId, ctx.actor, ctx.signingKey);
      logger?.info({ room, session: sessionId }, 'retention sweep finished an interrupted deletion');
    }
  }
  const sessions = await Promise.all((await listSessions(root, room)).map(sessionTimes));
  const held = (await heldForSweep(root, room, logger)) ? new Set([room]) : new Set<string>();
  for (const v of judgeSessions(sessions, held, ctx.now, ctx.retentionDays)) {
    const key = { room, sessionId: v.session.sessionId };
    if (v.outcome !== 'delete' || v.referenceMs === undefined || v.basis === undefined || v.ageMs === undefined) {
      result.kept.push({ ...key, why: v.outcome === 'delete' ? 'no-age' : v.outcome });
      continue;
    }
    const swept: SweptSession = { ...key, basis: v.basis, reference: new Date(v.referenceMs).toISOString(), ageDays: round(v.ageMs / DAY_MS) };
    if (ctx.dryRun) {
      result.deleted.push(swept);
      continue;
    }
    // A hold placed since the room was judged wins.
    if (await heldForSweep(root, room, logger)) {
      result.kept.push({ ...key, why: 'held' });
      continue;
    }
    try {
      await deleteSession(ctx, v.session, swept);
      result.deleted.push(swept);
    } catch (err) {
      logger?.error({ room, session: key.sessionId, err }, 'retention sweep could not delete a session; it is kept');
      result.failed.push({ ...key, message: err instanceof Error ? err.message : String(err) });
    }
  }
}

async function deleteSession(o: SweepContext, ref: TimedRef, swept: SweptSession): Promise<void> {
  const root = o.root;
  const roomDir = join(root, ref.room);
  const tomb = join(roomDir, `${TOMBSTONE_PREFIX}${ref.sessionId}`);
  await rename(ref.dir, tomb);
  await fsyncDir(roomDir);
  try {
    await appendAudit(root, ref.room, {
      actor: o.actor,
      action: 'sweep-delete',
      reason: `retention: ${swept.basis} ${swept.reference}, ${swept.ageDays} days ago, past the ${o.retentionDays}-day retention`,
      session: ref.sessionId,
      detail: { basis: swept.basis, reference: swept.reference, ageDays: swept.ageDays, retentionDays: o.retentionDays },
    }, o.signingKey);
  } catch (err) {
    await rename(tomb, ref.dir);
    await fsyncDir(roomDir);
    throw new EvidenceError('EVIDENCE_IO', `the deletion of ${ref.room}/${ref.sessionId} could not be audited, so the session was kept: ${(err as Error).message}`, { cause: err });
  }
  o.logger?.info(
    { room: ref.room, session: ref.sessionId, basis: swept.basis, reference: swept.reference, ageDays: swept.ageDays, retentionDays: o.retentionDays },
    'retention sweep deleted an evidence session',
  );
  await removeTombstone(tomb, roomDir);
}

/** Finishes a deletion a crash interrupted: audits it unless its entry was written, then removes the tombstone. */
async function finishTombstone(root: string, room: string, sessionId: string, actor: string, signingKey: KeyObject | undefined): Promise<void> {
  const audited = (await readAudit(root, room)).some((e) => e.type === 'sweep-delete' && e.data.session === sessionId);
  if (!audited) {
    await appendAudit(root, room, {
      actor, action: 'sweep-delete', reason: 'retention: finished a deletion that a crash interrupted', session: sessionId, detail: { interrupted: true },
    }, signingKey);
  }
  const roomDir = join(root, room);
  await removeTombstone(join(roomDir, `${TOMBSTONE_PREFIX}${sessionId}`), roomDir);
}

async function removeTombstone(tomb: string, roomDir: string): Promise<void> {
  await rm(tomb, { recursive: true, force: true });
  await fsyncDir(roomDir);
}

/** The session ids of the room's tombstones. */
async function tombstones(root: string, room: string): Promise<string[]> {
  const entries = await readdir(join(root, room), { withFileTypes: true }).catch(emptyIfMissing);
  return entries.filter((e) => e.isDirectory() && e.name.startsWith(TOMBSTONE_PREFIX) && e.name.length > TOMBSTONE_PREFIX.length)
    .map((e) => e.name.slice(TOMBSTONE_PREFIX.length)).sort();
}

/** The room directories under the root (valid ids only, so no tombstone or temp file). */
async function roomDirs(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true }).catch(emptyIfMissing);
  return entries.filter((e) => e.isDirectory() && isId(e.name)).map((e) => e.name).sort();
}

function isId(name: string): boolean {
  try {
    checkId('room', name);
    return true;
  } catch {
    return false;
  }
}

function emptyIfMissing(err: unknown): never[] {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return [];
  }
  throw err;
}

/** A hold whose state cannot be read keeps the room: retention errs on keeping evidence. */
async function heldForSweep(root: string, room: string, logger: Logger | undefined): Promise<boolean> {
  try {
    return await isHeld(root, room);
  } catch (err) {
    logger?.warn({ room, err }, 'the hold state of a room is unreadable; its sessions are kept');
    return true;
  }
}

/** What retention needs to know about a session, read from its files. */
async function sessionTimes(ref: SessionRef): Promise<TimedRef> {
  const newestMtimeMs = await newestMtime(ref.dir);
  let text: string | undefined;
  try {
    text = await readFile(join(ref.dir, FILES.manifest), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw err;
    }
  }
  if (text === undefined) {
    return { ...ref, sealed: false, startedAt: await logStart(join(ref.dir, FILES.events)), newestMtimeMs };
  }
  const m = parseManifestTimes(text);
  return { ...ref, sealed: true, startedAt: m.startedAt, endedAt: m.endedAt, newestMtimeMs };
}

function parseManifestTimes(text: string): { startedAt?: string | undefined; endedAt?: string | undefined } {
  try {
    const v = JSON.parse(text) as { startedAt?: unknown; endedAt?: unknown } | null;
    return { startedAt: typeof v?.startedAt === 'string' ? v.startedAt : undefined, endedAt: typeof v?.endedAt === 'string' ? v.endedAt : undefined };
  } catch {
    // An unreadable manifest: the age falls back to the files' mtimes.
    return {};
  }
}

/** The `at` of an event log's first entry, from its first line. */
async function logStart(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const first = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    const v = JSON.parse(first) as { at?: unknown } | null;
    return typeof v?.at === 'string' ? v.at : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** The newest mtime of the files in a session directory and its participant directories. */
async function newestMtime(dir: string, depth = 0): Promise<number | undefined> {
  let newest: number | undefined;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(emptyIfMissing)) {
    const path = join(dir, e.name);
    let ms: number | undefined;
    if (e.isDirectory() && depth === 0) {
      ms = await newestMtime(path, 1);
    } else if (e.isFile()) {
      ms = await mtimeOf(path);
    }
    if (ms !== undefined && (newest === undefined || ms > newest)) {
      newest = ms;
    }
  }
  return newest;
}

/** A file's mtime; undefined when it went away meanwhile. */
async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

function round(days: number): number {
  return Math.round(days * 10) / 10;
}
