import { inspect } from 'node:util';
import { AbortedError, i420Size, LivemaskError, MediaError, type I420Frame, type Logger } from '../core/index.js';
import { FfmpegProcess } from './ffmpeg-process.js';
import { FrameAssembler } from './frame-assembler.js';
import { probe, type MediaInfo } from './probe.js';
import { stderrReason } from './run-tool.js';

export interface VideoDecoderOptions {
  input: string;
  /** Default: `LIVEMASK_FFMPEG`, else `ffmpeg` from PATH. */
  ffmpegPath?: string;
  /** Aborting stops ffmpeg; `start()` and `frames()` reject with `AbortedError`. */
  signal?: AbortSignal;
  /** Extra ffmpeg input options, placed before `-i` (e.g. `['-ss', '5']`). */
  inputArgs?: string[];
  /** Read the input at its native frame rate (`-re`), as a live source would deliver it. */
  realtime?: boolean;
  logger?: Logger;
}

export interface DecoderArgsOptions {
  input: string;
  width: number;
  height: number;
  inputArgs?: readonly string[];
  realtime?: boolean;
}

/** An ffmpeg `showinfo` per-frame line (kept out of stderr tails). */
export const SHOWINFO = /\[Parsed_showinfo_\d+ @/;
const SHOWINFO_PTS = /\[Parsed_showinfo_\d+ @ [^\]]+\] n:\s*\d+ pts:\s*\S+ pts_time:(\S+)/;

/**
 * ffmpeg's arguments to decode the first video stream of `input` to raw I420
 * on stdout at width x height. Every decoded frame comes out once
 * (`-fps_mode passthrough`); `showinfo` prints each frame's pts on stderr.
 * A mid-stream resolution change is scaled back to width x height.
 */
export function decoderArgs(options: DecoderArgsOptions): string[] {
  const { width, height } = options;
  return [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info',
    ...(options.inputArgs ?? []),
    ...(options.realtime === true ? ['-re'] : []),
    '-i', options.input,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', `showinfo=checksum=0,scale=${width}:${height},format=yuv420p`,
    '-fps_mode', 'passthrough',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
  ];
}

/**
 * Decodes a video file (or any ffmpeg input) to I420 frames through one
 * ffmpeg process, with pipe backpressure: ffmpeg waits while the consumer
 * holds a frame, so at most a pipe's worth of frames is in flight.
 *
 * - Every frame is `info.width` x `info.height` (the probed size, which is the
 *   first frame's size). A resolution change mid-stream is scaled back to it.
 * - A truncated file yields the frames ffmpeg can decode and then finishes
 *   normally, as ffmpeg does (exit 0); its complaints are in `stderrTail`.
 * - ffmpeg failing before any frame is INPUT_UNREADABLE; dying after one
 *   (or being killed) is FFMPEG_FAILED with its stderr tail.
 */
export class VideoDecoder {
  readonly input: string;
  readonly #options: VideoDecoderOptions;
  readonly #closer = new AbortController();
  #info: MediaInfo | undefined;
  #proc: FfmpegProcess | undefined;
  #starting: Promise<MediaInfo> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  #iterated = false;
  #count = 0;
  readonly #pts: number[] = [];
  #stderrOpen = true;
  #wake: (() => void) | undefined;

  constructor(options: VideoDecoderOptions) {
    this.input = options.input;
    this.#options = options;
  }

  /** The probed input; available once `start()` resolved. */
  get info(): MediaInfo {
    if (!this.#info) {
      throw new LivemaskError('BAD_USAGE', 'VideoDecoder.info is available after start() resolved');
    }
    return this.#info;
  }

  /** ffmpeg's process id while it runs (after `start()`). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** ffmpeg's last stderr lines (without the per-frame lines). */
  get stderrTail(): readonly string[] {
    return this.#proc?.stderrTail ?? [];
  }

  /** Frames yielded so far. */
  get framesDecoded(): number {
    return this.#count;
  }

