import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { AUDIT_FILES, appendAudit, readAudit, verifyAudit } from '../../src/evidence/index.js';

describe('audit log', () => {
  let root: string;
  const keys = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'livemask-audit-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('chains entries in order, from concurrent writers, with actor, reason and session', async () => {
    const writes = Array.from({ length: 12 }, (_, i) =>
      appendAudit(root, 'r1', { actor: `ops-${i}`, action: 'verify', reason: `case ${i}`, session: 's1', detail: { n: i } }, keys.privateKey),
    );
    await Promise.all(writes);
    const entries = await readAudit(root, 'r1');
    expect(entries.map((e) => e.seq)).toEqual([...Array(12).keys()]);
    expect(new Set(entries.map((e) => e.data.actor)).size).toBe(12);
    expect(entries[0]?.data).toMatchObject({ session: 's1', reason: expect.stringMatching(/^case /) as unknown });
    expect(await verifyAudit(root, 'r1', keys.publicKey)).toEqual({ ok: true, count: 12, signed: 12 });
    expect(await readAudit(root, 'no-such-room')).toEqual([]);
  });

  it('names an edited, removed or cut entry, and a re-signed or rewritten chain', async () => {
    for (let i = 0; i < 4; i++) {
      await appendAudit(root, 'r1', { actor: 'ops', action: 'export', reason: `r${i}` }, keys.privateKey);
    }
    const path = join(root, 'r1', AUDIT_FILES.log);
    const text = await readFile(path, 'utf8');
    const lines = text.split('\n');

    await writeFile(path, text.replace('"reason":"r1"', '"reason":"nothing to see"'));
    expect(await verifyAudit(root, 'r1')).toMatchObject({ ok: false, kind: 'event-edited', line: 2 });

    await writeFile(path, [lines[0], lines[2], lines[3], ''].join('\n'));
    expect(await verifyAudit(root, 'r1')).toMatchObject({ ok: false, kind: 'event-removed', line: 2 });

    await writeFile(path, text.slice(0, -10));
    expect(await verifyAudit(root, 'r1')).toMatchObject({ ok: false, kind: 'log-truncated' });

    // Whole lines dropped from the end keep a valid chain; the signed heads catch it.
    await writeFile(path, `${lines.slice(0, 2).join('\n')}\n`);
    expect(await verifyAudit(root, 'r1')).toMatchObject({ ok: true });
    expect(await verifyAudit(root, 'r1', keys.publicKey)).toMatchObject({ ok: false, kind: 'log-truncated' });

    await writeFile(path, text);
    expect(await verifyAudit(root, 'r1', other.publicKey)).toMatchObject({ ok: false, kind: 'signature-bad', line: 1 });
  });

  it('refuses an access without an actor or a reason, and a bad room id', async () => {
    await expect(appendAudit(root, 'r1', { actor: 'ops', action: 'verify', reason: ' ' })).rejects.toBeInstanceOf(LivemaskError);
    await expect(appendAudit(root, 'r1', { actor: '', action: 'verify', reason: 'x' })).rejects.toMatchObject({ code: 'BAD_USAGE' });
    await expect(appendAudit(root, '../etc', { actor: 'ops', action: 'verify', reason: 'x' })).rejects.toMatchObject({ code: 'EVIDENCE_BAD_ID' });
    expect(await readAudit(root, 'r1')).toEqual([]);
  });

  it('takes over a lock left by a killed writer once it is stale', async () => {
    await appendAudit(root, 'r1', { actor: 'ops', action: 'hold', reason: 'dispute' });
    const lock = join(root, 'r1', AUDIT_FILES.lock);
    await writeFile(lock, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await appendAudit(root, 'r1', { actor: 'ops', action: 'release', reason: 'settled' });
    expect((await readAudit(root, 'r1')).map((e) => e.type)).toEqual(['hold', 'release']);
  });
});
