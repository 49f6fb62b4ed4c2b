import { inspect } from 'node:util';
import { rm } from 'node:fs/promises';
import { AbortedError, i420Size, LivemaskError, MediaError, type I420Frame, type Logger } from '../core/index.js';
import { containerOf, encoderArgs, type VideoCodec } from './encoder-args.js';
import { FfmpegProcess } from './ffmpeg-process.js';
import { probeAudioCodec } from './probe.js';

export interface VideoEncoderOptions {
  /** The output file; its extension picks the container (.mp4, .mkv, .webm). */
  output: string;
  width: number;
  height: number;
  fps: number;
  codec: VideoCodec;
  /** Copy this file's audio into the output (re-encoded to Opus for .webm unless it is Opus/Vorbis). */
  audioFrom?: string;
  crf?: number;
  preset?: string;
  /** Aborting stops ffmpeg, removes the partial output and rejects pending calls with `AbortedError`. */
  signal?: AbortSignal;
  ffmpegPath?: string;
  logger?: Logger;
}

/**
 * Encodes I420 frames to a file through one ffmpeg process that reads them
 * on stdin. ffmpeg starts on the first `write()` (or `end()`). Frames are
 * timed at a constant `fps`.
 */
export class VideoEncoder {
  readonly output: string;
  readonly #options: VideoEncoderOptions;
  readonly #frameBytes: number;
  #proc: FfmpegProcess | undefined;
  #starting: Promise<FfmpegProcess> | undefined;
  #ending: Promise<void> | undefined;
  #aborting: Promise<void> | undefined;
  #done = false;
  #written = 0;
  readonly #onAbort = (): void => {
    void this.abort();
  };

  constructor(options: VideoEncoderOptions) {
    encoderArgs(options); // validates the options now, with errors naming the field
    this.output = options.output;
    this.#options = options;
    this.#frameBytes = i420Size(options.width, options.height);
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** ffmpeg's process id once it started. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get stderrTail(): readonly string[] {
    return this.#proc?.stderrTail ?? [];
  }

  /** Frames accepted by the pipe so far. */
  get framesWritten(): number {
    return this.#written;
  }

  /**
   * Hands one frame to ffmpeg. Resolves when the pipe took its bytes
   * (backpressure), after which the caller may reuse `frame.data`.
   */
  async write(frame: I420Frame): Promise<void> {
    if (this.#ending || this.#aborting) {
      throw this.#refusal('write() after end() or abort()');
    }
    const { width, height } = this.#options;
    if (frame.width !== width || frame.height !== height || frame.data.length !== this.#frameBytes) {
      throw new LivemaskError(
        'BAD_USAGE',
        `frame ${frame.index} is ${frame.width}x${frame.height} (${frame.data.length} bytes); the encoder takes ${width}x${height} (${this.#frameBytes} bytes)`,
      );
    }
    const proc = await this.#start();
    const stdin = proc.stdin;
    try {
      await new Promise<void>((resolve, reject) => {
        if (!stdin || stdin.destroyed) {
          reject(new Error('ffmpeg stdin is closed'));
          return;
        }
        stdin.write(frame.data, (err) => (err ? reject(err) : resolve()));
      });
    } catch (err) {
      throw await this.#whyPipeFailed(proc, err);
    }
    this.#written += 1;
  }

  /** Flushes, waits for ffmpeg to exit 0 and the file to be complete. Idempotent. */
  end(): Promise<void> {
    this.#ending ??= this.#end();
    return this.#ending;
  }

  /** Stops ffmpeg and removes the partial output (not a completed one). Idempotent. */
  abort(): Promise<void> {
    this.#aborting ??= this.#abort();
    return this.#aborting;
  }

  async #end(): Promise<void> {
    if (this.#aborting) {
      throw this.#refusal('end() after abort()');
    }
    const proc = await this.#start();
    proc.stdin?.end();
    const outcome = await proc.wait();
    if (outcome !== 'done') {
      throw this.#refusal('the encoder was aborted before it finished');
    }
    this.#done = true;
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
  }

  async #abort(): Promise<void> {
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    await Promise.allSettled([this.#starting]);
    const proc = this.#proc;
    if (!proc || this.#done) {
      return;
    }
    await proc.stop();
    if (!this.#done) {
      try {
        await rm(this.output, { force: true });
      } catch (err) {
        this.#options.logger?.warn({ err, output: this.output }, 'could not remove the partial output');
      }
    }
  }

  #start(): Promise<FfmpegProcess> {
    this.#starting ??= this.#spawn();
    return this.#starting;
  }

  async #spawn(): Promise<FfmpegProcess> {
    const { signal, audioFrom, ffmpegPath, logger } = this.#options;
    if (signal?.aborted) {
      throw new AbortedError('encoder aborted before it started', { cause: signal.reason });
    }
    const needsCodec = audioFrom !== undefined && containerOf(this.output) !== 'mkv';
    const audioCodec = needsCodec ? await probeAudioCodec(audioFrom, signal ? { signal } : {}) : undefined;
    if (this.#aborting) {
      throw this.#refusal('the encoder was aborted before it started');
    }
    const proc = new FfmpegProcess({
      args: encoderArgs({ ...this.#options, ...(audioCodec !== undefined ? { audioCodec } : {}) }),
      stdin: 'pipe',
      ...(ffmpegPath !== undefined ? { ffmpegPath } : {}),
      ...(signal ? { signal } : {}),
      ...(logger ? { logger } : {}),
    });
    this.#proc = proc;
    return proc;
  }

  /** AbortedError when the caller's signal fired, else CLOSED (abort() or end() was called). */
  #refusal(why: string): LivemaskError {
    const { signal } = this.#options;
    return signal?.aborted === true ? new AbortedError(`VideoEncoder aborted: ${why}`, { cause: signal.reason }) : closedError(why);
  }

  /** A failed pipe write: report why ffmpeg went away rather than EPIPE. */
  async #whyPipeFailed(proc: FfmpegProcess, err: unknown): Promise<Error> {
    try {
      await proc.wait();
    } catch (reason) {
      return reason instanceof Error ? reason : new Error(String(reason));
    }
    if (this.#aborting) {
      return this.#refusal('the encoder was aborted');
    }
    return new MediaError('FFMPEG_FAILED', `ffmpeg stopped reading frames: ${inspect(err)}`, {
      cause: err,
      stderrTail: proc.stderrTail,
    });
  }
}

function closedError(why: string): LivemaskError {
  return new LivemaskError('CLOSED', `VideoEncoder closed: ${why}`);
}
