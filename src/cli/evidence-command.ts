import type { KeyObject } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EvidenceError, LivemaskError, type Logger } from '../core/index.js';
import { describeTakeover, FILES, listSessions, loadEvidenceKeys, recover, verify, type Manifest, type VerifyCounts } from '../evidence/index.js';
import { appendAudit, exportEvidence, verifyBundle } from '../evidence/index.js';
import { evidenceGovernanceCommand, GOVERNANCE_COMMANDS } from './evidence-governance-command.js';
import { evidenceFetchCommand } from './evidence-store-command.js';
import { osUser } from './actor.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask evidence list|verify|export|recover` (and hold|release|sweep|audit,
 * in evidence-governance-command.ts; `verify --bundle <dir>`
 * checks an export bundle with the public key alone). The evidence root is
 * `<data>/evidence`, where `<data>` is `--data`, else `LIVEMASK_DATA`, else
 * `./data` (as for `serve`). Exit codes: 0 intact / done, 1 a problem was
 * found, 2 bad usage or key configuration, 3 no such room or session.
 */
export async function evidenceCommand(args: string[], logger: Logger): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'fetch') {
    return evidenceFetchCommand(rest, logger); // its own flags: src/cli/evidence-store-command.ts
  }
  if (sub !== undefined && GOVERNANCE_COMMANDS.has(sub)) {
    return evidenceGovernanceCommand(sub, rest, logger); // hold, release, sweep, audit: src/cli/evidence-governance-command.ts
  }
  const { values, positionals } = parseEvidenceArgs(rest);
  const dataDir = resolve(values.data ?? process.env.LIVEMASK_DATA ?? './data');
  const root = join(dataDir, 'evidence');
  switch (sub) {
    case 'list': {
      noPositionals('list', positionals);
      const code = await listCommand(root, values.room);
      const rooms = new Set((await listSessions(root, values.room)).map((r) => r.room));
      const signingKey = rooms.size > 0 ? (await loadEvidenceKeys({ dataDir, needSigning: false, logger })).signingKey : undefined;
      for (const room of rooms) {
        await auditRead(root, room, 'list', values, signingKey, logger);
      }
      return code;
    }
    case 'verify': {
      if (values.bundle !== undefined) {
        return verifyBundleCommand(values.bundle, dataDir, positionals, logger);
      }
      const room = positionals[0];
      if (room === undefined || positionals.length > 1) {
        throw new LivemaskError('BAD_USAGE', 'evidence verify needs exactly one <room>');
      }
      const keys = await loadEvidenceKeys({ dataDir, needSigning: false, logger });
      const result = await verify(root, room, keys.publicKey, values.session);
      await auditRead(root, room, 'verify', values, keys.signingKey, logger, { intact: result.ok });
      if (result.ok) {
        process.stdout.write(`intact: room ${room}: ${describeCounts(result.counts)}\n`);
        for (const takeover of result.continuity?.takeovers ?? []) {
          process.stdout.write(`  ${describeTakeover(takeover)}\n`);
        }
        return EXIT.ok;
      }
      const p = result.problem;
      process.stdout.write(`NOT intact: ${p.kind} at ${p.where}: ${p.message}\n`);
      return EXIT.failed;
    }
    case 'export':
      return exportCommand(root, dataDir, values, positionals, logger);
    case 'recover': {
      noPositionals('recover', positionals);
      const keys = await loadEvidenceKeys({ dataDir, needSigning: true, logger });
      if (!keys.signingKey) {
        throw new LivemaskError('BAD_USAGE', 'evidence recover needs a signing key');
      }
      const recovered = await recover(root, { signingKey: keys.signingKey, logger });
      for (const r of recovered) {
        process.stdout.write(r.signedOnly
          ? `recovered ${r.room}/${r.sessionId}: sealed but unsigned (its writer died before the signature); its manifest matches its log and is signed now\n`
          : `recovered ${r.room}/${r.sessionId}: ${r.segments.length} segments sealed, ${r.discarded.length} discarded\n`);
      }
      process.stdout.write(`${recovered.length} sessions recovered\n`);
      return EXIT.ok;
    }
    default:
      throw new LivemaskError('BAD_USAGE', `unknown evidence command: ${sub ?? '(none)'}`);
  }
}

interface EvidenceFlags {
  data?: string;
  room?: string;
  session?: string;
  from?: string;
  to?: string;
  output?: string;
  actor?: string;
  reason?: string;
  bundle?: string;
}

function parseEvidenceArgs(args: string[]): { values: EvidenceFlags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: {
        data: { type: 'string' }, room: { type: 'string' }, session: { type: 'string' },
        from: { type: 'string' }, to: { type: 'string' }, output: { type: 'string', short: 'o' },
        actor: { type: 'string' }, reason: { type: 'string' }, bundle: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    throw new LivemaskError('BAD_USAGE', err instanceof Error ? err.message : String(err));
  }
}

/**
 * Audits a read from the command line in the room's audit log: the actor is
 * `--actor`, else the OS user; the reason `--reason`, else "command line".
 * Reading changes nothing, so a log that cannot be written (a read-only copy
 * of the evidence) is reported on stderr and in the log, not fatal.
 */
