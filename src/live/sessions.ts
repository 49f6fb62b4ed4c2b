import { randomUUID, type KeyObject } from 'node:crypto';
import {
  PictureLossIndication,
  RtcpPayloadSpecificFeedback,
  type MediaStreamTrack,
  type RTCPeerConnection,
  type RTCRtpCodecParameters,
  type RTCRtpReceiver,
  type RTCRtpSender,
  type RtcpPacket,
  type RtpPacket,
} from 'werift';
import type { Logger } from '../core/index.js';
import { parseMaskConfig, type MaskConfig } from '../config/index.js';
import { EvidenceRecorder, type AudioTrackHandle, type VideoTrackHandle } from '../evidence/index.js';
import type { FrameDetector } from '../pipeline/frame-detector.js';
import type { MediaMetrics } from '../server/metrics.js';
import type { RoomEvent, RoomRegistry } from '../server/rooms.js';
import { renditionFor, type Rendition, type Role } from '../server/tokens.js';
import { MaskedPipeline, type MaskedPacket } from './masked-pipeline.js';
import { answer, createPeer, videoCodecName, type VideoCodecName } from './peer.js';
import { coverKeyframe } from './cover-frame.js';
import { tapTransportDrops } from './transport-drops.js';
import { H264Depacketizer, startsH264Keyframe } from './h264.js';
import { packetizeVp8, SequenceGate, startsVp8Keyframe, Vp8Depacketizer } from './vp8.js';

/**
 * The media sessions of `livemask serve`: WHIP publishers and WHEP
 * subscribers, and the forwarding between them.
 *
 * - A subscriber whose rendition is 'original' gets the publisher's RTP
 *   unchanged (passthrough).
 * - A subscriber whose rendition is 'masked' gets the participant's masked
 *   rendition ({@link MaskedPipeline}, one per masked publisher, shared by
 *   all its masked subscribers), joining it at a keyframe only, and the
 *   audio delayed by the rendition's latency. It never gets a passthrough
 *   video packet: until the masked rendition has a keyframe for it, it gets
 *   no video at all.
 *
 * The rendition is decided per packet from the registry's mask state, so a
 * mask switch applies from the very next packet, without renegotiation.
 */

/**
 * Live masking defaults: a short look-ahead (it is latency), a tight detector
 * deadline, and BlazeFace's full-range model alone. The offline default
 * (`both`, with small-face tiles) does not keep up with 30 fps on a 2-core
 * host; `back` does at 360p, and masked the five camera-like shared clips
 * with zero leaks at look-ahead 2 (README "Live benchmarks").
 *
 * One onnxruntime thread per session: onnxruntime-node runs inference on the
 * calling thread plus its pool, and beside two ffmpeg processes per
 * rendition and werift, a second thread only contends. Through the WebRTC
 * loopback at 720p30 on the 2-core VM, 1 thread instead of 2 took the masked
 * p95 from 385 to 197 ms and frames delivered from 75% to 98.7%
 * (LIVEMASK_DETECTOR_THREADS raises it on hosts with cores to spare). The
 * calling thread is each rendition's own detector thread
 * (src/pipeline/worker-detector.ts), so renditions detect in parallel.
 */
export const LIVE_MASK_DEFAULTS = { lookahead: 2, detectTimeoutMs: 500, detector: 'back', intraOpThreads: 1 } as const;

export type MediaKind = 'audio' | 'video';

export interface LiveSessionsOptions {
  rooms: RoomRegistry;
  metrics: MediaMetrics;
  logger: Logger;
  /** Host addresses to gather ICE candidates on. Default ['127.0.0.1']. */
  hostAddresses?: string[];
  /** Minimum gap between keyframe requests to one publisher track. Default 500 ms. */
  pliIntervalMs?: number;
  /** The masking of the masked rendition. Default: parseMaskConfig(LIVE_MASK_DEFAULTS). */
  maskConfig?: MaskConfig;
  /** Sessions (publishers and subscribers) open at once; more are refused. Default 200. */
  maxSessions?: number;
  /** Masked renditions running at once; a masked publisher beyond is refused. Default 4. */
  maxMasked?: number;
  /**
   * Evidence recording of every publisher's original media and the room's
   * events (src/evidence/): one recording session per room while it has
   * publishers. Undefined: nothing is recorded.
   */
  evidence?: {
    root: string;
    signingKey: KeyObject;
    segmentSeconds?: number;
    /** Called once a room's session is sealed (its manifest signed); the store mirror copies it from there. Must not throw. */
    onSealed?: (room: string, sessionId: string) => void;
  };
  /** Replaces the BlazeFace detector of masked renditions; tests use it to inject faults. */
  createDetector?: (config: MaskConfig, logger: Logger) => Promise<FrameDetector>;
}

