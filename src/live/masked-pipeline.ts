import { randomInt } from 'node:crypto';
import type { RtpPacket } from 'werift';
import { i420Size, TypedEmitter, type I420Frame, type Logger } from '../core/index.js';
import type { MaskConfig } from '../config/index.js';
import { MaskPlanner, paintMask, SceneCutDetector } from '../mask/index.js';
import { FfmpegProcess } from '../media/ffmpeg-process.js';
import { FrameAssembler } from '../media/frame-assembler.js';
import { SHOWINFO } from '../media/video-decoder.js';
import { ivfFileHeader, ivfFrame, IvfReader } from '../media/ivf.js';
import { detectWithDeadline, type FrameDetector } from '../pipeline/frame-detector.js';
import { createWorkerFrameDetector } from '../pipeline/worker-detector.js';
import type { MediaEventBody } from '../server/rooms.js';
import type { MediaMetrics } from '../server/metrics.js';
import { webmFrame, webmHeader } from '../evidence/webm.js';
import { h264KeyframeInfo } from '../media/h264.js';
import { H264Depacketizer } from './h264.js';
import { packetizeVp8, Vp8Depacketizer, vp8FrameInfo } from './vp8.js';

/**
 * The masked rendition of one participant: VP8 or H.264 RTP in, decode (ffmpeg),
 * detect and mask (the core: planner with look-ahead, fail-closed policy,
 * paint), encode (ffmpeg, libvpx realtime), VP8 RTP out. One per masked
 * participant, shared by all of its non-hiring subscribers.
 *
 * Fail closed by construction: the encoder is fed only frames that went
 * through `paintMask` with the planner's plan, and a frame the planner cannot
 * vouch for is masked whole. Nothing else reaches the encoder. When a stage
 * fails the pipeline restarts it and sends nothing meanwhile (subscribers see
 * the last masked frame, frozen); too many restarts stop the pipeline.
 *
 * A resolution change mid-stream is scaled back to the first keyframe's size
 * by the decoder, so the planner, detector and encoder carry on unchanged.
 */

/** A room media event without its participant (the session adds it). */
export type MaskedPipelineEvent = ParticipantEvent extends infer E ? (E extends ParticipantEvent ? Omit<E, 'participant'> : never) : never;
type ParticipantEvent = Exclude<MediaEventBody, { type: 'evidence-error' }>;

export interface MaskedPacket {
  packet: RtpPacket;
  /** The packet starts a keyframe: a subscriber may join the stream here. */
  keyframeStart: boolean;
}

export type MaskedPipelineEvents = {
  /** One RTP packet of the masked rendition. */
  rtp: [MaskedPacket];
  /** The decoder needs a keyframe from the publisher (start, loss, restart). */
  'need-keyframe': [];
  /** Presence, fail-safe, restarts and errors, for the room's event stream. */
  event: [MaskedPipelineEvent];
  /** A masked frame left: its input frame's arrival to its last packet out, and whether it was masked whole. */
  frame: [{ latencyMs: number; fullFrame: boolean }];
  /** The pipeline gave up (too many restarts) or was closed. */
  closed: [];
};

export interface MaskedPipelineOptions {
  config: MaskConfig;
  logger: Logger;
  metrics?: MediaMetrics;
  /** Replaces the BlazeFace detector (default: on a thread of its own, src/pipeline/worker-detector.ts); tests use it to inject faults. */
  createDetector?: (config: MaskConfig, logger: Logger) => Promise<FrameDetector>;
  /**
   * The publisher's video codec. Default 'vp8'. H.264 access units reach the
   * decoder in Matroska (length-prefixed, the avcC record from the latest
   * keyframe); the rendition itself is VP8 either way.
   */
  codec?: 'vp8' | 'h264';
  /** Nominal frame rate, for hold times and the keyframe interval. Default 30. */
  fps?: number;
  /** Seconds between the encoder's periodic keyframes. Default 1. */
  keyframeIntervalSec?: number;
  /**
   * Decoded frames waiting for the detector beyond which the oldest are dropped (never sent): the
   * frame rate drops, not the mask, and latency stays bounded. Default 2 * look-ahead + 4. (In
   * front of the decoder the bound is 2 s of frames, or this when larger.)
   */
  maxBacklog?: number;
  /** Restarts within `restartWindowMs` after which the pipeline stops. Default 5 in 10 s. */
  maxRestarts?: number;
  restartWindowMs?: number;
}

