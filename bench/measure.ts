// Runs a command line under bash and measures its wall time and the CPU time
// (user + sys) of everything it started, from bash's `times`: ffmpeg and
// gst-launch children are counted the same way on every side of a comparison.
import { spawn } from 'node:child_process';
import { runTool } from '../src/media/index.js';

export interface Measured {
  wallS: number;
  cpuS: number;
}

/** Single-quotes an argument for bash. */
export const shq = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;

/** A command line from argv lists joined by pipes. */
export function pipeline(...commands: string[][]): string {
  return commands.map((argv) => argv.map(shq).join(' ')).join(' | ');
}

/**
 * Runs `script` (bash, with pipefail) and returns wall and children's CPU
 * seconds. A non-zero exit throws with the last lines of its stderr.
 */
export function measureShell(script: string, signal?: AbortSignal): Promise<Measured> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -o pipefail; { ${script} ; } >/dev/null || exit 97; times`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      if (code !== 0) {
        reject(new Error(`command failed (exit ${String(code)}): ${script}\n${err.split('\n').slice(-8).join('\n')}`));
        return;
      }
      const children = (out.trim().split('\n')[1] ?? '').match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
      if (!children) {
        reject(new Error(`cannot read bash times: ${out}`));
        return;
      }
      const [, um, us, sm, ss] = children.map(Number) as [number, number, number, number, number];
      resolve({ wallS, cpuS: um * 60 + us + sm * 60 + ss });
    });
  });
}

/** Runs ffmpeg to completion; throws with its stderr on failure. */
export async function ffmpeg(args: readonly string[], signal?: AbortSignal): Promise<void> {
  const r = await runTool('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], signal ? { signal } : {});
  if (r.code !== 0) {
    throw new Error(`ffmpeg ${args.join(' ')} failed (exit ${String(r.code)}): ${r.stderr.slice(-1000)}`);
  }
}
