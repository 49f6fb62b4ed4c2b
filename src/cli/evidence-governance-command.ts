import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EvidenceError, LivemaskError, type Logger } from '../core/index.js';
import {
  AUDIT_FILES, demoKeyDir, holdRoom, KEY_ENV, loadEvidenceKeys, readAudit, releaseRoom, sweep, verifyAudit, type ChainEntry, type SweepResult,
} from '../evidence/index.js';
import { parseRetentionConfig } from '../server/index.js';
import { osUser } from './actor.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask evidence hold|release|sweep|audit`: retention and its audit.
 *
 *     evidence hold <room> --reason <text> [--actor <id>]
 *     evidence release <room> --reason <text> [--actor <id>]
 *     evidence sweep [--retention-days N] [--dry-run] [--room R] [--actor <id>]
 *     evidence audit <room>
 *
 * All take `--data` (else `LIVEMASK_DATA`, else `./data`). `--actor`
 * defaults to the OS user name for hold and release, and to `system` for
 * sweep. The audit log is signed when an evidence key is configured (or the
 * demo key exists). Exit codes: 0 done / audit chain intact, 1 a problem
 * (audit chain broken, a release of a room not held, a session that could
 * not be deleted), 2 bad usage or configuration, 3 no such room.
 */
export const GOVERNANCE_COMMANDS: ReadonlySet<string> = new Set(['hold', 'release', 'sweep', 'audit']);

interface GovernanceFlags {
  data?: string;
  room?: string;
  actor?: string;
  reason?: string;
  'retention-days'?: string;
  'dry-run'?: boolean;
}

export async function evidenceGovernanceCommand(sub: string, args: string[], logger: Logger): Promise<number> {
  const { values, positionals } = parseGovernanceArgs(args);
  const dataDir = resolve(values.data ?? process.env.LIVEMASK_DATA ?? './data');
  const root = join(dataDir, 'evidence');
  switch (sub) {
    case 'hold':
    case 'release':
      return holdCommand(sub, root, dataDir, values, positionals, logger);
    case 'sweep':
      return sweepCommand(root, dataDir, values, positionals, logger);
    case 'audit':
      return auditCommand(root, dataDir, values, positionals, logger);
    default:
      throw new LivemaskError('BAD_USAGE', `unknown evidence command: ${sub}`);
  }
}

function parseGovernanceArgs(args: string[]): { values: GovernanceFlags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: {
        data: { type: 'string' }, room: { type: 'string' }, actor: { type: 'string' }, reason: { type: 'string' },
        'retention-days': { type: 'string' }, 'dry-run': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    throw new LivemaskError('BAD_USAGE', err instanceof Error ? err.message : String(err));
  }
}

function onlyFlags(verb: string, values: GovernanceFlags, allowed: readonly (keyof GovernanceFlags)[]): void {
  const extra = (Object.keys(values) as (keyof GovernanceFlags)[]).filter((k) => k !== 'data' && !allowed.includes(k));
  if (extra.length > 0) {
    throw new LivemaskError('BAD_USAGE', `evidence ${verb} does not take ${extra.map((k) => `--${k}`).join(', ')}`);
  }
}

function oneRoom(verb: string, positionals: string[]): string {
  const room = positionals[0];
  if (room === undefined || positionals.length > 1) {
    throw new LivemaskError('BAD_USAGE', `evidence ${verb} needs exactly one <room>`);
  }
  return room;
}

async function holdCommand(verb: 'hold' | 'release', root: string, dataDir: string, values: GovernanceFlags, positionals: string[], logger: Logger): Promise<number> {
  onlyFlags(verb, values, ['actor', 'reason']);
  const room = oneRoom(verb, positionals);
  const reason = values.reason;
  if (reason === undefined || reason.trim() === '') {
    throw new LivemaskError('BAD_USAGE', `evidence ${verb} needs --reason <text>`);
  }
  const access = { actor: values.actor ?? osUser(), reason };
  const keys = await auditKeys(dataDir, logger);
  if (verb === 'hold') {
    const r = await holdRoom(root, room, access, keys.signingKey);
    process.stdout.write(r.alreadyHeld
      ? `room ${room} was already held (since ${r.state.since ?? '?'}); the hold now carries this reason (audit entry ${r.audit.seq})\n`
      : `room ${room} held since ${r.state.since ?? r.state.at}: its sessions are kept past retention until released (audit entry ${r.audit.seq})\n`);
    return EXIT.ok;
  }
  const r = await releaseRoom(root, room, access, keys.signingKey);
  process.stdout.write(`room ${room} released: its sessions past retention go at the next sweep (audit entry ${r.audit.seq})\n`);
  return EXIT.ok;
}

