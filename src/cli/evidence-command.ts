import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LivemaskError, type Logger } from '../core/index.js';
import { FILES, listSessions, loadEvidenceKeys, recover, verify, type Manifest, type VerifyCounts } from '../evidence/index.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask evidence list|verify|recover`. The evidence root is
 * `<data>/evidence`, where `<data>` is `--data`, else `LIVEMASK_DATA`, else
 * `./data` (as for `serve`). Exit codes: 0 intact / done, 1 a problem was
 * found, 2 bad usage or key configuration, 3 no such room or session.
 */
export async function evidenceCommand(args: string[], logger: Logger): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseEvidenceArgs(rest);
  const dataDir = resolve(values.data ?? process.env.LIVEMASK_DATA ?? './data');
  const root = join(dataDir, 'evidence');
  switch (sub) {
    case 'list':
      noPositionals('list', positionals);
      return listCommand(root, values.room);
    case 'verify': {
      const room = positionals[0];
      if (room === undefined || positionals.length > 1) {
        throw new LivemaskError('BAD_USAGE', 'evidence verify needs exactly one <room>');
      }
      const keys = await loadEvidenceKeys({ dataDir, needSigning: false, logger });
      const result = await verify(root, room, keys.publicKey, values.session);
      if (result.ok) {
        process.stdout.write(`intact: room ${room}: ${describeCounts(result.counts)}\n`);
        return EXIT.ok;
      }
      const p = result.problem;
      process.stdout.write(`NOT intact: ${p.kind} at ${p.where}: ${p.message}\n`);
      return EXIT.failed;
    }
    case 'recover': {
      noPositionals('recover', positionals);
      const keys = await loadEvidenceKeys({ dataDir, needSigning: true, logger });
      if (!keys.signingKey) {
        throw new LivemaskError('BAD_USAGE', 'evidence recover needs a signing key');
      }
      const recovered = await recover(root, { signingKey: keys.signingKey, logger });
      for (const r of recovered) {
        process.stdout.write(`recovered ${r.room}/${r.sessionId}: ${r.segments.length} segments sealed, ${r.discarded.length} discarded\n`);
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
}

function parseEvidenceArgs(args: string[]): { values: EvidenceFlags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { data: { type: 'string' }, room: { type: 'string' }, session: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    throw new LivemaskError('BAD_USAGE', err instanceof Error ? err.message : String(err));
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
