import { vi } from 'vitest';
import { run } from '../../src/cli/main.js';

/**
 * Runs `livemask <args>` in this process, with `env` added to the
 * environment (and the evidence key variables of the outer environment
 * removed, so a test's keys are the only ones), capturing stdout and stderr.
 */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const saved = { ...process.env };
  delete process.env.LIVEMASK_EVIDENCE_KEY;
  delete process.env.LIVEMASK_EVIDENCE_PUBLIC_KEY;
  Object.assign(process.env, env, { LIVEMASK_LOG_LEVEL: 'silent' });
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await run(args), out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    process.env = saved;
  }
}