async function sweepCommand(root: string, dataDir: string, values: GovernanceFlags, positionals: string[], logger: Logger): Promise<number> {
  onlyFlags('sweep', values, ['retention-days', 'dry-run', 'room', 'actor']);
  if (positionals.length > 0) {
    throw new LivemaskError('BAD_USAGE', `evidence sweep takes no arguments, got ${positionals.join(' ')}`);
  }
  const { retentionDays, exportRetentionDays } = parseRetentionConfig({ retentionDays: values['retention-days'] });
  const dryRun = values['dry-run'] === true;
  const keys = dryRun ? {} : await auditKeys(dataDir, logger);
  const result = await sweep(root, {
    retentionDays, dryRun, logger,
    derived: { exports: { dir: join(dataDir, 'exports'), retentionDays: exportRetentionDays }, cacheDir: join(dataDir, 'replay-cache') },
    ...(values.actor !== undefined ? { actor: values.actor } : {}),
    ...(values.room !== undefined ? { room: values.room } : {}),
    ...(keys.signingKey !== undefined ? { signingKey: keys.signingKey } : {}),
  });
  process.stdout.write(describeSweep(result));
  return result.failed.length > 0 ? EXIT.failed : EXIT.ok;
}

function describeSweep(r: SweepResult): string {
  const lines: string[] = [];
  for (const t of r.interrupted) {
    lines.push(`${r.dryRun ? 'would finish' : 'finished'} an interrupted deletion: ${t.room}/${t.sessionId}`);
  }
  for (const d of r.deleted) {
    lines.push(`${r.dryRun ? 'would delete' : 'deleted'} ${d.room}/${d.sessionId}: ${d.basis} ${d.reference}, ${d.ageDays} days ago`);
  }
  const held = r.kept.filter((k) => k.why === 'held');
  for (const k of held) {
    lines.push(`kept ${k.room}/${k.sessionId}: past retention, but the room is held`);
  }
  for (const f of r.failed) {
    lines.push(`FAILED to delete ${f.room}/${f.sessionId}: ${f.message}`);
  }
  for (const e of r.derived?.exports ?? []) {
    lines.push(`${r.dryRun ? 'would delete' : 'deleted'} export ${e.room}/${e.id} (${e.ageDays} days old)`);
  }
  for (const c of r.derived?.replayCache ?? []) {
    lines.push(`${r.dryRun ? 'would delete' : 'deleted'} the replay media of ${c.room}/${c.sessionId} (session gone)`);
  }
  const counts = [
    `${r.deleted.length} ${r.dryRun ? 'would be deleted' : 'deleted'}`,
    `${held.length} held`,
    `${r.kept.filter((k) => k.why === 'retained').length} within retention`,
    ...(r.kept.some((k) => k.why === 'no-age') ? [`${r.kept.filter((k) => k.why === 'no-age').length} without a time (kept)`] : []),
    ...(r.failed.length > 0 ? [`${r.failed.length} failed`] : []),
  ];
  lines.push(`${r.dryRun ? 'dry run, nothing changed' : 'sweep done'} (retention ${r.retentionDays} days, now ${r.now}): ${counts.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

async function auditCommand(root: string, dataDir: string, values: GovernanceFlags, positionals: string[], logger: Logger): Promise<number> {
  onlyFlags('audit', values, []);
  const room = oneRoom('audit', positionals);
  const dir = join(root, room);
  if (!(await exists(dir, 'dir'))) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no evidence for room ${room} under ${root}`);
  }
  const keys = await auditKeys(dataDir, logger);
  const entries = await readAudit(root, room);
  const lines = entries.map(describeEntry);
  if (entries.length === 0) {
    lines.push(`no audit entries for room ${room}`);
  }
  const result = await verifyAudit(root, room, keys.publicKey);
  if (result.ok) {
    const signed = keys.publicKey ? `, ${result.signed} signed heads verified` : ', no public key configured (signatures not checked)';
    lines.push(`audit chain intact: room ${room}: ${result.count} entries${signed}`);
  } else {
    const file = result.kind === 'signature-bad' ? AUDIT_FILES.checkpoints : AUDIT_FILES.log;
    lines.push(`audit chain NOT intact: ${result.kind} at ${room}/${file}:${result.line}: ${result.message}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return result.ok ? EXIT.ok : EXIT.failed;
}

/** One entry as `time  actor  action  session  reason`; control characters are escaped. */
function describeEntry(e: ChainEntry): string {
  const field = (v: unknown): string => (typeof v === 'string' && v !== '' ? escapeControls(v) : '-');
  return [e.at, field(e.data.actor), e.type, field(e.data.session), field(e.data.reason)].join('  ');
}

function escapeControls(text: string): string {
  return [...text].map((c) => {
    const code = c.codePointAt(0) ?? 0;
    return code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }).join('');
}

/**
 * The keys that sign and check the audit log: the configured ones (or the
 * demo pair, when it exists). With none, the log is chained but unsigned; a
 * key that is configured but unusable is an error.
 */
async function auditKeys(dataDir: string, logger: Logger): Promise<{ signingKey?: KeyObject; publicKey?: KeyObject }> {
  const configured = [KEY_ENV.private, KEY_ENV.public].some((name) => (process.env[name] ?? '').trim() !== '');
  const demo = await exists(join(demoKeyDir(dataDir), 'private.pem'), 'file');
  if (!configured && !demo) {
    return {};
  }
  return loadEvidenceKeys({ dataDir, needSigning: false, logger });
}

async function exists(path: string, kind: 'file' | 'dir'): Promise<boolean> {
  try {
    const s = await stat(path);
    return kind === 'dir' ? s.isDirectory() : s.isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw err;
  }
}

