import { spawn } from 'node:child_process';
import { AbortedError } from '../core/index.js';

/** What a short-lived tool run (ffprobe, `ffmpeg -version`) produced. */
export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  signal?: AbortSignal;
  /** Bytes of stdout kept at most; the rest is dropped. Default 8 MiB. */
  maxStdout?: number;
}

/** Thrown by `runTool` when the binary could not be started at all. */
export class SpawnFailure extends Error {
  readonly errno: string | undefined;

  constructor(path: string, cause: NodeJS.ErrnoException) {
    super(`cannot start ${path}: ${cause.message}`, { cause });
    this.name = 'SpawnFailure';
    this.errno = cause.code;
  }
}

/**
 * Runs a short-lived tool to completion and collects its output. Rejects with
 * `SpawnFailure` when it cannot start and `AbortedError` when `signal` fires
 * (the tool is killed and waited for first).
 */
export function runTool(path: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  const { signal } = options;
  const maxStdout = options.maxStdout ?? 8 * 1024 * 1024;
  if (signal?.aborted) {
    return Promise.reject(new AbortedError(`${path} aborted before it started`, { cause: signal.reason }));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let spawnError: NodeJS.ErrnoException | undefined;
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < maxStdout) {
        out.push(chunk);
        outBytes += chunk.length;
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError ??= e;
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (spawnError && child.pid === undefined) {
        reject(new SpawnFailure(path, spawnError));
      } else if (signal?.aborted) {
        reject(new AbortedError(`${path} aborted`, { cause: signal.reason }));
      } else {
        resolve({
          code,
          signal: sig,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      }
    });
  });
}

/**
 * The last `count` meaningful stderr lines as one line, without the
 * "[mov,mp4 @ 0x55..]" context prefix or a leading "<input>: ".
 */
export function stderrReason(lines: readonly string[], input?: string, count = 2): string | undefined {
  const cleaned = lines
    .map((l) => l.replace(/^\[[^\]]+ @ 0x[0-9a-f]+\]\s*/, '').trim())
    .map((l) => (input !== undefined && l.startsWith(`${input}: `) ? l.slice(input.length + 2) : l))
    .filter((l) => l.length > 0);
  return cleaned.length > 0 ? cleaned.slice(-count).join('; ') : undefined;
}
