import { createHash, type Hash } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TypedEmitter } from '../core/index.js';
import { h264KeyframeInfo } from '../media/h264.js';
import { AppendFile, fsyncDir } from './durable-file.js';
import { OPEN_SUFFIX, segmentName } from './layout.js';
import type { SegmentRecord } from './manifest.js';
import { SegmentPlanner, TimestampUnwrapper } from './segment-planner.js';
import { vp8KeyframeSize, webmFrame, webmHeader, type TrackSpec } from './webm.js';

/** A whole VP8 frame, or an H.264 access unit (length-prefixed; SPS and PPS before each keyframe), as received: depacketized, not decoded. */
export interface VideoFrameInput {
  data: Buffer;
  /** RTP timestamp, 90 kHz; may wrap at 2^32. */
  timestamp90k: number;
  keyframe: boolean;
  /** Wall-clock ms at arrival (Date.now()); default: when it is pushed. Gives the segments' `startAt`/`endAt`. */
  arrivalMs?: number;
}

/** One Opus packet as received. */
export interface AudioPacketInput {
  payload: Buffer;
  /** RTP timestamp, 48 kHz; may wrap at 2^32. */
  timestamp48k: number;
  /** Wall-clock ms at arrival (Date.now()); default: when it is pushed. */
  arrivalMs?: number;
}

export interface VideoTrackHandle {
  readonly participant: string;
  /** True while a segment is due to roll (or none is open) and a keyframe is awaited: send a PLI. */
  readonly needsKeyframe: boolean;
  pushFrame(frame: VideoFrameInput): void;
}

export interface AudioTrackHandle {
  readonly participant: string;
  pushPacket(packet: AudioPacketInput): void;
}

export interface EvidenceTrackOptions {
  sessionDir: string;
  /** Resolves once the session directory exists. */
  ready: Promise<void>;
  participant: string;
  kind: 'video' | 'audio';
  codec: 'vp8' | 'h264' | 'opus';
  segmentMs: number;
  /** Index of this track's first segment (continues after a re-publish). */
  firstIndex: number;
  /** Most bytes queued for disk before the track fails (a disk too slow to keep up). */
  maxPendingBytes: number;
  /** Logs the sealed segment; the track waits for it before sealing the next one. */
  onSealed: (record: SegmentRecord) => Promise<void>;
}

export type EvidenceTrackEvents = {
  'keyframe-needed': [];
  error: [error: unknown];
};

interface OpenSegment {
  record: SegmentRecord;
  hash: Hash;
  file: Promise<AppendFile>;
  /** Wall-clock ms of the first and last frame. */
  firstWallMs: number;
  lastWallMs: number;
}

/**
 * One participant's track in the evidence: cuts the received frames into
 * WebM segments (Matroska for H.264; passthrough, no re-encode) and seals each one: fsync,
 * rename from `.open`, fsync the directory, then log it with its SHA-256.
 * The first I/O error stops the track and is emitted once as `error`.
 */
export class EvidenceTrack extends TypedEmitter<EvidenceTrackEvents> implements VideoTrackHandle, AudioTrackHandle {
  readonly participant: string;
  readonly kind: 'video' | 'audio';
  readonly #o: EvidenceTrackOptions;
  readonly #planner: SegmentPlanner;
  readonly #clock = new TimestampUnwrapper();
  #segment: OpenSegment | undefined;
  #nextIndex: number;
  #size: { width: number; height: number } | undefined;
  /** H.264: the avcC record of the latest keyframe, which a segment's header carries. */
  #codecPrivate: Buffer | undefined;
  #sealing: Promise<void> = Promise.resolve();
  #pendingBytes = 0;
  #lastRequestMs = -Infinity;
  #stopped = false;
  #failed = false;

  constructor(options: EvidenceTrackOptions) {
    super();
    this.#o = options;
    this.participant = options.participant;
    this.kind = options.kind;
    this.#planner = new SegmentPlanner(options.segmentMs);
    this.#nextIndex = options.firstIndex;
  }

  get needsKeyframe(): boolean {
    return !this.#stopped && this.#planner.needsKeyframe;
  }

  /** The index the next segment of this participant and kind would take. */
  get nextIndex(): number {
    return this.#nextIndex;
  }

  pushFrame(frame: VideoFrameInput): void {
    let size: { width: number; height: number } | undefined;
    if (frame.keyframe && this.#o.codec === 'h264') {
      const info = h264KeyframeInfo(frame.data);
      size = info && { width: info.width, height: info.height };
      this.#codecPrivate = info?.codecPrivate ?? this.#codecPrivate;
    } else if (frame.keyframe) {
      size = vp8KeyframeSize(frame.data);
    }
    this.#size = size ?? this.#size;
    // A keyframe we cannot read the size of cannot open a segment.
    this.#push(frame.data, frame.timestamp90k, 90_000, frame.keyframe && this.#size !== undefined, size, frame.arrivalMs ?? Date.now());
  }

