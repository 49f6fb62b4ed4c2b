import type { KeyObject } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/index.js';
import { appendAudit } from './audit.js';
import { isHeld } from './holds.js';
import { listSessions } from './layout.js';
import { DAY_MS } from './retention.js';

/**
 * The copies of evidence made outside the evidence root, which hold the
 * same unmasked faces and so must not outlive it:
 * - export bundles (`<exports>/<room>/<id>`): deleted once older than the
 *   export retention, unless their room is held; each deletion is audited
 *   in the room's audit log as `export-delete`;
 * - the replay page's remuxed media (`<cache>/<room>/<session>`): deleted
 *   once their session is gone from the evidence root (swept, or deleted
 *   by hand). They are rebuilt on demand while the session exists.
 */

export interface DerivedCopies {
  /** Export bundles (e.g. `<data>/exports`) and the days one is kept (LIVEMASK_EXPORT_RETENTION_DAYS). */
  exports?: { dir: string; retentionDays: number };
  /** The replay page's cache, e.g. `<data>/replay-cache`. */
  cacheDir?: string;
}

export interface DerivedSweepResult {
  /** Export bundles deleted (in a dry run: that would be). */
  exports: { room: string; id: string; ageDays: number }[];
  /** Replay-cache directories of sessions no longer in the evidence root. */
  replayCache: { room: string; sessionId: string }[];
}

interface Context {
  root: string;
  now: Date;
  dryRun: boolean;
  actor: string;
  signingKey: KeyObject | undefined;
  logger: Logger | undefined;
}

export async function sweepDerived(ctx: Context, copies: DerivedCopies, room: string | undefined): Promise<DerivedSweepResult> {
  const result: DerivedSweepResult = { exports: [], replayCache: [] };
  if (copies.exports) {
    await sweepExports(ctx, copies.exports.dir, copies.exports.retentionDays, room, result);
  }
  if (copies.cacheDir !== undefined) {
    await sweepReplayCache(ctx, copies.cacheDir, room, result);
  }
  return result;
}

async function sweepExports(ctx: Context, dir: string, retentionDays: number, only: string | undefined, result: DerivedSweepResult): Promise<void> {
  for (const room of only !== undefined ? [only] : await subdirs(dir)) {
    const ids = await subdirs(join(dir, room));
    if (ids.length === 0 || (await isHeld(ctx.root, room).catch(() => true))) {
      continue; // a held room keeps its exports (an unreadable hold state counts as held)
    }
    for (const id of ids) {
      const path = join(dir, room, id);
      const born = await stat(join(path, 'bundle.json')).catch(() => stat(path));
      const ageMs = ctx.now.getTime() - born.mtimeMs;
      if (ageMs <= retentionDays * DAY_MS) {
        continue;
      }
      const ageDays = Math.round((ageMs / DAY_MS) * 10) / 10;
      if (!ctx.dryRun) {
        await appendAudit(ctx.root, room, {
          actor: ctx.actor,
          action: 'export-delete',
          reason: `export retention: made ${ageDays} days ago, past the ${retentionDays}-day export retention`,
          detail: { export: id, ageDays, retentionDays },
        }, ctx.signingKey);
        await rm(path, { recursive: true, force: true });
        ctx.logger?.info({ room, export: id, ageDays, retentionDays }, 'retention sweep deleted an export bundle');
      }
      result.exports.push({ room, id, ageDays });
    }
  }
}

async function sweepReplayCache(ctx: Context, dir: string, only: string | undefined, result: DerivedSweepResult): Promise<void> {
  for (const room of only !== undefined ? [only] : await subdirs(dir)) {
    const cached = await subdirs(join(dir, room));
    if (cached.length === 0) {
      continue;
    }
    const live = new Set((await listSessions(ctx.root, room).catch(() => [])).map((s) => s.sessionId));
    for (const sessionId of cached.filter((s) => !live.has(s))) {
      if (!ctx.dryRun) {
        await rm(join(dir, room, sessionId), { recursive: true, force: true });
        ctx.logger?.info({ room, session: sessionId }, 'retention sweep deleted the replay media of a session that is gone');
      }
      result.replayCache.push({ room, sessionId });
    }
  }
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw err;
  }
}
