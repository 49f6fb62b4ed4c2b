import { createPublicKey, type KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError, TypedEmitter, type Logger } from '../core/index.js';
import { writeFileDurable } from './durable-file.js';
import { EventLog } from './event-log.js';
import { EvidenceTrack, type AudioTrackHandle, type VideoTrackHandle } from './evidence-track.js';
import { checkId, FILES, sessionDir } from './layout.js';
import { EVENT, type Manifest, type SegmentRecord } from './manifest.js';

/** The writer of a session, as `session-started` states it. */
export function sessionWriter(workerId?: string): { host: string; pid: number; workerId: string } {
  const host = hostname();
  return { host, pid: process.pid, workerId: workerId ?? `${host}-${process.pid}` };
}

export interface EvidenceRecorderOptions {
  /** The evidence root, e.g. `<data>/evidence`. */
  root: string;
  room: string;
  sessionId: string;
  /** Ed25519 private key that signs checkpoints and the manifest. */
  signingKey: KeyObject;
  /** Segment length before the next keyframe rolls it. Default 10. */
  segmentSeconds?: number;
  /** Longest time between signed checkpoints. Default 60. */
  checkpointSeconds?: number;
  /** Most bytes per track queued for disk before recording stops. Default 16 MiB. */
  maxPendingBytes?: number;
  /** The fleet worker that records (`hostname-pid` by default): stated in `session-started`, for continuity across a failover. */
  workerId?: string;
  logger?: Logger;
}

export type EvidenceRecorderEvents = {
  /** A track's segment is due to roll, or it has no keyframe yet: send that participant's video a PLI. */
  'keyframe-needed': [participant: string];
  'segment-sealed': [segment: SegmentRecord];
  /** Recording stopped (a full disk, say). Live media is not affected; what was sealed still verifies. */
  'evidence-error': [error: EvidenceError];
};

/** What `close()` did. */
export type CloseResult = { ok: true; manifest: Manifest } | { ok: false; error: EvidenceError };

/**
 * Records one room session's original media and events as evidence: WebM
 * segments per participant track, a hash-chained event log, signed
 * checkpoints and a signed manifest. Nothing it does throws into the media
 * path: an I/O failure stops recording and is emitted as `evidence-error`.
 */
export class EvidenceRecorder extends TypedEmitter<EvidenceRecorderEvents> {
  readonly room: string;
  readonly sessionId: string;
  readonly dir: string;
  readonly #o: EvidenceRecorderOptions;
  readonly #logger: Logger | undefined;
  readonly #tracks = new Map<string, EvidenceTrack>();
  readonly #nextIndex = new Map<string, number>();
  #log: EventLog | undefined;
  #ready: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failed: EvidenceError | undefined;
  #closing: Promise<CloseResult> | undefined;

  constructor(options: EvidenceRecorderOptions) {
    super();
    this.#o = options;
    this.room = options.room;
    this.sessionId = options.sessionId;
    this.dir = sessionDir(options.root, options.room, options.sessionId);
    this.#logger = options.logger?.child({ module: 'evidence', room: options.room, session: options.sessionId });
  }

  /** Creates the session directory and log (fails when the session exists) and logs `session-started`. */
  start(): Promise<void> {
    this.#ready ??= this.#start();
    return this.#ready;
  }