interface InputMeta {
  n: number;
  timestamp: number;
  arrivalMs: number;
}

interface Decoded {
  frame: I420Frame;
  meta: InputMeta;
}

interface Released {
  meta: InputMeta;
  fullFrame: boolean;
}

interface Stage {
  proc: FfmpegProcess;
  detach: () => void;
}

interface EncoderStage extends Stage {
  pending: Released[];
  framesOut: number;
}

const SHOWINFO_PTS = /\[Parsed_showinfo_\d+ @ [^\]]+\] n:\s*\d+ pts:\s*(\d+)/;
const RTP_CLOCK = 90_000;
/** Frames in the encoder beyond which a painted frame is skipped instead of queued. */
const ENCODER_BACKLOG = 3;

export class MaskedPipeline extends TypedEmitter<MaskedPipelineEvents> {
  readonly #config: MaskConfig;
  readonly #logger: Logger;
  readonly #metrics: MediaMetrics | undefined;
  readonly #fps: number;
  readonly #keyint: number;
  readonly #maxBacklog: number;
  readonly #maxDecoderBacklog: number;
  readonly #maxRestarts: number;
  readonly #restartWindowMs: number;
  readonly #codec: 'vp8' | 'h264';
  readonly #depacketizer: Vp8Depacketizer | H264Depacketizer;
  /** H.264: the avcC record of the latest keyframe, which a (re)started decoder is opened with. */
  #codecPrivate: Buffer | undefined;
  readonly #detector: Promise<FrameDetector>;
  readonly #cuts = new SceneCutDetector();
  readonly #ssrc = randomInt(1, 0xffffffff);
  #seq = randomInt(0, 0xffff);
  #size: { width: number; height: number } | undefined;
  #planner: MaskPlanner | undefined;
  #decoder: Stage | undefined;
  #decoderMeta: InputMeta[] = [];
  #encoder: EncoderStage | undefined;
  /** A started encoder waiting for its first frame: switching to it makes a keyframe without ffmpeg's start-up time. */
  #standby: EncoderStage | undefined;
  #inputCount = 0;
  #plannerIndex = 0;
  readonly #queue: Decoded[] = [];
  readonly #line: { frame: I420Frame; meta: InputMeta }[] = [];
  #working = false;
  #keyframeWanted = false;
  #lastTimestamps: { input: number; output: number } | undefined;
  #lastEncoderRestart = 0;
  readonly #restarts: number[] = [];
  #closed = false;
  /** Frames decoded but dropped because the detector fell behind. */
  droppedFrames = 0;
  /** Masked frames sent. */
  framesOut = 0;