interface Publisher {
  id: string;
  room: string;
  participant: string;
  pc: RTCPeerConnection;
  receivers: Map<MediaKind, { receiver: RTCRtpReceiver; ssrc: number | undefined; lastPli: number }>;
  /** The masked rendition, from the first time the participant is masked until the session ends. */
  masked: MaskedPipeline | undefined;
  /** The masked rendition's recent latency (ms), by which its subscribers' audio is delayed. */
  maskedLatencyMs: number;
  /** Evidence tracks of this session, and the frames they are cut from. */
  evidence: { video: VideoTrackHandle; audio: AudioTrackHandle; frames: Vp8Depacketizer | H264Depacketizer; audioOrder: SequenceGate } | undefined;
  /** The video codec the publisher sends (the first one negotiated), and its payload types; packets of another are dropped. */
  videoCodec: VideoCodecName;
  videoPayloadTypes: Set<number>;
  /** Asking for a keyframe again and again until one arrives (after a mask switched off); undefined otherwise. */
  keyframeWanted: NodeJS.Timeout | undefined;
  close: () => void;
}

interface RoomRecording {
  recorder: EvidenceRecorder;
  publishers: number;
}

interface Subscriber {
  id: string;
  room: string;
  /** The token subject that opened the session. */
  owner: string;
  participant: string;
  role: Role;
  pc: RTCPeerConnection;
  senders: Map<MediaKind, RTCRtpSender>;
  /** The video codecs negotiated with the subscriber: always VP8 (the masked rendition), H.264 when it offered it. */
  videoCodecs: Map<VideoCodecName, RTCRtpCodecParameters>;
  /** The subscriber cannot receive its publisher's codec (reported once). */
  codecMissing: boolean;
  /** Where its video comes from now: a publisher (passthrough) or a masked rendition; undefined until the first packet. */
  /** What the subscriber's video now comes from; `cover` is the grey keyframe sent at a mask switch. */
  videoSource: Publisher | MaskedPipeline | 'cover' | undefined;
  close: () => void;
}

export interface SessionInfo {
  id: string;
  room: string;
  /** The token subject that opened the session: only it may end or trickle to it. */
  owner: string;
  kind: 'whip' | 'whep';
}

const key = (room: string, participant: string): string => `${room}\u0000${participant}`;

function startsKeyframe(codec: VideoCodecName, payload: Uint8Array): boolean {
  return codec === 'h264' ? startsH264Keyframe(payload) : startsVp8Keyframe(payload);
}

/** Answers an offer; when that fails, runs `abandon` (the session never started) and closes the peer. */
async function answerOrClose(pc: RTCPeerConnection, offer: string, direction: 'recvonly' | 'sendonly', abandon: () => void): Promise<string> {
  try {
    return await answer(pc, offer, direction);
  } catch (err) {
    abandon();
    await pc.close();
    throw err;
  }
}

/** True once a subscriber's transport can carry media (werift silently drops packets sent before). */
const connected = (sub: Subscriber): boolean => sub.pc.connectionState === 'connected';