  async #start(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const pem = createPublicKey(this.#o.signingKey).export({ type: 'spki', format: 'pem' }).toString();
      await writeFileDurable(join(this.dir, FILES.publicKey), pem);
      this.#log = await EventLog.create({ dir: this.dir, room: this.room, sessionId: this.sessionId, signingKey: this.#o.signingKey });
      await this.#log.append(EVENT.sessionStarted, {
        room: this.room,
        sessionId: this.sessionId,
        segmentSeconds: this.#segmentSeconds,
        // Who writes: recovery leaves a session alone while this process lives (recover.ts).
        ...sessionWriter(this.#o.workerId),
      });
      await this.#log.checkpoint();
    } catch (err) {
      throw this.#fail(err);
    }
    const ms = (this.#o.checkpointSeconds ?? 60) * 1000;
    this.#timer = setInterval(() => this.#checkpoint(), ms);
    this.#timer.unref();
    this.#logger?.info({ dir: this.dir }, 'evidence recording started');
  }

  get #segmentSeconds(): number {
    return this.#o.segmentSeconds ?? 10;
  }

  /** The first error that stopped recording, if any. */
  get error(): EvidenceError | undefined {
    return this.#failed;
  }

  addVideoTrack(participant: string, codec: 'vp8' | 'h264' = 'vp8'): VideoTrackHandle {
    return this.#addTrack(participant, 'video', codec);
  }

  addAudioTrack(participant: string, codec: 'opus' = 'opus'): AudioTrackHandle {
    return this.#addTrack(participant, 'audio', codec);
  }

  /**
   * Adds a track. A participant who publishes the same kind again gets a new
   * track whose segments continue the numbering; the old one is sealed.
   */
  #addTrack(participant: string, kind: 'video' | 'audio', codec: 'vp8' | 'h264' | 'opus'): EvidenceTrack {
    checkId('participant', participant);
    const key = `${participant}/${kind}`;
    const previous = this.#tracks.get(key);
    if (previous) {
      this.#nextIndex.set(key, previous.nextIndex);
      void previous.close();
    }
    const track = new EvidenceTrack({
      sessionDir: this.dir,
      ready: this.start(),
      participant,
      kind,
      codec,
      segmentMs: this.#segmentSeconds * 1000,
      firstIndex: this.#nextIndex.get(key) ?? 1,
      maxPendingBytes: this.#o.maxPendingBytes ?? 16 * 1024 * 1024,
      onSealed: (record) => this.#onSealed(record),
    });
    track.on('keyframe-needed', () => this.safeEmit('keyframe-needed', participant));
    track.on('error', (err) => this.#fail(err));
    this.#tracks.set(key, track);
    if (this.#failed) {
      track.stop();
    }
    this.event(EVENT.trackAdded, { participant, kind, codec });
    return track;
  }

  /** Appends an event to the hash-chained log (participant joined, mask on, offer sent...). */
  event(type: string, data: Record<string, unknown> = {}): void {
    if (this.#failed || this.#closing) {
      return;
    }
    void this.start()
      .then(() => this.#log?.append(type, data))
      .then(undefined, (err: unknown) => this.#fail(err));
  }

  async #onSealed(record: SegmentRecord): Promise<void> {
    const log = this.#log;
    if (!log) {
      return;
    }
    await log.append(EVENT.segmentSealed, { ...record });
    this.#logger?.debug({ path: record.path, bytes: record.bytes, frames: record.frames }, 'segment sealed');
    this.safeEmit('segment-sealed', record);
  }

  #checkpoint(): void {
    if (this.#failed || !this.#log) {
      return;
    }
    this.#log.checkpoint().then(undefined, (err: unknown) => this.#fail(err));
  }

  /**
   * Stops recording after the first I/O error: every track stops (its open
   * segment stays for `recover`), and `evidence-error` is emitted once.
   */
  #fail(err: unknown): EvidenceError {
    if (this.#failed) {
      return this.#failed;
    }
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const error = err instanceof EvidenceError
      ? err
      : new EvidenceError('EVIDENCE_IO', `evidence recording stopped for room ${this.room}: ${code ?? (err instanceof Error ? err.message : String(err))}`, { cause: err });
    this.#failed = error;
    for (const track of this.#tracks.values()) {
      track.stop();
    }
    this.#logger?.error({ err: error }, 'evidence recording stopped');
    this.safeEmit('evidence-error', error);
    return error;
  }

  /**
   * Seals every open segment, logs `session-ended`, signs a last checkpoint
   * and writes the signed manifest. Idempotent; never rejects.
   */
  close(): Promise<CloseResult> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<CloseResult> {
    clearInterval(this.#timer);
    try {
      await this.start();
      await Promise.all([...this.#tracks.values()].map((t) => t.close()));
      if (this.#failed) {
        return { ok: false, error: this.#failed };
      }
      const log = this.#log;
      if (!log) {
        throw new EvidenceError('CLOSED', 'evidence log was never opened');
      }
      await log.append(EVENT.sessionEnded, { reason: 'closed' });
      await log.checkpoint();
      await log.close();
      const manifest = await log.writeManifest();
      this.#logger?.info({ segments: manifest.segments.length, events: manifest.chain.count }, 'evidence sealed');
      return { ok: true, manifest };
    } catch (err) {
      return { ok: false, error: this.#fail(err) };
    }
  }
}