  constructor(options: MaskedPipelineOptions) {
    super();
    this.#config = options.config;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#fps = options.fps ?? 30;
    this.#codec = options.codec ?? 'vp8';
    this.#depacketizer = this.#codec === 'h264' ? new H264Depacketizer() : new Vp8Depacketizer();
    this.#keyint = Math.max(1, Math.round(this.#fps * (options.keyframeIntervalSec ?? 1)));
    this.#maxBacklog = options.maxBacklog ?? 2 * options.config.lookahead + 4;
    // VP8 decoding is cheap next to detection, and a drop here freezes the picture until the next
    // keyframe; so this valve is wide (2 s of frames) and only stops a starved decoder's queue growing.
    this.#maxDecoderBacklog = Math.max(this.#maxBacklog, 2 * this.#fps);
    this.#maxRestarts = options.maxRestarts ?? 5;
    this.#restartWindowMs = options.restartWindowMs ?? 10_000;
    this.#detector = (options.createDetector ?? createWorkerFrameDetector)(options.config, options.logger).then(async (detector) => {
      // The first inference is slow (graph optimisation, allocations); do it now, not on the first live frame.
      const width = 320;
      const height = 240;
      const grey: I420Frame = { width, height, data: Buffer.alloc(i420Size(width, height), 128), index: 0, ptsMs: 0 };
      await detector.detect(grey).catch((err: unknown) => this.#logger.warn({ err }, 'detector warm-up failed'));
      return detector;
    });
    // A detector that cannot load fails every frame closed (full mask); report it once.
    this.#detector.catch((err: unknown) => {
      this.#logger.error({ err }, 'face detector failed to load; the masked rendition is masked whole');
      this.#report({ type: 'error', reason: `DETECTOR_FAILED: ${err instanceof Error ? err.message : String(err)}` });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The output size, once the first keyframe arrived. */
  get size(): { width: number; height: number } | undefined {
    return this.#size;
  }

