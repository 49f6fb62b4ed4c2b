import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTestData, repoRoot } from '../support/paths.js';

/** Runs `livemask bench ...` from the sources; only usage errors here, which stop before anything is measured. */
async function bench(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/cli-entry.ts'), 'bench', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('livemask bench usage errors', () => {
  it('refuses an unknown execution provider, naming --ep (exit 2)', async () => {
    const r = await bench('--ep', 'gpu', '--quick');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^livemask: invalid --ep: /m);
  });

  it('refuses an unknown flag (exit 2)', async () => {
    const r = await bench('--frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--frobnicate'");
  });

  it.skipIf(!hasTestData)('names the clips it knows when --clips names one it does not (exit 2)', async () => {
    const r = await bench('--clips', 'no_such_clip', '--quick');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^livemask: --clips: no clip named no_such_clip in .*\(known: .*lp_source_s18/m);
  });
});