export class LiveSessions {
  readonly #rooms: RoomRegistry;
  readonly #metrics: MediaMetrics;
  readonly #logger: Logger;
  readonly #hostAddresses: string[];
  readonly #pliIntervalMs: number;
  readonly #maskConfig: MaskConfig;
  readonly #createDetector: LiveSessionsOptions['createDetector'];
  readonly #maxSessions: number;
  readonly #maxMasked: number;
  readonly #evidence: LiveSessionsOptions['evidence'];
  readonly #recordings = new Map<string, RoomRecording>();
  /** The last room event seq recorded, per room (a room's seq starts again at 1 once it ends). */
  readonly #recordedSeq = new Map<string, number>();
  /** Recordings being sealed; close() waits for them. */
  readonly #sealing = new Set<Promise<unknown>>();
  readonly #publishers = new Map<string, Publisher>();
  /** Publishers by room and participant: the latest session wins. */
  readonly #byParticipant = new Map<string, Publisher>();
  readonly #subscribers = new Map<string, Subscriber>();
  /** The registry listener, held only while there are subscribers (mask switches matter only to them). */
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(options: LiveSessionsOptions) {
    this.#rooms = options.rooms;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#hostAddresses = options.hostAddresses ?? ['127.0.0.1'];
    this.#pliIntervalMs = options.pliIntervalMs ?? 500;
    // Made now, so that the first mask switch does not wait for ffmpeg.
    coverKeyframe().catch((err: unknown) => this.#logger.warn({ err }, 'the cover keyframe could not be made; it is tried again at the next mask switch'));
    this.#maskConfig = options.maskConfig ?? parseMaskConfig(LIVE_MASK_DEFAULTS);
    this.#createDetector = options.createDetector;
    this.#maxSessions = options.maxSessions ?? 200;
    this.#maxMasked = options.maxMasked ?? 4;
    this.#evidence = options.evidence;
    // Mask switches start masked renditions even before anyone subscribes.
    const offEvent = this.#rooms.on('event', (event) => this.#onRoomEvent(event));
    const offEnded = this.#rooms.on('room-ended', (room) => this.#recordedSeq.delete(room));
    this.#unsubscribe = () => {
      offEvent();
      offEnded();
    };
  }

  /** The masked rendition of a participant's current publisher (tests, metrics). */
  maskedPipeline(room: string, participant: string): MaskedPipeline | undefined {
    return this.#byParticipant.get(key(room, participant))?.masked;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  get publisherCount(): number {
    return this.#publishers.size;
  }

  /** Why a new session would be refused now (503), or undefined when there is room for it. */
  refusal(kind: 'whip' | 'whep', masked = false): string | undefined {
    if (this.#publishers.size + this.#subscribers.size >= this.#maxSessions) {
      return `this worker holds its maximum of ${this.#maxSessions} sessions`;
    }
    if (kind === 'whip' && masked && this.#maskedRunning() >= this.#maxMasked) {
      return `this worker runs its maximum of ${this.#maxMasked} masked renditions`;
    }
    return undefined;
  }

  #maskedRunning(): number {
    return [...this.#publishers.values()].filter((p) => p.masked && !p.masked.closed).length;
  }

  session(id: string): SessionInfo | undefined {
    const p = this.#publishers.get(id);
    if (p) {
      return { id, room: p.room, owner: p.participant, kind: 'whip' };
    }
    const s = this.#subscribers.get(id);
    return s ? { id, room: s.room, owner: s.owner, kind: 'whep' } : undefined;
  }

