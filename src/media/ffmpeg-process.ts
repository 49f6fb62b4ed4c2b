import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { AbortedError, MediaError, type Logger } from '../core/index.js';
import { missingBinaryError, resolveFfmpegPath } from './ffmpeg-binary.js';
import { TypedEmitter } from '../core/index.js';

export interface FfmpegProcessOptions {
  /** ffmpeg's arguments, without the binary. */
  args: readonly string[];
  /** Default: `LIVEMASK_FFMPEG`, else `ffmpeg` from PATH. */
  ffmpegPath?: string;
  /** `pipe` to write to ffmpeg's stdin; `ignore` (default) gives it /dev/null. */
  stdin?: 'pipe' | 'ignore';
  /** `pipe` to read ffmpeg's stdout; `ignore` (default) gives it /dev/null. */
  stdout?: 'pipe' | 'ignore';
  /** Aborting stops ffmpeg, and `wait()` rejects with `AbortedError`. */
  signal?: AbortSignal;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 2000 ms. */
  stopGraceMs?: number;
  /** How many stderr lines `stderrTail` keeps. Default 20. */
  tailLines?: number;
  /** Lines that match are emitted as `line` but kept out of `stderrTail` (per-frame chatter). */
  tailExclude?: RegExp;
  logger?: Logger;
}

export type FfmpegProcessEvents = {
  /** Every stderr line, as it arrives. */
  line: [line: string];
  /** ffmpeg exited (also after our own stop) and its stderr is drained. */
  exit: [code: number | null, signal: NodeJS.Signals | null];
  /** ffmpeg could not start (FFMPEG_MISSING) or died unexpectedly (FFMPEG_FAILED). */
  error: [error: MediaError];
};

/** How a process ended: `done` (code 0), `stopped` (by us), `aborted`, or `failed`. */
export type FfmpegOutcome = 'done' | 'stopped' | 'aborted' | 'failed';

interface Ending {
  outcome: FfmpegOutcome;
  error?: MediaError | AbortedError;
}

/**
 * One ffmpeg child process with a real lifecycle, after mediasoup's Worker:
 * it tells apart "failed to spawn" (FFMPEG_MISSING), "died unexpectedly"
 * (FFMPEG_FAILED with code, signal and the last stderr lines) and "we stopped
 * it" (no error). ffmpeg is spawned in the constructor.
 */