  /** The ffmpeg process ids (tests kill them to prove restarts). */
  get pids(): { decoder: number | undefined; encoder: number | undefined } {
    return { decoder: this.#decoder?.proc.pid, encoder: this.#encoder?.proc.pid };
  }

  /** One packet of the publisher's video track (VP8 or H.264, as the pipeline was made for). */
  pushRtp(packet: RtpPacket, arrivalMs = performance.now()): void {
    if (this.#closed) {
      return;
    }
    const wasWaiting = this.#depacketizer.waitingForKeyframe;
    const frame = this.#depacketizer.push(packet);
    if (!frame) {
      if (this.#depacketizer.waitingForKeyframe && !wasWaiting) {
        this.safeEmit('need-keyframe');
      }
      return;
    }
    if (frame.keyframe && this.#codec === 'h264') {
      this.#codecPrivate = h264KeyframeInfo(frame.data)?.codecPrivate ?? this.#codecPrivate;
    }
    if (!this.#size) {
      if (!frame.keyframe || frame.width === undefined || frame.height === undefined) {
        return;
      }
      this.#start(frame.width, frame.height);
    }
    const decoder = this.#decoder;
    if (!decoder) {
      return;
    }
    if (this.#decoderMeta.length >= this.#maxDecoderBacklog && !frame.keyframe) {
      // The decoder is behind: queueing more would only add latency. A delta frame cannot be
      // skipped alone (later frames refer to it), so wait for the next keyframe, and ask for one.
      this.droppedFrames += 1;
      this.#depacketizer.reset();
      this.safeEmit('need-keyframe');
      return;
    }
    const meta: InputMeta = { n: this.#inputCount, timestamp: frame.timestamp, arrivalMs };
    this.#inputCount += 1;
    this.#decoderMeta.push(meta);
    // The frame's index is its presentation time (IVF: in frames; Matroska: in ms), which showinfo reports back.
    decoder.proc.stdin?.write(this.#codec === 'h264' ? webmFrame(frame.data, meta.n, frame.keyframe) : ivfFrame(frame.data, meta.n));
  }

  /** The next frame sent will be a keyframe (a subscriber joined or switched to this rendition). */
  requestKeyframe(): void {
    this.#keyframeWanted = true;
  }

  /** Stops the processes and the detector. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    const stages = [this.#decoder, this.#encoder, this.#standby];
    this.#decoder = undefined;
    this.#encoder = undefined;
    this.#standby = undefined;
    await Promise.all(stages.map((s) => this.#stopStage(s)));
    await this.#detector.then((d) => d.close()).catch(() => undefined);
    this.safeEmit('closed');
  }

  #start(width: number, height: number): void {
    this.#size = { width, height };
    this.#planner = new MaskPlanner({
      width,
      height,
      lookahead: this.#config.lookahead,
      holdFrames: Math.max(1, Math.round((this.#config.holdMs / 1000) * this.#fps)),
      staleBudgetFrames: this.#config.staleBudgetFrames,
      requireFace: this.#config.requireFace,
      fps: this.#fps,
    });
    this.#planner.on('face-lost', (e) => this.#report({ type: 'face-lost', seconds: Math.round(e.seconds * 10) / 10 }));
    this.#planner.on('face-back', () => this.#report({ type: 'face-back' }));
    this.#planner.on('failsafe', (e) =>
      this.#report(e.state === 'engaged' ? { type: 'failsafe-engaged', reason: e.reason } : { type: 'failsafe-cleared' }),
    );
    this.#decoder = this.#startDecoder();
    this.#encoder = this.#takeEncoder();
    this.#logger.info({ width, height }, 'masked rendition started');
  }

  #startDecoder(): Stage {
    const { width, height } = this.#size ?? { width: 0, height: 0 };
    const proc = new FfmpegProcess({
      args: [
        '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info',
        '-probesize', '32', '-analyzeduration', '0', '-flags', 'low_delay',
        '-threads', '1', '-f', this.#codec === 'h264' ? 'matroska' : 'ivf', '-i', 'pipe:0',
        '-map', '0:v:0', '-an',
        '-vf', `showinfo=checksum=0,scale=${width}:${height},format=yuv420p`,
        // One thread on the output side too: with more, ffmpeg 5.1 frame-threads the rawvideo
        // "encoder", which holds each frame until the next one comes in (measured: 38 -> 4 ms at
        // p50 per 720p frame, paced at 30 fps).
        '-fps_mode', 'passthrough', '-threads', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
      ],
      stdin: 'pipe',
      stdout: 'pipe',
      tailExclude: SHOWINFO,
      logger: this.#logger,
    });
    this.#decoderMeta = [];
    const assembler = new FrameAssembler(i420Size(width, height));
    const pts: number[] = [];
    const onLine = proc.on('line', (line) => {
      const m = SHOWINFO_PTS.exec(line);
      if (m?.[1] !== undefined) {
        pts.push(Number(m[1]));
      }
    });
    const onData = (chunk: Buffer): void => {
      for (const data of assembler.push(chunk)) {
        // showinfo prints a frame's pts before ffmpeg writes it; if the line is late, take the next input in order.
        const n = pts.shift() ?? this.#decoderMeta[0]?.n;
        while (this.#decoderMeta.length > 0 && (this.#decoderMeta[0]?.n ?? 0) < (n ?? 0)) {
          this.#decoderMeta.shift();
        }
        const meta = this.#decoderMeta.shift();
        if (meta) {
          this.#onDecoded({ width, height, data, index: meta.n, ptsMs: (meta.n * 1000) / this.#fps }, meta);
        }
      }
    };
    proc.stdout?.on('data', onData);
    const onExit = proc.on('exit', (code, signal) => this.#stageDied('decoder', code, signal));
    proc.stdin?.write(this.#codec === 'h264'
      ? webmHeader({ kind: 'video', codec: 'h264', width, height, codecPrivate: this.#codecPrivate ?? Buffer.alloc(0) })
      : ivfFileHeader(width, height, RTP_CLOCK));
    const stage: Stage = {
      proc,
      detach: () => {
        onLine();
        onExit();
        proc.stdout?.off('data', onData);
      },
    };
    void proc.wait().catch(() => undefined); // failures are handled through 'exit'
    return stage;
  }

  #startEncoder(): EncoderStage {
    const { width, height } = this.#size ?? { width: 0, height: 0 };
    const bitrate = Math.round(Math.min(2_500_000, Math.max(300_000, width * height * this.#fps * 0.05)));
    const proc = new FfmpegProcess({
      args: [
        '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
        '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-framerate', String(this.#fps), '-i', 'pipe:0',
        // Speed 16 on one thread: paced at 30 fps, a third of the CPU of speed 8 on two threads for
        // the same p50 at 720p (measured: 0.60 against 1.68 CPU s for 10 s at 360p; 10.7 against
        // 10.4 ms at 720p); its frames are what masked viewers see, at the same bitrate.
        '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '16', '-lag-in-frames', '0', '-auto-alt-ref', '0',
        '-error-resilient', '1', '-g', String(this.#keyint), '-b:v', String(bitrate), '-maxrate', String(bitrate),
        '-bufsize', String(bitrate), '-threads', '1',
        '-fps_mode', 'passthrough', '-flush_packets', '1', '-f', 'ivf', 'pipe:1',
      ],
      stdin: 'pipe',
      stdout: 'pipe',
      logger: this.#logger,
    });
    const reader = new IvfReader();
    const stage: EncoderStage = { proc, pending: [], framesOut: 0, detach: () => undefined };
    const onData = (chunk: Buffer): void => {
      for (const out of reader.push(chunk)) {
        const released = stage.pending.shift();
        if (released) {
          stage.framesOut += 1;
          this.#send(out.data, released);
        }
      }
    };
    proc.stdout?.on('data', onData);
    const onExit = proc.on('exit', (code, signal) => {
      if (stage === this.#standby) {
        this.#standby = undefined; // an idle spare: nothing was lost; the next switch starts one afresh
      } else if (stage === this.#encoder) {
        this.#stageDied('encoder', code, signal);
      }
    });
    stage.detach = () => {
      onExit();
      proc.stdout?.off('data', onData);
    };
    void proc.wait().catch(() => undefined);
    return stage;
  }

  /** The standby encoder (or a new one) becomes the active one, and a new standby starts. */
  #takeEncoder(): EncoderStage {
    const next = this.#standby ?? this.#startEncoder();
    this.#standby = this.#startEncoder();
    this.#lastEncoderRestart = performance.now();
    return next;
  }

  async #stopStage(stage: Stage | undefined): Promise<void> {
    if (!stage) {
      return;
    }
    stage.detach();
    await stage.proc.stop();
  }

  #stageDied(which: 'decoder' | 'encoder', code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#closed) {
      return;
    }
    const how = signal ? `killed by ${signal}` : `exited with code ${String(code)}`;
    const now = performance.now();
    this.#restarts.push(now);
    while ((this.#restarts[0] ?? now) < now - this.#restartWindowMs) {
      this.#restarts.shift();
    }
    this.#metrics?.pipelineRestarted();
    if (this.#restarts.length > this.#maxRestarts) {
      const reason = `PIPELINE_FAILED: the ${which} died ${this.#restarts.length} times in ${this.#restartWindowMs / 1000} s; the masked rendition stopped`;
      this.#logger.error({ which, how }, reason);
      this.#report({ type: 'error', reason });
      void this.close();
      return;
    }
    this.#logger.warn({ which, how }, 'masked rendition stage died; restarting it');
    this.#report({ type: 'pipeline-restarted', reason: `${which} ${how}` });
    if (which === 'decoder') {
      this.#decoder?.detach();
      this.#depacketizer.reset();
      this.#decoder = this.#startDecoder();
      this.safeEmit('need-keyframe');
    } else {
      this.#encoder?.detach();
      this.#encoder = this.#takeEncoder();
    }
  }