  /** Answers a WHIP offer; the participant joins the room. */
  async publish(room: string, participant: string, role: Role, masked: boolean, offer: string): Promise<{ id: string; answer: string }> {
    const pc = createPeer({ hostAddresses: this.#hostAddresses });
    const id = randomUUID();
    const log = this.#logger.child({ room, participant, session: id });
    const pub: Publisher = {
      id, room, participant, pc, receivers: new Map(), masked: undefined, maskedLatencyMs: 0, evidence: undefined, keyframeWanted: undefined,
      videoCodec: 'vp8', videoPayloadTypes: new Set(), close: () => undefined,
    };
    const disposers: (() => void)[] = [];
    let closed = false;
    pub.close = () => {
      if (closed) {
        return;
      }
      closed = true;
      disposers.splice(0).forEach((d) => d());
      this.#publishers.delete(id);
      if (this.#byParticipant.get(key(room, participant)) === pub) {
        this.#byParticipant.delete(key(room, participant));
      }
      void pc.close().catch((err: unknown) => log.warn({ err }, 'publisher peer close failed'));
      void pub.masked?.close();
      this.#rooms.leave(room, participant);
      this.#stopRecording(pub);
      log.info('publisher session ended');
    };
    pc.onTrack.subscribe((track: MediaStreamTrack) => this.#onPublisherTrack(pub, track, disposers));
    this.#watch(pc, pub.close, disposers);
    const sdp = await answerOrClose(pc, offer, 'recvonly', () => {
      closed = true;
      disposers.splice(0).forEach((d) => d());
    });
    for (const t of pc.getTransceivers()) {
      if (t.kind === 'audio' || t.kind === 'video') {
        pub.receivers.set(t.kind, { receiver: t.receiver, ssrc: undefined, lastPli: 0 });
      }
      if (t.kind === 'video') {
        // The browser sends the first codec of the answer, which werift keeps in the offer's order.
        pub.videoCodec = videoCodecName(t.codecs.find((c) => videoCodecName(c) !== undefined)) ?? 'vp8';
        pub.videoPayloadTypes = new Set(t.codecs.filter((c) => videoCodecName(c) === pub.videoCodec).map((c) => c.payloadType));
      }
    }
    this.#publishers.set(id, pub);
    this.#byParticipant.set(key(room, participant), pub);
    this.#startRecording(pub);
    this.#rooms.join(room, participant, { role, masked });
    if (this.#rooms.isMasked(room, participant)) {
      this.#startMasked(pub);
    }
    log.info('publisher session started');
    return { id, answer: sdp };
  }

  /** Answers a WHEP offer from `owner` for `participant`'s media, with the rendition the role and mask state allow. */
  async subscribe(room: string, owner: string, participant: string, role: Role, offer: string): Promise<{ id: string; answer: string; rendition: Rendition }> {
    const pc = createPeer({ hostAddresses: this.#hostAddresses });
    const id = randomUUID();
    const log = this.#logger.child({ room, participant, session: id, role });
    const disposers: (() => void)[] = [];
    const sub: Subscriber = {
      id, room, owner, participant, role, pc, senders: new Map(), videoCodecs: new Map(), codecMissing: false, videoSource: undefined, close: () => undefined,
    };
    let closed = false;
    sub.close = () => {
      if (closed) {
        return;
      }
      closed = true;
      disposers.splice(0).forEach((d) => d());
      this.#subscribers.delete(id);
      this.#metrics.setSubscribers(this.#subscribers.size);
      void pc.close().catch((err: unknown) => log.warn({ err }, 'subscriber peer close failed'));
      log.info('subscriber session ended');
    };
    this.#watch(pc, sub.close, disposers);
    const ready = pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        this.#keyframeFor(sub); // its first video packet must start a keyframe
      }
    });
    disposers.push(() => ready.unSubscribe());
    const sdp = await answerOrClose(pc, offer, 'sendonly', () => {
      closed = true;
      disposers.splice(0).forEach((d) => d());
    });
    for (const t of pc.getTransceivers()) {
      if (t.kind === 'audio' || t.kind === 'video') {
        sub.senders.set(t.kind, t.sender);
      }
      for (const c of t.kind === 'video' ? t.codecs : []) {
        const name = videoCodecName(c);
        if (name !== undefined && !sub.videoCodecs.has(name)) {
          sub.videoCodecs.set(name, c);
        }
      }
    }
    // A subscriber's PLI or FIR, read off its transport: werift's router hands a PLI to whatever its
    // sender SSRC names first, which for a recvonly peer is our receiver, not the sender it is about.
    const video = sub.senders.get('video');
    for (const dtls of pc.dtlsTransports) {
      const rtcp = dtls.onRtcp.subscribe((packet: RtcpPacket) => {
        // A PLI names the picture's SSRC; a FIR (fmt 4) carries it in its entries instead.
        if (packet instanceof RtcpPayloadSpecificFeedback && (packet.feedback.count === 4 || packet.feedback.mediaSsrc === video?.ssrc)) {
          this.#onSubscriberRtcp(sub, packet);
        }
      });
      disposers.push(() => rtcp.unSubscribe());
    }
    this.#subscribers.set(id, sub);
    this.#metrics.setSubscribers(this.#subscribers.size);
    const rendition = renditionFor(role, this.#rooms.isMasked(room, participant));
    this.#keyframeFor(sub);
    log.info({ rendition }, 'subscriber session started');
    return { id, answer: sdp, rendition };
  }

  /** Adds trickled candidates to a session; false when there is no such session. */
  async trickle(id: string, candidates: { candidate: string; sdpMid: string | undefined }[]): Promise<boolean> {
    const pc = this.#publishers.get(id)?.pc ?? this.#subscribers.get(id)?.pc;
    if (!pc) {
      return false;
    }
    for (const c of candidates) {
      await pc.addIceCandidate({ candidate: c.candidate, ...(c.sdpMid !== undefined ? { sdpMid: c.sdpMid } : {}) });
    }
    return true;
  }

  /** Ends a session; false when there is no such session. */
  end(id: string): boolean {
    const session = this.#publishers.get(id) ?? this.#subscribers.get(id);
    session?.close();
    return session !== undefined;
  }

  /**
   * Ends every session of a room (subscribers first, so none outlives its
   * source); returns how many. A fleet worker calls it when the room leaves
   * it: the room's mask switches now go to another worker, so nobody may
   * stay on this one.
   */
  endRoom(room: string): number {
    const sessions = [...this.#subscribers.values(), ...this.#publishers.values()].filter((s) => s.room === room);
    for (const session of sessions) {
      session.close();
    }
    return sessions.length;
  }

  /** Ends every session and waits for the masked renditions' processes to exit. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    const pipelines = [...this.#publishers.values()].flatMap((p) => (p.masked ? [p.masked] : []));
    const sealing = this.#sealing;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const s of [...this.#subscribers.values()]) {
      s.close();
    }
    for (const p of [...this.#publishers.values()]) {
      p.close();
    }
    await Promise.all([...pipelines.map((p) => p.close()), ...sealing]);
  }

  /**
   * Ends the session when its connection fails or closes (an ICE failure:
   * consent expiry, about 30 s after the peer goes away). Not the DTLS
   * transport's own state: garbage UDP on the port turns that to failed
   * while media still flows, so watching it let garbage end a session.
   * Once connected, what is dropped on its media port is counted.
   */
  #watch(pc: RTCPeerConnection, close: () => void, disposers: (() => void)[]): void {
    let tapped = false;
    const onState = (s: string): void => {
      if (s === 'failed' || s === 'closed') {
        close();
      } else if (s === 'connected' && !tapped) {
        tapped = true;
        disposers.push(tapTransportDrops(pc, (reason) => this.#metrics.mediaDropped(reason)));
      }
    };
    const state = pc.connectionStateChange.subscribe(onState);
    disposers.push(() => state.unSubscribe());
  }

  #onPublisherTrack(pub: Publisher, track: MediaStreamTrack, disposers: (() => void)[]): void {
    const kind = track.kind;
    if (kind !== 'audio' && kind !== 'video') {
      return;
    }
    const rtp = track.onReceiveRtp.subscribe((packet: RtpPacket) => {
      const entry = pub.receivers.get(kind);
      if (entry) {
        entry.ssrc = packet.header.ssrc;
      }
      if (kind === 'video' && !pub.videoPayloadTypes.has(packet.header.payloadType)) {
        this.#metrics.mediaDropped('other-codec'); // a codec switch mid-session is not followed
        return;
      }
      if (kind === 'video' && pub.keyframeWanted && startsKeyframe(pub.videoCodec, packet.payload)) {
        this.#stopKeyframeRequests(pub);
      }
      this.#forward(pub, kind, packet);
      if (kind === 'video') {
        pub.masked?.pushRtp(packet);
      }
      this.#record(pub, kind, packet);
    });
    disposers.push(() => rtp.unSubscribe());
  }

  /**
   * Sends one publisher packet to each subscriber of its participant: video
   * only where the rendition is 'original'; audio to all, delayed by the
   * masked rendition's latency where the rendition is 'masked'.
   */
  #forward(pub: Publisher, kind: MediaKind, packet: RtpPacket): void {
    if (this.#byParticipant.get(key(pub.room, pub.participant)) !== pub) {
      return;
    }
    const masked = this.#rooms.isMasked(pub.room, pub.participant);
    let bytes: Buffer | undefined;
    for (const sub of this.#subscribersOf(pub.room, pub.participant)) {
      const rendition = renditionFor(sub.role, masked);
      if (kind === 'video' && rendition !== 'original') {
        continue; // never a passthrough video packet to a masked rendition
      }
      const sender = sub.senders.get(kind);
      if (!sender) {
        continue;
      }
      if (kind === 'video' && !connected(sub)) {
        continue; // werift drops what it cannot send yet; the subscriber asks for a keyframe once connected
      }
      if (kind === 'video' && !this.#useCodec(sub, sender, pub.videoCodec)) {
        continue;
      }
      if (kind === 'video' && sub.videoSource !== pub) {
        sender.replaceRTP(packet.header, true); // a new source: keep the subscriber's sequence and clock continuous
        sub.videoSource = pub;
      }
      // sendRtp rewrites the header in place, so each subscriber gets its own copy.
      bytes ??= packet.serialize();
      const copy = Buffer.from(bytes);
      const delay = kind === 'audio' && rendition === 'masked' && pub.masked ? pub.maskedLatencyMs : 0;
      if (delay >= 1) {
        setTimeout(() => this.#send(sub, sender, copy), delay).unref();
      } else {
        this.#send(sub, sender, copy);
      }
    }
  }

  /** Sends one masked-rendition packet to each subscriber whose rendition is 'masked', joining it at a keyframe. */
  #forwardMasked(pub: Publisher, pipeline: MaskedPipeline, { packet, keyframeStart }: MaskedPacket): void {
    if (this.#byParticipant.get(key(pub.room, pub.participant)) !== pub || pub.masked !== pipeline) {
      return;
    }
    const masked = this.#rooms.isMasked(pub.room, pub.participant);
    let bytes: Buffer | undefined;
    for (const sub of this.#subscribersOf(pub.room, pub.participant)) {
      if (renditionFor(sub.role, masked) !== 'masked') {
        continue;
      }
      const sender = sub.senders.get('video');
      if (!sender) {
        continue;
      }
      if (!connected(sub)) {
        continue; // a keyframe sent now would be dropped by werift, and the subscriber would start on a delta frame
      }
      if (sub.videoSource !== pipeline) {
        if (!keyframeStart) {
          // Delta frames need the picture before them; from another source they would show it through.
          pipeline.requestKeyframe();
          continue;
        }
        sender.replaceRTP(packet.header, true);
        sub.videoSource = pipeline;
      }
      this.#useCodec(sub, sender, 'vp8'); // negotiated with every subscriber (checkSubscribeOffer)
      bytes ??= packet.serialize();
      this.#send(sub, sender, Buffer.from(bytes));
    }
  }

  /**
   * Points the subscriber's video sender at the negotiated payload type of
   * `codec` (one SSRC may switch payload types at a keyframe without
   * renegotiation). False when the subscriber did not negotiate it: it then
   * gets no video from this source, and the room hears why, once.
   */
  #useCodec(sub: Subscriber, sender: RTCRtpSender, codec: VideoCodecName): boolean {
    const negotiated = sub.videoCodecs.get(codec);
    if (!negotiated) {
      if (!sub.codecMissing) {
        sub.codecMissing = true;
        this.#rooms.report(sub.room, {
          type: 'error',
          participant: sub.participant,
          reason: `CODEC_MISMATCH: a ${sub.role} subscriber did not offer ${codec.toUpperCase()}, which the publisher sends; it gets no video`,
        });
      }
      return false;
    }
    if (sender.codec !== negotiated) {
      sender.codec = negotiated;
    }
    return true;
  }

