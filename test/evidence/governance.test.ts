import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, rmdir, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger, EvidenceError } from '../../src/core/index.js';
import {
  appendAudit, AUDIT_FILES, DAY_MS, EvidenceRecorder, HOLD_FILE, holdRoom, isHeld, listSessions, readAudit, readHold, releaseRoom, sweep, TOMBSTONE_PREFIX,
  verify, verifyAudit, type Manifest,
} from '../../src/evidence/index.js';
import { hasTestData, noDataReason } from '../support/paths.js';
import { readIvf, recordSession, sourceIvf, type SourceFrame } from './helpers.js';
import { runCli } from '../support/cli.js';

const keys = generateKeyPairSync('ed25519');

/** A real session: a few VP8 frames of the face clip through the recorder, sealed and signed. */
async function record(root: string, room: string, sessionId: string, frames: readonly SourceFrame[]): Promise<Manifest> {
  return (await recordSession(root, room, sessionId, frames, keys.privateKey)).manifest;
}

/** pino's lines, parsed. */
function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const logger = createLogger({ name: 'test', level: 'info' }, { write: (line: string) => raw.push(line) });
  return {
    logger,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

const ids = (refs: { room: string; sessionId: string }[]): string[] => refs.map((r) => `${r.room}/${r.sessionId}`);

describe.skipIf(!hasTestData)(`evidence retention, holds, sweep and audit${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let work: string;
  let frames: SourceFrame[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-retention-'));
    frames = readIvf(await sourceIvf(12)).slice(0, 20);
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  describe('sweep with an injected clock', () => {
    let root: string;
    let a: Manifest;
    let b: Manifest;
    let live: EvidenceRecorder;
    /** Between A's end + 90 days and B's end + 90 days. */
    let mid: Date;

    beforeAll(async () => {
      root = join(work, 'clock', 'evidence');
      // An open session that started before A and B but is still being written.
      live = new EvidenceRecorder({ root, room: 'room-live', sessionId: 's-live', signingKey: keys.privateKey });
      await live.start();
      a = await record(root, 'room-1', 's-a', frames);
      b = await record(root, 'room-1', 's-b', frames);
      await record(root, 'room-held', 's-d', frames);
      const touched = new Date();
      await utimes(join(root, 'room-live', 's-live', 'events.jsonl'), touched, touched);
      const aEnd = Date.parse(a.endedAt ?? '');
      const bEnd = Date.parse(b.endedAt ?? '');
      expect(bEnd).toBeGreaterThan(aEnd);
      mid = new Date(aEnd + 90 * DAY_MS + Math.floor((bEnd - aEnd) / 2) + 1);
    });

    afterAll(async () => {
      await live.close();
    });

    it('dry run lists what would go and changes nothing', async () => {
      const before = ids(await listSessions(root));
      expect(before).toEqual(['room-1/s-a', 'room-1/s-b', 'room-held/s-d', 'room-live/s-live']);
      const r = await sweep(root, { retentionDays: 90, now: mid, dryRun: true, signingKey: keys.privateKey });
      expect(r.dryRun).toBe(true);
      expect(r.deleted).toEqual([{ room: 'room-1', sessionId: 's-a', basis: 'ended', reference: a.endedAt, ageDays: 90 }]);
      expect(ids(await listSessions(root))).toEqual(before);
      expect(await readAudit(root, 'room-1')).toEqual([]);
    });

    it('deletes only the expired session, audits and logs it, and what remains verifies', async () => {
      const log = captureLogger();
      const r = await sweep(root, { retentionDays: 90, now: mid, logger: log.logger, signingKey: keys.privateKey });
      expect(ids(r.deleted)).toEqual(['room-1/s-a']);
      expect(r.failed).toEqual([]);
      // The open session started before A, but its last write is recent: kept.
      expect(r.kept).toEqual(expect.arrayContaining([{ room: 'room-1', sessionId: 's-b', why: 'retained' }, { room: 'room-live', sessionId: 's-live', why: 'retained' }]));
      expect(existsSync(join(root, 'room-1', 's-a'))).toBe(false);
      expect(existsSync(join(root, 'room-1', `${TOMBSTONE_PREFIX}s-a`))).toBe(false);
      expect(ids(await listSessions(root))).toEqual(['room-1/s-b', 'room-held/s-d', 'room-live/s-live']);

      const audit = await readAudit(root, 'room-1');
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ type: 'sweep-delete', data: { actor: 'system', session: 's-a', basis: 'ended', retentionDays: 90 } });
      expect(await verifyAudit(root, 'room-1', keys.publicKey)).toEqual({ ok: true, count: 1, signed: 1 });

      const deletions = log.lines.filter((l) => l.msg === 'retention sweep deleted an evidence session');
      expect(deletions).toEqual([expect.objectContaining({ room: 'room-1', session: 's-a', basis: 'ended', retentionDays: 90 })]);

      expect(await verify(root, 'room-1', keys.publicKey)).toMatchObject({ ok: true, counts: { sessions: 1 } });
      expect(await verify(root, 'room-held', keys.publicKey)).toMatchObject({ ok: true, counts: { sessions: 1 } });
    });

    it('keeps a held room past retention, and sweeps it once released', async () => {
      await expect(releaseRoom(root, 'room-held', { actor: 'ops-7', reason: 'not held yet' })).rejects.toMatchObject({ name: 'EvidenceError', code: 'EVIDENCE_NOT_HELD' });
      await expect(holdRoom(root, 'room-held', { actor: 'ops-7', reason: '  ' })).rejects.toMatchObject({ code: 'BAD_USAGE' });
      await expect(holdRoom(root, 'no-such-room', { actor: 'ops-7', reason: 'x' })).rejects.toMatchObject({ code: 'EVIDENCE_NOT_FOUND' });
      expect(existsSync(join(root, 'room-held', HOLD_FILE))).toBe(false);

      const held = await holdRoom(root, 'room-held', { actor: 'ops-7', reason: 'dispute case 42' }, keys.privateKey);
      expect(held).toMatchObject({ alreadyHeld: false, state: { held: true, actor: 'ops-7', reason: 'dispute case 42' } });
      expect(await isHeld(root, 'room-held')).toBe(true);
      expect(JSON.parse(await readFile(join(root, 'room-held', HOLD_FILE), 'utf8'))).toMatchObject({ held: true, since: held.state.since });
      const again = await holdRoom(root, 'room-held', { actor: 'ops-8', reason: 'second case' }, keys.privateKey);
      expect(again).toMatchObject({ alreadyHeld: true, state: { since: held.state.since, actor: 'ops-8' } });

      await live.close();
      const far = new Date(Date.now() + 200 * DAY_MS);
      const log = captureLogger();
      const r = await sweep(root, { retentionDays: 90, now: far, actor: 'retention-cron', logger: log.logger, signingKey: keys.privateKey });
      expect(ids(r.deleted)).toEqual(['room-1/s-b', 'room-live/s-live']);
      expect(r.kept).toEqual([{ room: 'room-held', sessionId: 's-d', why: 'held' }]);
      expect(ids(await listSessions(root))).toEqual(['room-held/s-d']);
      expect(await verify(root, 'room-held', keys.publicKey)).toMatchObject({ ok: true });
      expect((await readAudit(root, 'room-live')).map((e) => [e.type, e.data.actor, e.data.session])).toEqual([['sweep-delete', 'retention-cron', 's-live']]);
      // No personal data in the log: neither actors nor reasons.
      expect(log.text()).not.toMatch(/retention-cron|ops-7|ops-8|dispute case/);

      const released = await releaseRoom(root, 'room-held', { actor: 'ops-9', reason: 'case closed' }, keys.privateKey);
      expect(released.state).toMatchObject({ held: false, actor: 'ops-9' });
      expect(await readHold(root, 'room-held')).toMatchObject({ held: false });
      const after = await sweep(root, { retentionDays: 90, now: far, signingKey: keys.privateKey });
      expect(ids(after.deleted)).toEqual(['room-held/s-d']);
      expect(await listSessions(root)).toEqual([]);
      const trail = await readAudit(root, 'room-held');
      expect(trail.map((e) => [e.type, e.data.actor, e.data.reason])).toEqual([
        ['hold', 'ops-7', 'dispute case 42'],
        ['hold', 'ops-8', 'second case'],
        ['release', 'ops-9', 'case closed'],
        ['sweep-delete', 'system', expect.stringMatching(/^retention: ended .* past the 90-day retention$/)],
      ]);
      expect(await verifyAudit(root, 'room-held', keys.publicKey)).toEqual({ ok: true, count: 4, signed: 4 });
      // The room directory and its audit trail outlive its sessions.
      await expect(releaseRoom(root, 'room-held', { actor: 'ops-9', reason: 'again' })).rejects.toBeInstanceOf(EvidenceError);
    });
  });

  describe('crash safety', () => {
    let root: string;

    beforeAll(async () => {
      root = join(work, 'crash', 'evidence');
      await record(root, 'room-c', 's-ok', frames);
      await record(root, 'room-c', 's-crashed', frames);
      await record(root, 'room-c', 's-audited', frames);
    });

    it('a half-deleted session is never listed; the next sweep finishes and audits it once', async () => {
      // A crash mid-delete: renamed to its tombstone, partly removed, not yet audited.
      const tomb = join(root, 'room-c', `${TOMBSTONE_PREFIX}s-crashed`);
      await rename(join(root, 'room-c', 's-crashed'), tomb);
      await unlink(join(tomb, 'alice', 'video-000001.webm'));
      // Another crash after its audit entry was written.
      const tomb2 = join(root, 'room-c', `${TOMBSTONE_PREFIX}s-audited`);
      await rename(join(root, 'room-c', 's-audited'), tomb2);
      await appendAudit(root, 'room-c', { actor: 'system', action: 'sweep-delete', reason: 'retention', session: 's-audited' });

      expect(ids(await listSessions(root))).toEqual(['room-c/s-ok']);
      expect(await verify(root, 'room-c', keys.publicKey)).toMatchObject({ ok: true, counts: { sessions: 1 } });

      const dry = await sweep(root, { retentionDays: 90, dryRun: true });
      expect(ids(dry.interrupted)).toEqual(['room-c/s-audited', 'room-c/s-crashed']);
      expect(existsSync(tomb)).toBe(true);

      const log = captureLogger();
      const r = await sweep(root, { retentionDays: 90, logger: log.logger });
      expect(ids(r.interrupted)).toEqual(['room-c/s-audited', 'room-c/s-crashed']);
      expect(r.deleted).toEqual([]);
      expect(existsSync(tomb)).toBe(false);
      expect(existsSync(tomb2)).toBe(false);
      const deletes = (await readAudit(root, 'room-c')).filter((e) => e.type === 'sweep-delete');
      expect(deletes.map((e) => [e.data.session, e.data.interrupted])).toEqual([['s-audited', undefined], ['s-crashed', true]]);
      expect(log.lines.filter((l) => l.msg === 'retention sweep finished an interrupted deletion').map((l) => l.session)).toEqual(['s-audited', 's-crashed']);
      expect(ids(await listSessions(root))).toEqual(['room-c/s-ok']);
    });

    it('a deletion that cannot be audited is undone: the session stays whole and verifies', async () => {
      const auditLog = join(root, 'room-c', AUDIT_FILES.log);
      const saved = await readFile(auditLog, 'utf8');
      await unlink(auditLog);
      await mkdir(auditLog); // appends now fail with EISDIR
      try {
        const r = await sweep(root, { retentionDays: 1, now: new Date(Date.now() + 2 * DAY_MS) });
        expect(r.deleted).toEqual([]);
        expect(r.failed).toEqual([{ room: 'room-c', sessionId: 's-ok', message: expect.stringMatching(/could not be audited, so the session was kept/) as unknown }]);
        expect(ids(await listSessions(root))).toEqual(['room-c/s-ok']);
        expect(existsSync(join(root, 'room-c', `${TOMBSTONE_PREFIX}s-ok`))).toBe(false);
        expect(await verify(root, 'room-c', keys.publicKey)).toMatchObject({ ok: true, counts: { sessions: 1 } });
      } finally {
        await rmdir(auditLog);
        await writeFile(auditLog, saved);
      }
    });

    it('an unreadable hold state keeps the room', async () => {
      await writeFile(join(root, 'room-c', HOLD_FILE), '{"held": tru');
      await expect(isHeld(root, 'room-c')).rejects.toMatchObject({ code: 'EVIDENCE_INVALID' });
      const r = await sweep(root, { retentionDays: 1, now: new Date(Date.now() + 2 * DAY_MS) });
      expect(r.kept).toEqual([{ room: 'room-c', sessionId: 's-ok', why: 'held' }]);
      expect(ids(await listSessions(root))).toEqual(['room-c/s-ok']);
      await unlink(join(root, 'room-c', HOLD_FILE));
    });
  });

  describe('livemask evidence hold|release|sweep|audit (in process)', () => {
    let data: string;
    let root: string;
    const env = {
      LIVEMASK_EVIDENCE_KEY: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      LIVEMASK_EVIDENCE_PUBLIC_KEY: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };

    const cli = (args: string[], extra: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> =>
      runCli([...args, '--data', data], { ...env, ...extra });

    beforeAll(async () => {
      data = join(work, 'cli');
      root = join(data, 'evidence');
      // Sessions recorded 200 days ago: the clock, not the signed files, is set back.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 200 * DAY_MS });
      try {
        await record(root, 'room-cli', 's-old', frames);
        await record(root, 'room-cli2', 's-old2', frames);
      } finally {
        vi.useRealTimers();
      }
      await record(root, 'room-cli', 's-new', frames);
      // Copies outside the root that hold the same faces: export bundles (two 40 days old, one fresh) and replay media.
      const copy = async (dir: string, file: string, ageDays: number): Promise<void> => {
        await mkdir(join(data, dir), { recursive: true });
        await writeFile(join(data, dir, file), '{}');
        const t = new Date(Date.now() - ageDays * DAY_MS);
        await utimes(join(data, dir, file), t, t);
      };
      await copy('exports/room-cli/old-export', 'bundle.json', 40);
      await copy('exports/room-cli/new-export', 'bundle.json', 1);
      await copy('exports/room-cli2/held-export', 'bundle.json', 40);
      await copy('replay-cache/room-cli/s-old', 'alice-0123456789abcdef.webm', 0);
      await copy('replay-cache/room-cli/s-new', 'alice-0123456789abcdef.webm', 0);
    });

    it('hold and release, with exit codes', async () => {
      expect(await cli(['evidence', 'hold', 'room-cli2', '--reason', 'dispute 9', '--actor', 'ops-1'])).toMatchObject({
        code: 0, out: expect.stringMatching(/^room room-cli2 held since \S+: its sessions are kept past retention until released/) as unknown,
      });
      expect(await cli(['evidence', 'hold', 'room-cli2'])).toMatchObject({ code: 2, err: expect.stringContaining('evidence hold needs --reason <text>') as unknown });
      expect(await cli(['evidence', 'hold', 'no-room', '--reason', 'x', '--actor', 'a'])).toMatchObject({ code: 3 });
      expect(await cli(['evidence', 'release', 'room-cli', '--reason', 'x', '--actor', 'a'])).toMatchObject({
        code: 1, err: 'livemask: room room-cli is not on hold, so there is nothing to release\n',
      });
      // The actor defaults to the OS user name.
      expect((await cli(['evidence', 'hold', 'room-cli2', '--reason', 'dispute 9, again'])).code).toBe(0);
      const entry = (await readAudit(root, 'room-cli2')).at(-1);
      expect(entry).toMatchObject({ type: 'hold', data: { reason: 'dispute 9, again' } });
      expect(entry?.data.actor).toEqual(expect.any(String));
      expect(entry?.data.actor).not.toBe('');
    });

    it('sweep: bad retention values are usage errors naming the field', async () => {
      const flag = await cli(['evidence', 'sweep', '--retention-days', 'abc']);
      expect(flag).toMatchObject({ code: 2, err: 'livemask: --retention-days: must be a whole number from 1 to 36500\n' });
      const variable = await cli(['evidence', 'sweep'], { LIVEMASK_RETENTION_DAYS: '0' });
      expect(variable).toMatchObject({ code: 2, err: 'livemask: LIVEMASK_RETENTION_DAYS: must be at least 1\n' });
      expect((await cli(['evidence', 'sweep', 'room-cli'])).code).toBe(2);
      expect(ids(await listSessions(root))).toEqual(['room-cli/s-new', 'room-cli/s-old', 'room-cli2/s-old2']);
    });

    it('sweep: dry run, then the expired unheld session goes; held is kept; after release it goes', async () => {
      const dry = await cli(['evidence', 'sweep', '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.out).toMatch(/^would delete room-cli\/s-old: ended \S+, 200 days ago$/m);
      expect(dry.out).toMatch(/^kept room-cli2\/s-old2: past retention, but the room is held$/m);
      expect(dry.out).toMatch(/dry run, nothing changed \(retention 90 days, .*\): 1 would be deleted, 1 held, 1 within retention\n$/);
      expect(dry.out).toMatch(/^would delete export room-cli\/old-export \(40 days old\)$/m);
      expect(dry.out).not.toContain('new-export');
      expect(dry.out).not.toContain('held-export');
      expect(ids(await listSessions(root))).toEqual(['room-cli/s-new', 'room-cli/s-old', 'room-cli2/s-old2']);
      expect(existsSync(join(data, 'exports/room-cli/old-export'))).toBe(true);

      const real = await cli(['evidence', 'sweep']);
      expect(real.code).toBe(0);
      expect(real.out).toMatch(/^deleted room-cli\/s-old: ended /m);
      expect(ids(await listSessions(root))).toEqual(['room-cli/s-new', 'room-cli2/s-old2']);
      // The old export goes (audited), and the replay media of the session just deleted; the rest stays.
      expect(real.out).toMatch(/^deleted export room-cli\/old-export \(40 days old\)$/m);
      expect(real.out).toMatch(/^deleted the replay media of room-cli\/s-old \(session gone\)$/m);
      expect(existsSync(join(data, 'exports/room-cli/old-export'))).toBe(false);
      expect(existsSync(join(data, 'replay-cache/room-cli/s-old'))).toBe(false);
      expect(existsSync(join(data, 'exports/room-cli/new-export'))).toBe(true);
      expect(existsSync(join(data, 'replay-cache/room-cli/s-new'))).toBe(true);
      expect(existsSync(join(data, 'exports/room-cli2/held-export'))).toBe(true);
      expect((await readAudit(root, 'room-cli')).find((e) => e.type === 'export-delete')?.data).toMatchObject({
        export: 'old-export', retentionDays: 30, reason: expect.stringContaining('past the 30-day export retention') as unknown,
      });

      expect((await cli(['evidence', 'release', 'room-cli2', '--reason', 'case closed', '--actor', 'ops-2'])).code).toBe(0);
      const longer = await cli(['evidence', 'sweep', '--retention-days', '365']);
      expect(longer.out).toMatch(/: 0 deleted, 0 held, 2 within retention\n$/);
      const byEnv = await cli(['evidence', 'sweep', '--actor', 'ops-cron'], { LIVEMASK_RETENTION_DAYS: '150' });
      expect(byEnv.out).toMatch(/^deleted room-cli2\/s-old2: /m);
      expect(longer.out).toMatch(/^deleted export room-cli2\/held-export /m); // released: its export goes at the next sweep
      expect(existsSync(join(data, 'exports/room-cli2/held-export'))).toBe(false);
      expect(byEnv.out).toMatch(/\(retention 150 days, /);
      expect(ids(await listSessions(root))).toEqual(['room-cli/s-new']);
      expect(await verify(root, 'room-cli', keys.publicKey)).toMatchObject({ ok: true, counts: { sessions: 1 } });
    });

    it('audit lists who did what, when and why, and names an edited or removed line', async () => {
      const ok = await cli(['evidence', 'audit', 'room-cli2']);
      expect(ok.code).toBe(0);
      const lines = ok.out.trimEnd().split('\n');
      const iso = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
      expect(lines).toHaveLength(6);
      expect(lines[0]).toMatch(new RegExp(`^${iso}  ops-1  hold  -  dispute 9$`));
      expect(lines[1]).toMatch(new RegExp(`^${iso}  \\S+  hold  -  dispute 9, again$`));
      expect(lines[2]).toMatch(new RegExp(`^${iso}  ops-2  release  -  case closed$`));
      expect(lines[3]).toMatch(new RegExp(`^${iso}  \\S+  export-delete  -  export retention: made 40 days ago, past the 30-day export retention$`));
      expect(lines[4]).toMatch(new RegExp(`^${iso}  ops-cron  sweep-delete  s-old2  retention: ended .* past the 150-day retention$`));
      expect(lines[5]).toBe('audit chain intact: room room-cli2: 5 entries, 5 signed heads verified');

      const path = join(root, 'room-cli2', AUDIT_FILES.log);
      const text = await readFile(path, 'utf8');
      try {
        await writeFile(path, text.replace('"reason":"case closed"', '"reason":"routine"'));
        const edited = await cli(['evidence', 'audit', 'room-cli2']);
        expect(edited.code).toBe(1);
        expect(edited.out).toMatch(/audit chain NOT intact: event-edited at room-cli2\/audit\.jsonl:3: entry seq 2 \(release\) does not match its hash\n$/);

        const kept = text.split('\n').filter((_, i) => i !== 1);
        await writeFile(path, kept.join('\n'));
        const removed = await cli(['evidence', 'audit', 'room-cli2']);
        expect(removed.code).toBe(1);
        expect(removed.out).toMatch(/audit chain NOT intact: event-removed at room-cli2\/audit\.jsonl:2: entry seq 1 is missing/);
      } finally {
        await writeFile(path, text);
      }
      expect((await cli(['evidence', 'audit', 'room-cli2'])).code).toBe(0);
      expect((await cli(['evidence', 'audit', 'no-room'])).code).toBe(3);
      expect((await cli(['evidence', 'audit'])).code).toBe(2);
    });

    it('refuses flags that a command does not take', async () => {
      expect(await cli(['evidence', 'audit', 'room-cli2', '--dry-run'])).toMatchObject({ code: 2, err: expect.stringContaining('evidence audit does not take --dry-run') as unknown });
      expect(await cli(['evidence', 'hold', 'room-cli', '--reason', 'r', '--retention-days', '3'])).toMatchObject({ code: 2 });
      expect(await isHeld(root, 'room-cli')).toBe(false);
    });
  });
});