export class FfmpegProcess extends TypedEmitter<FfmpegProcessEvents> {
  readonly path: string;
  readonly #child: ChildProcess | undefined;
  readonly #tail: string[] = [];
  readonly #tailLines: number;
  readonly #tailExclude: RegExp | undefined;
  readonly #graceMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #logger: Logger | undefined;
  readonly #ended: Promise<Ending>;
  #settle!: (ending: Ending) => void;
  #stopping = false;
  #aborted = false;
  #exited = false;
  #exitCode: number | null = null;
  #exitSignal: NodeJS.Signals | null = null;
  #stopPromise: Promise<void> | undefined;
  readonly #onAbort = (): void => {
    this.#aborted = true;
    void this.stop();
  };

  constructor(options: FfmpegProcessOptions) {
    super();
    this.path = resolveFfmpegPath(options.ffmpegPath);
    this.#tailLines = options.tailLines ?? 20;
    this.#tailExclude = options.tailExclude;
    this.#graceMs = options.stopGraceMs ?? 2000;
    this.#signal = options.signal;
    this.#logger = options.logger;
    this.#ended = new Promise((resolve) => {
      this.#settle = resolve;
    });
    if (this.#signal?.aborted) {
      this.#aborted = true;
      this.#exited = true;
      this.#finish({ outcome: 'aborted', error: new AbortedError('ffmpeg aborted before it started') });
      return;
    }
    this.#child = spawn(this.path, [...options.args], {
      stdio: [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe'],
    });
    this.#wire(this.#child);
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The OS process id; undefined when ffmpeg failed to spawn. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get stdin(): Writable | null {
    return this.#child?.stdin ?? null;
  }

  get stdout(): Readable | null {
    return this.#child?.stdout ?? null;
  }

  /** The last stderr lines (20 by default), oldest first. */
  get stderrTail(): readonly string[] {
    return [...this.#tail];
  }

  get exited(): boolean {
    return this.#exited;
  }

  get exitCode(): number | null {
    return this.#exitCode;
  }

  get exitSignal(): NodeJS.Signals | null {
    return this.#exitSignal;
  }

  /**
   * Resolves when ffmpeg exited with code 0 or because we stopped it; rejects
   * with FFMPEG_MISSING, FFMPEG_FAILED, or `AbortedError` after an abort.
   */
  async wait(): Promise<FfmpegOutcome> {
    const ending = await this.#ended;
    if (ending.error) {
      throw ending.error;
    }
    return ending.outcome;
  }

  /**
   * Stops ffmpeg: closes its pipes, sends SIGTERM, and SIGKILL after the grace
   * period. Idempotent; resolves once the process has really exited.
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async #stop(): Promise<void> {
    const child = this.#child;
    if (!child || this.#exited) {
      await this.#ended;
      return;
    }
    this.#stopping = true;
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, this.#graceMs);
    try {
      await this.#ended;
    } finally {
      clearTimeout(timer);
    }
  }

  #wire(child: ChildProcess): void {
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.#line(line);
      }
    });
    const stderrDone = new Promise<void>((resolve) => {
      if (!child.stderr) {
        resolve();
        return;
      }
      child.stderr.on('close', resolve);
    });
    // Pipe errors (EPIPE after ffmpeg died, or our own destroy) are reported
    // through the exit; the reason is in the exit code and stderr.
    const onPipeError = (err: Error): void => {
      this.#logger?.debug({ err, pid: child.pid }, 'ffmpeg pipe error');
    };
    child.stdin?.on('error', onPipeError);
    child.stdout?.on('error', onPipeError);
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) {
        // A failed kill() of a process that already exited; the exit reports it.
        this.#logger?.debug({ err, pid: child.pid }, 'ffmpeg process error');
      } else {
        this.#exited = true;
        this.#signal?.removeEventListener('abort', this.#onAbort);
        const error = err.code === 'ENOENT' || err.code === 'EACCES'
          ? missingBinaryError('ffmpeg', this.path, err)
          : new MediaError('FFMPEG_FAILED', `cannot start ${this.path}: ${err.message}`, { cause: err });
        this.#finish({ outcome: 'failed', error });
      }
    });
    child.on('exit', (code, signal) => {
      this.#exitCode = code;
      this.#exitSignal = signal;
      void stderrDone.then(() => {
        if (partial.length > 0) {
          this.#line(partial);
        }
        this.#exited = true;
        this.#signal?.removeEventListener('abort', this.#onAbort);
        this.#onExit(code, signal);
      });
    });
  }

  #line(line: string): void {
    if (line.length === 0) {
      return;
    }
    if (!this.#tailExclude?.test(line)) {
      this.#tail.push(line);
      if (this.#tail.length > this.#tailLines) {
        this.#tail.shift();
      }
    }
    this.safeEmit('line', line);
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.safeEmit('exit', code, signal);
    if (this.#aborted) {
      this.#finish({ outcome: 'aborted', error: new AbortedError('ffmpeg was aborted') });
    } else if (this.#stopping) {
      this.#finish({ outcome: 'stopped' });
    } else if (code === 0) {
      this.#finish({ outcome: 'done' });
    } else {
      const tail = this.stderrTail;
      const how = signal ? `was killed by ${signal}` : `exited with code ${String(code)}`;
      const last = tail.slice(-3).map((l) => l.trim()).join(' | ') || '(no stderr)';
      const error = new MediaError('FFMPEG_FAILED', `ffmpeg ${how} (pid ${String(this.pid)}): ${last}`, {
        stderrTail: tail,
      });
      this.#logger?.warn({ code, signal, pid: this.pid, stderrTail: tail }, 'ffmpeg died unexpectedly');
      this.#finish({ outcome: 'failed', error });
    }
  }

  #finish(ending: Ending): void {
    if (ending.error instanceof MediaError) {
      this.safeEmit('error', ending.error);
    }
    this.#settle(ending);
  }
}