  #send(sub: Subscriber, sender: RTCRtpSender, bytes: Buffer): void {
    sender.sendRtp(bytes).catch((err: unknown) => this.#logger.debug({ err, session: sub.id }, 'rtp send failed'));
  }

  #subscribersOf(room: string, participant: string): Subscriber[] {
    return [...this.#subscribers.values()].filter((s) => s.room === room && s.participant === participant);
  }

  /** Starts the participant's masked rendition (once per publishing session). */
  #startMasked(pub: Publisher): void {
    if (pub.masked && !pub.masked.closed) {
      return;
    }
    if (this.#maskedRunning() >= this.#maxMasked) {
      // Fail closed: without a rendition its masked subscribers get no video at all.
      this.#rooms.report(pub.room, {
        type: 'error',
        participant: pub.participant,
        reason: `MASKED_CAPACITY: this worker runs its maximum of ${this.#maxMasked} masked renditions; non-hiring subscribers get no video`,
      });
      return;
    }
    const log = this.#logger.child({ room: pub.room, participant: pub.participant, session: pub.id, stage: 'masked' });
    const pipeline = new MaskedPipeline({
      config: this.#maskConfig,
      logger: log,
      metrics: this.#metrics,
      codec: pub.videoCodec,
      ...(this.#createDetector ? { createDetector: this.#createDetector } : {}),
    });
    pub.masked = pipeline;
    pub.maskedLatencyMs = 0;
    pipeline.on('rtp', (m) => this.#forwardMasked(pub, pipeline, m));
    pipeline.on('need-keyframe', () => this.#requestKeyframe(pub.room, pub.participant, true));
    pipeline.on('frame', ({ latencyMs }) => {
      pub.maskedLatencyMs = pub.maskedLatencyMs === 0 ? latencyMs : 0.9 * pub.maskedLatencyMs + 0.1 * latencyMs;
    });
    pipeline.on('event', (event) => this.#rooms.report(pub.room, { ...event, participant: pub.participant }));
    this.#requestKeyframe(pub.room, pub.participant, true);
  }

  /** Asks for the keyframe a subscriber needs to start or resume: from the masked rendition or the publisher. */
  #keyframeFor(sub: Subscriber): void {
    const masked = this.#rooms.isMasked(sub.room, sub.participant);
    if (renditionFor(sub.role, masked) === 'masked') {
      this.#byParticipant.get(key(sub.room, sub.participant))?.masked?.requestKeyframe();
    } else {
      this.#requestKeyframe(sub.room, sub.participant);
    }
  }

  #onSubscriberRtcp(sub: Subscriber, packet: RtcpPacket): void {
    if (!(packet instanceof RtcpPayloadSpecificFeedback)) {
      return;
    }
    const fb = packet.feedback;
    // PLI is fmt 1, FIR fmt 4 (RFC 4585, RFC 5104); werift does not export its FIR class.
    if (!(fb instanceof PictureLossIndication || fb.count === 4)) {
      return;
    }
    this.#keyframeFor(sub);
  }

  /** Opens the room's recording if this is its first publisher, and this publisher's evidence tracks. */
  #startRecording(pub: Publisher): void {
    const evidence = this.#evidence;
    if (!evidence) {
      return;
    }
    let recording = this.#recordings.get(pub.room);
    if (!recording) {
      const sessionId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
      const recorder = new EvidenceRecorder({
        root: evidence.root,
        room: pub.room,
        sessionId,
        signingKey: evidence.signingKey,
        logger: this.#logger,
        ...(evidence.segmentSeconds !== undefined ? { segmentSeconds: evidence.segmentSeconds } : {}),
      });
      recorder.on('keyframe-needed', (participant) => this.#requestKeyframe(pub.room, participant));
      recorder.on('evidence-error', (err) => {
        // Recording stops; live media does not. What was sealed still verifies.
        this.#logger.error({ err, room: pub.room }, 'evidence recording stopped');
        this.#rooms.report(pub.room, { type: 'evidence-error', reason: `${err.code}: ${err.message}` });
      });
      recorder.start().catch(() => undefined); // a failure is reported through 'evidence-error'
      recording = { recorder, publishers: 0 };
      this.#recordings.set(pub.room, recording);
      // What the room saw while nothing recorded it (a mask switched before the first join, a failover): kept events first.
      const replay = this.#rooms.subscribe(pub.room, (event) => this.#recordRoomEvent(event), { afterSeq: this.#recordedSeq.get(pub.room) ?? 0 });
      replay();
    }
    recording.publishers += 1;
    pub.evidence = {
      video: recording.recorder.addVideoTrack(pub.participant, pub.videoCodec),
      audio: recording.recorder.addAudioTrack(pub.participant),
      frames: pub.videoCodec === 'h264' ? new H264Depacketizer() : new Vp8Depacketizer(),
      audioOrder: new SequenceGate(),
    };
  }

  /** The publisher's original media into its evidence tracks: whole VP8 frames or H.264 access units, Opus packets as received. */
  #record(pub: Publisher, kind: MediaKind, packet: RtpPacket): void {
    const evidence = pub.evidence;
    if (!evidence) {
      return;
    }
    if (kind === 'audio') {
      if (!evidence.audioOrder.accept(packet.header)) {
        return; // a late or repeated packet: the recording never steps back in time
      }
      evidence.audio.pushPacket({ payload: packet.payload, timestamp48k: packet.header.timestamp });
      return;
    }
    const wasWaiting = evidence.frames.waitingForKeyframe;
    const frame = evidence.frames.push(packet);
    if (frame) {
      evidence.video.pushFrame({ data: frame.data, timestamp90k: frame.timestamp, keyframe: frame.keyframe, arrivalMs: Date.now() });
    } else if (evidence.frames.waitingForKeyframe && !wasWaiting) {
      this.#requestKeyframe(pub.room, pub.participant, true); // a loss: the recording resumes at the next keyframe
    }
  }

  /** The room's recording is sealed when its last publisher leaves. */
  #stopRecording(pub: Publisher): void {
    const recording = this.#recordings.get(pub.room);
    if (!pub.evidence || !recording) {
      return;
    }
    pub.evidence = undefined;
    recording.publishers -= 1;
    if (recording.publishers > 0) {
      return;
    }
    this.#recordings.delete(pub.room);
    const sealing = recording.recorder.close().then((result) => {
      if (!result.ok) {
        this.#logger.error({ err: result.error, room: pub.room }, 'evidence session could not be sealed');
      } else {
        this.#evidence?.onSealed?.(pub.room, recording.recorder.sessionId);
      }
    });
    this.#sealing.add(sealing);
    void sealing.finally(() => this.#sealing.delete(sealing));
  }

  /**
   * Urgent PLIs every 200 ms until the publisher's next keyframe arrives, for
   * at most 2 s: a browser's encoder ignores a request that comes too soon
   * after its last keyframe, so one PLI may be lost.
   */
  #requestKeyframesUntilOne(pub: Publisher): void {
    this.#stopKeyframeRequests(pub);
    const until = Date.now() + 2000;
    const ask = (): void => {
      if (Date.now() > until || this.#byParticipant.get(key(pub.room, pub.participant)) !== pub) {
        this.#stopKeyframeRequests(pub);
        return;
      }
      this.#requestKeyframe(pub.room, pub.participant, true);
    };
    pub.keyframeWanted = setInterval(ask, 200).unref();
    ask();
  }

  #stopKeyframeRequests(pub: Publisher): void {
    clearInterval(pub.keyframeWanted);
    pub.keyframeWanted = undefined;
  }

  /** Sends a PLI to the publisher's video track, at most one per interval unless `urgent` (the masked rendition's decoder is waiting). */
  #requestKeyframe(room: string, participant: string, urgent = false): void {
    const video = this.#byParticipant.get(key(room, participant))?.receivers.get('video');
    if (video?.ssrc === undefined) {
      return;
    }
    const now = Date.now();
    if (now - video.lastPli < (urgent ? 100 : this.#pliIntervalMs)) {
      return;
    }
    video.lastPli = now;
    video.receiver.sendRtcpPLI(video.ssrc).catch((err: unknown) => this.#logger.debug({ err, room }, 'PLI send failed'));
  }

  /** A room event into the room's recording, once: `roomSeq` says where it stands in the room's log. */
  #recordRoomEvent(event: RoomEvent): void {
    const { room, seq, at, ...data } = event;
    const recording = this.#recordings.get(room);
    if (!recording || event.type === 'evidence-error' || seq <= (this.#recordedSeq.get(room) ?? 0)) {
      return;
    }
    this.#recordedSeq.set(room, seq);
    recording.recorder.event(`room:${event.type}`, { ...data, roomSeq: seq, roomAt: at });
  }

  #onRoomEvent(event: RoomEvent): void {
    this.#recordRoomEvent(event);
    if (event.type === 'mask-off') {
      // The audience cannot decode the passthrough before the publisher's next keyframe, and must see it within 1 s.
      const pub = this.#byParticipant.get(key(event.room, event.participant));
      if (pub) {
        this.#requestKeyframesUntilOne(pub);
      }
    } else if (event.type === 'mask-on') {
      const pub = this.#byParticipant.get(key(event.room, event.participant));
      if (pub) {
        this.#coverPassthrough(pub);
        this.#startMasked(pub);
        pub.masked?.requestKeyframe();
      }
    }
  }

  /**
   * At mask on: each non-hiring subscriber whose picture still comes from the
   * passthrough gets the grey cover keyframe, so the last unmasked frame does
   * not stay on its screen until the masked rendition's first keyframe (or
   * for good, when no masked rendition can run).
   */
  #coverPassthrough(pub: Publisher): void {
    const covered = (sub: Subscriber): boolean =>
      sub.videoSource === pub && renditionFor(sub.role, this.#rooms.isMasked(pub.room, pub.participant)) === 'masked' && connected(sub);
    if (!this.#subscribersOf(pub.room, pub.participant).some(covered)) {
      return;
    }
    coverKeyframe().then((frame) => {
      for (const sub of this.#subscribersOf(pub.room, pub.participant).filter(covered)) {
        const sender = sub.senders.get('video');
        if (!sender) {
          continue;
        }
        const packets = packetizeVp8(frame, { timestamp: 0, seq: 0, ssrc: 0, payloadType: 96 });
        const first = packets[0];
        if (first && this.#useCodec(sub, sender, 'vp8')) {
          sender.replaceRTP(first.header, true); // continuous for the subscriber, like any new source
        }
        sub.videoSource = 'cover';
        for (const packet of packets) {
          this.#send(sub, sender, packet.serialize());
        }
      }
    }, (err: unknown) => this.#logger.warn({ err, room: pub.room, participant: pub.participant }, 'the cover keyframe could not be made'));
  }
}
