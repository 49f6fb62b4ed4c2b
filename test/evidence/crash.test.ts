import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recover, verify } from '../../src/evidence/index.js';
import { hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { decodedFrameMd5, readIvf, recordSession, sourceIvf } from './helpers.js';
import { exited } from '../support/process.js';

const KILL_AFTER_MS = 6500;

/** Resolves once `check` holds, polling; rejects after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}


describe.skipIf(!hasTestData)(`evidence after kill -9 mid-segment${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let work = '';
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await rm(work, { recursive: true, force: true });
  });

  it('recovers the open segment: verify passes, it decodes, and it covers up to 2 s before the kill', async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-crash-'));
    const root = join(work, 'evidence');
    const progress = join(work, 'progress');
    const keys = generateKeyPairSync('ed25519');
    const keyPath = join(work, 'key.pem');
    await writeFile(keyPath, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const ivf = await sourceIvf(12);
    let stderr = '';
    child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/evidence/fixtures/crash-recorder.ts'), root, ivf, progress, keyPath], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const pushedMs = (): number => (existsSync(progress) ? Number(readFileSync(progress, 'utf8') || '0') : 0);
    await until(() => pushedMs() >= KILL_AFTER_MS || child?.exitCode !== null, 40_000, 'the recorder to push 6.5 s');
    expect(stderr).toBe('');
    // While its recorder lives, recovery (another worker of this host starting, say) leaves the session open.
    expect(await recover(root, { signingKey: keys.privateKey })).toEqual([]);
    expect(existsSync(join(root, 'crash-room', 'crash-1', 'manifest.json'))).toBe(false);
    child.kill('SIGKILL');
    expect(await exited(child)).toBe('SIGKILL');
    const lastPushedMs = pushedMs();

    const dir = join(root, 'crash-room', 'crash-1');
    expect((await readdir(join(dir, 'bob'))).filter((n) => n.endsWith('.open'))).toHaveLength(1);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(false);

    const recovered = await recover(root, { signingKey: keys.privateKey });
    expect(recovered).toHaveLength(1);
    const segs = recovered[0]?.segments ?? [];
    expect(segs).toHaveLength(1);
    const seg = segs[0];
    expect(seg).toMatchObject({ recovered: true, participant: 'bob', kind: 'video' });
    expect(seg?.lastMs).toBeGreaterThanOrEqual(lastPushedMs - 2000);
    expect((await readdir(join(dir, 'bob'))).sort()).toEqual(['video-000001.webm', 'video-000002.webm']);

    const result = await verify(root, 'crash-room', keys.publicKey);
    expect(result).toMatchObject({ ok: true, counts: { sessions: 1, segments: 2 } });

    // What was recorded decodes without errors, frame for frame the start of the source.
    const recorded: string[] = [];
    for (const name of ['video-000001.webm', 'video-000002.webm']) {
      const decoded = await decodedFrameMd5(join(dir, 'bob', name));
      expect(decoded.stderr).toBe('');
      recorded.push(...decoded.hashes);
    }
    const source = await decodedFrameMd5(ivf);
    expect(recorded).toEqual(source.hashes.slice(0, recorded.length));
  });

  it('signs a sealed session whose writer died between manifest.json and manifest.sig, only when the manifest matches its log', async () => {
    // Simulated: a kill that lands between the two writes cannot be timed; deleting the signature
    // of a really recorded session leaves the same files that kill would.
    const dir0 = await mkdtemp(join(tmpdir(), 'livemask-unsigned-'));
    try {
      const root = join(dir0, 'evidence');
      const keys = generateKeyPairSync('ed25519');
      const frames = readIvf(await sourceIvf(2));
      await recordSession(root, 'unsigned-room', 's-1', frames, keys.privateKey);
      await recordSession(root, 'unsigned-room', 's-2', frames, keys.privateKey);
      const dir1 = join(root, 'unsigned-room', 's-1');
      const dir2 = join(root, 'unsigned-room', 's-2');
      await rm(join(dir1, 'manifest.sig'));
      await rm(join(dir2, 'manifest.sig'));
      // s-2's manifest no longer matches its log (one segment's hash changed): never signed.
      const original = readFileSync(join(dir2, 'manifest.json'), 'utf8');
      const forged = original.replace(/"sha256": "[0-9a-f]{64}"/, `"sha256": "${'0'.repeat(64)}"`);
      expect(forged).not.toBe(original);
      await writeFile(join(dir2, 'manifest.json'), forged);
      const bad = await verify(root, 'unsigned-room', keys.publicKey);
      expect(bad.ok).toBe(false);

      const recovered = await recover(root, { signingKey: keys.privateKey });
      expect(recovered.map((r) => [r.sessionId, r.signedOnly])).toEqual([['s-1', true]]);
      expect(existsSync(join(dir1, 'manifest.sig'))).toBe(true);
      expect(existsSync(join(dir2, 'manifest.sig'))).toBe(false);
      await rm(dir2, { recursive: true });
      expect(await verify(root, 'unsigned-room', keys.publicKey)).toMatchObject({ ok: true, counts: { sessions: 1 } });
      // Signed once: a second recovery has nothing to do.
      expect(await recover(root, { signingKey: keys.privateKey })).toEqual([]);
    } finally {
      await rm(dir0, { recursive: true, force: true });
    }
  });
});