  pushPacket(packet: AudioPacketInput): void {
    this.#push(packet.payload, packet.timestamp48k, 48_000, true, undefined, packet.arrivalMs ?? Date.now());
  }

  /** Seals the open segment and stops; idempotent. Never rejects: an I/O error is emitted as `error`. */
  async close(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#seal();
    }
    await this.#sealing;
  }

  /** Stops without sealing (after an error elsewhere); the open segment stays `.open` for recovery. */
  stop(): void {
    this.#stopped = true;
  }

  #push(
    data: Buffer, timestamp: number, clockRate: number, keyframe: boolean, size: { width: number; height: number } | undefined, wallMs: number,
  ): void {
    if (this.#stopped) {
      return;
    }
    const ticks = this.#clock.push(timestamp);
    const ms = (ticks * 1000) / clockRate;
    const decision = this.#planner.decide({ ms, keyframe, size });
    if (decision.requestKeyframe && ms - this.#lastRequestMs >= 1000) {
      this.#lastRequestMs = ms;
      this.safeEmit('keyframe-needed');
    }
    if (decision.action === 'drop') {
      return;
    }
    if (decision.action === 'open') {
      this.#seal();
      this.#open(ms, timestamp, wallMs);
    }
    const segment = this.#segment;
    if (!segment) {
      return;
    }
    const bytes = webmFrame(data, ms, keyframe);
    const r = segment.record;
    r.frames += 1;
    r.lastMs = ms;
    r.lastTimestamp = timestamp >>> 0;
    segment.lastWallMs = wallMs;
    this.#write(segment, bytes);
  }

  #open(ms: number, timestamp: number, wallMs: number): void {
    const index = this.#nextIndex;
    this.#nextIndex += 1;
    const h264 = this.#o.codec === 'h264';
    const path = segmentName(this.participant, this.kind, index, h264 ? 'mkv' : 'webm');
    const width = this.#size?.width ?? 0;
    const height = this.#size?.height ?? 0;
    const spec: TrackSpec = this.kind === 'audio'
      ? { kind: 'audio', codec: 'opus', channels: 2, sampleRate: 48_000 }
      : h264 ? { kind: 'video', codec: 'h264', width, height, codecPrivate: this.#codecPrivate ?? Buffer.alloc(0) } : { kind: 'video', codec: 'vp8', width, height };
    const full = join(this.#o.sessionDir, path);
    const file = this.#o.ready
      .then(() => mkdir(dirname(full), { recursive: true }))
      .then(() => AppendFile.open(`${full}${OPEN_SUFFIX}`, 'create'));
    const segment: OpenSegment = {
      record: {
        path, participant: this.participant, kind: this.kind, index, sha256: '', bytes: 0, frames: 0,
        firstMs: ms, lastMs: ms, firstTimestamp: timestamp >>> 0, lastTimestamp: timestamp >>> 0,
      },
      hash: createHash('sha256'),
      file,
      firstWallMs: wallMs,
      lastWallMs: wallMs,
    };
    this.#segment = segment;
    this.#write(segment, webmHeader(spec));
  }

  #write(segment: OpenSegment, bytes: Buffer): void {
    segment.hash.update(bytes);
    segment.record.bytes += bytes.length;
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes > this.#o.maxPendingBytes) {
      this.#fail(new Error(`more than ${this.#o.maxPendingBytes} bytes wait for the disk`));
      return;
    }
    segment.file
      .then((f) => f.append(bytes))
      .then(() => {
        this.#pendingBytes -= bytes.length;
      }, (err: unknown) => this.#fail(err));
  }

  /** Queues the open segment's seal after the previous one's. */
  #seal(): void {
    const segment = this.#segment;
    this.#segment = undefined;
    if (!segment) {
      return;
    }
    this.#sealing = this.#sealing.then(() => this.#sealOne(segment)).then(undefined, (err: unknown) => this.#fail(err));
  }

  async #sealOne(segment: OpenSegment): Promise<void> {
    const file = await segment.file;
    await file.sync();
    await file.close();
    const full = join(this.#o.sessionDir, segment.record.path);
    await rename(`${full}${OPEN_SUFFIX}`, full);
    await fsyncDir(dirname(full));
    segment.record.sha256 = segment.hash.digest('hex');
    segment.record.startAt = new Date(segment.firstWallMs).toISOString();
    segment.record.endAt = new Date(segment.lastWallMs).toISOString();
    await this.#o.onSealed(segment.record);
  }

  #fail(err: unknown): void {
    if (this.#failed) {
      return;
    }
    this.#failed = true;
    this.#stopped = true;
    this.#segment = undefined;
    this.safeEmit('error', err);
  }
}