async function auditRead(
  root: string,
  room: string,
  action: 'list' | 'verify',
  values: EvidenceFlags,
  signingKey: KeyObject | undefined,
  logger: Logger,
  detail: Record<string, unknown> = {},
): Promise<void> {
  const record = {
    actor: values.actor ?? osUser(),
    action,
    reason: values.reason ?? 'command line',
    ...(values.session !== undefined ? { session: values.session } : {}),
    detail: { ...detail, via: 'cli' },
  };
  try {
    await appendAudit(root, room, record, signingKey);
  } catch (err) {
    logger.warn({ err, room, action }, 'this access could not be written to the audit log');
    process.stderr.write(`livemask: warning: this ${action} of room ${room} could not be audited: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

function noPositionals(verb: string, positionals: string[]): void {
  if (positionals.length > 0) {
    throw new LivemaskError('BAD_USAGE', `evidence ${verb} takes no arguments, got ${positionals.join(' ')}`);
  }
}

function describeCounts(c: VerifyCounts): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [plural(c.sessions, 'session'), plural(c.segments, 'segment'), `${c.bytes} bytes`, plural(c.events, 'event'), plural(c.checkpoints, 'checkpoint')].join(', ');
}

async function listCommand(root: string, room: string | undefined): Promise<number> {
  const sessions = await listSessions(root, room);
  for (const s of sessions) {
    let state = 'open';
    let detail = '';
    try {
      const m = JSON.parse(await readFile(join(s.dir, FILES.manifest), 'utf8')) as Manifest;
      state = m.recovered ? 'recovered' : 'sealed';
      detail = `  ${m.startedAt ?? '?'} .. ${m.endedAt ?? '?'}  ${m.participants.length} participants  ${m.segments.length} segments`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        state = 'unreadable-manifest';
      }
    }
    process.stdout.write(`${s.room}  ${s.sessionId}  ${state}${detail}\n`);
  }
  if (sessions.length === 0) {
    process.stdout.write(`no evidence sessions${room !== undefined ? ` for room ${room}` : ''} under ${root}\n`);
  }
  return EXIT.ok;
}

async function verifyBundleCommand(dir: string, dataDir: string, positionals: string[], logger: Logger): Promise<number> {
  if (positionals.length > 0) {
    throw new LivemaskError('BAD_USAGE', `evidence verify --bundle <dir> takes no <room>, got ${positionals.join(' ')}`);
  }
  const keys = await loadEvidenceKeys({ dataDir, needSigning: false, logger });
  const result = await verifyBundle(resolve(dir), keys.publicKey);
  if (result.ok) {
    process.stdout.write(`intact: bundle ${dir}: ${describeCounts(result.counts)}\n`);
    return EXIT.ok;
  }
  const p = result.problem;
  process.stdout.write(`NOT intact: ${p.kind} at ${p.where}: ${p.message}\n`);
  return EXIT.failed;
}

/**
 * `evidence export <room> --from T --to T -o DIR --actor ID --reason TEXT`:
 * the bundle, then the audit entry; a bundle whose export cannot be audited
 * is removed.
 */
async function exportCommand(root: string, dataDir: string, values: EvidenceFlags, positionals: string[], logger: Logger): Promise<number> {
  const room = positionals[0];
  if (room === undefined || positionals.length > 1) {
    throw new LivemaskError('BAD_USAGE', 'evidence export needs exactly one <room>');
  }
  const flags = { from: '--from', to: '--to', output: '-o', actor: '--actor', reason: '--reason' } as const;
  const missing = (Object.keys(flags) as (keyof typeof flags)[]).filter((k) => (values[k] ?? '').trim() === '');
  const { from, to, output, actor, reason } = values;
  if (missing.length > 0 || from === undefined || to === undefined || output === undefined || actor === undefined || reason === undefined) {
    throw new LivemaskError('BAD_USAGE', `evidence export needs ${missing.map((k) => flags[k]).join(', ')}`);
  }
  const keys = await loadEvidenceKeys({ dataDir, needSigning: false, logger });
  const result = await exportEvidence({ root, room, from, to, out: output, actor, reason, publicKey: keys.publicKey, logger });
  const r = result.report;
  const sessions = r.source.sessions.map((s) => s.sessionId);
  try {
    await appendAudit(root, room, {
      actor, action: 'export', reason,
      ...(sessions.length === 1 && sessions[0] !== undefined ? { session: sessions[0] } : {}),
      detail: { from: r.from, to: r.to, sessions, segments: r.bundle.counts.segments, reportSha256: result.reportSha256, bundleSha256: result.bundleSha256 },
    }, keys.signingKey);
  } catch (err) {
    await rm(result.dir, { recursive: true, force: true });
    throw new EvidenceError('EVIDENCE_IO', `the export could not be audited, so its bundle was removed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  process.stdout.write(
    `exported room ${room} ${r.from} .. ${r.to} -> ${result.dir}: ${describeCounts(r.bundle.counts)}; ` +
    `clip ${r.clip.path} with ${r.clip.tracks.length} tracks\n`,
  );
  return EXIT.ok;
}