  /** Probes the input and starts ffmpeg. Idempotent. */
  start(): Promise<MediaInfo> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** The decoded frames, in order. Can be iterated once; ending early closes the decoder. */
  async *frames(): AsyncGenerator<I420Frame, void, undefined> {
    if (this.#iterated) {
      throw new LivemaskError('BAD_USAGE', 'VideoDecoder.frames() can be iterated only once');
    }
    this.#iterated = true;
    try {
      const info = await this.start();
      const proc = this.#proc;
      if (!proc) {
        throw closedError();
      }
      const { width, height } = info;
      const assembler = new FrameAssembler(i420Size(width, height));
      let streamError: unknown;
      try {
        for await (const chunk of (proc.stdout ?? []) as AsyncIterable<Buffer>) {
          for (const data of assembler.push(chunk)) {
            const index = this.#count;
            const ptsMs = await this.#nextPts(index, info.fps);
            this.#count += 1;
            yield { width, height, data, index, ptsMs };
          }
        }
      } catch (err) {
        streamError = err;
      }
      await this.#finish(proc, streamError, assembler.pendingBytes);
    } finally {
      await this.close();
    }
  }

  /** Stops ffmpeg and waits for it to exit. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#closer.abort();
    this.#wakeUp();
    // start()'s own caller sees its failure; here we only need it settled.
    await Promise.allSettled([this.#starting]);
    await this.#proc?.stop();
  }

  async #start(): Promise<MediaInfo> {
    const userSignal = this.#options.signal;
    if (this.#closed) {
      throw closedError();
    }
    const signal = userSignal ? AbortSignal.any([userSignal, this.#closer.signal]) : this.#closer.signal;
    let info: MediaInfo;
    try {
      info = await probe(this.input, { signal });
    } catch (err) {
      throw this.#closed && err instanceof AbortedError && userSignal?.aborted !== true ? closedError(err) : err;
    }
    if (this.#closed) {
      throw closedError();
    }
    const proc = new FfmpegProcess({
      args: decoderArgs({ ...this.#options, width: info.width, height: info.height }),
      stdout: 'pipe',
      tailExclude: SHOWINFO,
      ...(this.#options.ffmpegPath !== undefined ? { ffmpegPath: this.#options.ffmpegPath } : {}),
      ...(userSignal ? { signal: userSignal } : {}),
      ...(this.#options.logger ? { logger: this.#options.logger } : {}),
    });
    proc.on('line', (line) => {
      const pts = SHOWINFO_PTS.exec(line)?.[1];
      if (pts !== undefined) {
        this.#pts.push(Number(pts));
        this.#wakeUp();
      }
    });
    proc.on('exit', () => {
      this.#stderrOpen = false;
      this.#wakeUp();
    });
    this.#proc = proc;
    this.#info = info;
    return info;
  }

  /** The pts of the next frame from showinfo (printed before the frame is written), else index / fps. */
  async #nextPts(index: number, fps: number): Promise<number> {
    while (this.#pts.length === 0 && this.#stderrOpen && !this.#closed) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const seconds = this.#pts.shift() ?? Number.NaN;
    const ms = Number.isFinite(seconds) ? seconds * 1000 : (index * 1000) / fps;
    return Math.round(ms * 1000) / 1000;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #finish(proc: FfmpegProcess, streamError: unknown, pendingBytes: number): Promise<void> {
    try {
      await proc.wait();
    } catch (err) {
      if (err instanceof MediaError && err.code === 'FFMPEG_FAILED' && this.#count === 0 && proc.exitSignal === null) {
        const why = stderrReason(err.stderrTail, this.input) ?? err.message;
        throw new MediaError('INPUT_UNREADABLE', `ffmpeg cannot decode ${this.input}: ${why}`, {
          cause: err,
          stderrTail: err.stderrTail,
        });
      }
      throw err;
    }
    const tail = proc.stderrTail;
    if (this.#closed) {
      throw closedError();
    }
    if (streamError !== undefined) {
      throw new MediaError('FFMPEG_FAILED', `reading ffmpeg's output failed: ${inspect(streamError)}`, {
        cause: streamError,
        stderrTail: tail,
      });
    }
    if (pendingBytes > 0) {
      throw new MediaError('FFMPEG_FAILED', `ffmpeg's output ended inside a frame (${pendingBytes} bytes left)`, {
        stderrTail: tail,
      });
    }
    if (this.#count === 0) {
      const why = stderrReason(tail, this.input) ?? 'no frame decoded';
      throw new MediaError('INPUT_UNREADABLE', `no video frame could be decoded from ${this.input}: ${why}`, {
        stderrTail: tail,
      });
    }
  }
}

function closedError(cause?: unknown): LivemaskError {
  return new LivemaskError('CLOSED', 'VideoDecoder was closed', cause === undefined ? {} : { cause });
}
