import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EvidenceError } from '../../src/core/index.js';
import { loadEvidenceKeys } from '../../src/evidence/index.js';

const pem = (k: { export: (o: { type: 'pkcs8' | 'spki'; format: 'pem' }) => string | Buffer }, type: 'pkcs8' | 'spki'): string =>
  k.export({ type, format: 'pem' }).toString();

describe('evidence keys', () => {
  let dir = '';
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates a demo key on first signing use, reuses it, and verify alone never generates one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemask-keys-'));
    await expect(loadEvidenceKeys({ dataDir: dir, needSigning: false, env: {} })).rejects.toMatchObject({ code: 'EVIDENCE_KEY' });
    const first = await loadEvidenceKeys({ dataDir: dir, needSigning: true, env: {} });
    expect(first.source).toBe('demo');
    expect(existsSync(join(dir, 'evidence-keys', 'private.pem'))).toBe(true);
    const again = await loadEvidenceKeys({ dataDir: dir, needSigning: false, env: {} });
    expect(pem(again.publicKey, 'spki')).toBe(pem(first.publicKey, 'spki'));
  });

  it('takes keys from the environment, with \\n escapes, and refuses a mismatched or wrong key', async () => {
    const a = generateKeyPairSync('ed25519');
    const b = generateKeyPairSync('ed25519');
    const env = { LIVEMASK_EVIDENCE_KEY: pem(a.privateKey, 'pkcs8').replace(/\n/g, '\\n') };
    const keys = await loadEvidenceKeys({ dataDir: '/nonexistent', needSigning: true, env });
    expect(keys.source).toBe('config');
    expect(pem(keys.publicKey, 'spki')).toBe(pem(a.publicKey, 'spki'));
    const mismatch = loadEvidenceKeys({ dataDir: '/nonexistent', needSigning: true, env: { ...env, LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(b.publicKey, 'spki') } });
    await expect(mismatch).rejects.toBeInstanceOf(EvidenceError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const wrong = loadEvidenceKeys({ dataDir: '/nonexistent', needSigning: false, env: { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(rsa.publicKey, 'spki') } });
    await expect(wrong).rejects.toMatchObject({ code: 'EVIDENCE_KEY', message: /LIVEMASK_EVIDENCE_PUBLIC_KEY: must be an Ed25519/ });
  });
});