  #onDecoded(frame: I420Frame, meta: InputMeta): void {
    this.#queue.push({ frame, meta });
    while (this.#queue.length > this.#maxBacklog) {
      this.#queue.shift();
      this.droppedFrames += 1;
    }
    void this.#work();
  }

  /** Detects, plans, paints and encodes queued frames, one at a time, in order. */
  async #work(): Promise<void> {
    if (this.#working) {
      return;
    }
    this.#working = true;
    try {
      for (let item = this.#queue.shift(); item && !this.#closed; item = this.#queue.shift()) {
        await this.#process(item);
      }
    } catch (err) {
      this.#logger.error({ err }, 'masked rendition failed');
      this.#report({ type: 'error', reason: `PIPELINE_FAILED: ${err instanceof Error ? err.message : String(err)}` });
      await this.close();
    } finally {
      this.#working = false;
    }
  }

  async #process({ frame: decoded, meta }: Decoded): Promise<void> {
    const planner = this.#planner;
    if (!planner) {
      return;
    }
    const index = this.#plannerIndex;
    this.#plannerIndex += 1;
    const frame: I420Frame = { ...decoded, index };
    const cut = this.#cuts.push(frame);
    planner.pushFrame(index, { cut });
    const t0 = performance.now();
    try {
      const detector = await this.#detector;
      const result = await detectWithDeadline(detector, frame, this.#config.detectTimeoutMs);
      planner.pushResult(index, { faces: result.faces });
    } catch (err) {
      this.#logger.warn({ err, frame: index }, 'detection failed; the frame is masked whole');
      planner.pushResult(index, { error: err instanceof Error ? err : new Error(String(err)) });
    }
    this.#metrics?.observeStage('detect', (performance.now() - t0) / 1000);
    this.#line.push({ frame, meta });
    while (this.#line.length > this.#config.lookahead) {
      this.#release();
    }
  }

  #release(): void {
    const item = this.#line.shift();
    const planner = this.#planner;
    if (!item || !planner) {
      return;
    }
    const plan = planner.plan(item.frame.index);
    const t0 = performance.now();
    paintMask(item.frame, plan, this.#config.style, { blocksAcross: this.#config.blocksAcross, minBlockPx: this.#config.minBlockPx });
    this.#metrics?.observeStage('mask', (performance.now() - t0) / 1000);
    this.#metrics?.framesMasked();
    if (plan.fullFrame) {
      this.#metrics?.failsafeFrames();
    }
    if (this.#keyframeWanted && this.#encoder && this.#encoder.framesOut > 0 && performance.now() - this.#lastEncoderRestart > 250) {
      // ffmpeg cannot be told to make a keyframe mid-stream; a fresh encoder's first frame is one.
      const old = this.#encoder;
      this.#encoder = this.#takeEncoder();
      void this.#stopStage(old);
    }
    this.#keyframeWanted = false;
    const encoder = this.#encoder;
    if (!encoder) {
      return;
    }
    if (encoder.pending.length >= ENCODER_BACKLOG) {
      this.droppedFrames += 1; // the encoder is behind: skip this frame rather than queue it (never sent)
      return;
    }
    encoder.pending.push({ meta: item.meta, fullFrame: plan.fullFrame });
    encoder.proc.stdin?.write(item.frame.data);
  }

  #send(data: Buffer, released: Released): void {
    const info = vp8FrameInfo(data);
    const packets = packetizeVp8(data, { timestamp: this.#outputTimestamp(released.meta.timestamp), seq: this.#seq, ssrc: this.#ssrc, payloadType: 96 });
    this.#seq = (this.#seq + packets.length) & 0xffff;
    packets.forEach((packet, i) => this.safeEmit('rtp', { packet, keyframeStart: i === 0 && info?.keyframe === true }));
    this.framesOut += 1;
    const latencyMs = performance.now() - released.meta.arrivalMs;
    this.#metrics?.observeStage('end-to-end', latencyMs / 1000);
    this.safeEmit('frame', { latencyMs, fullFrame: released.fullFrame });
  }

  /**
   * The output clock follows the input's, but stays continuous when the
   * input's jumps (a publisher that restarted its encoder, or came back).
   */
  #outputTimestamp(input: number): number {
    const last = this.#lastTimestamps;
    let out = input;
    if (last) {
      const delta = (input - last.input) >>> 0;
      out = (last.output + (delta > 0 && delta <= 2 * RTP_CLOCK ? delta : Math.round(RTP_CLOCK / this.#fps))) >>> 0;
    }
    this.#lastTimestamps = { input, output: out };
    return out;
  }

  #report(event: MaskedPipelineEvent): void {
    this.safeEmit('event', event);
  }
}
