import { randomUUID } from 'node:crypto';
import {
  PictureLossIndication,
  RtcpPayloadSpecificFeedback,
  type MediaStreamTrack,
  type RTCPeerConnection,
  type RTCRtpReceiver,
  type RTCRtpSender,
  type RtcpPacket,
  type RtpPacket,
} from 'werift';
import type { Logger } from '../core/index.js';
import type { MediaMetrics } from '../server/metrics.js';
import type { RoomEvent, RoomRegistry } from '../server/rooms.js';
import { renditionFor, type Rendition, type Role } from '../server/tokens.js';
import { answer, createPeer } from './peer.js';

/**
 * The media sessions of `livemask serve`: WHIP publishers and WHEP
 * subscribers, and the passthrough forwarding between them. The masked
 * rendition is not built yet, so it fails closed: a subscriber whose
 * rendition is 'masked' gets the publisher's audio and no video packet at
 * all. The rendition is decided per video packet from the registry's mask
 * state, so a mask switch applies from the very next packet.
 */

export type MediaKind = 'audio' | 'video';

export interface LiveSessionsOptions {
  rooms: RoomRegistry;
  metrics: MediaMetrics;
  logger: Logger;
  /** Host addresses to gather ICE candidates on. Default ['127.0.0.1']. */
  hostAddresses?: string[];
  /** Minimum gap between keyframe requests to one publisher track. Default 500 ms. */
  pliIntervalMs?: number;
}

interface Publisher {
  id: string;
  room: string;
  participant: string;
  pc: RTCPeerConnection;
  receivers: Map<MediaKind, { receiver: RTCRtpReceiver; ssrc: number | undefined; lastPli: number }>;
  close: () => void;
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

export class LiveSessions {
  readonly #rooms: RoomRegistry;
  readonly #metrics: MediaMetrics;
  readonly #logger: Logger;
  readonly #hostAddresses: string[];
  readonly #pliIntervalMs: number;
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
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  get publisherCount(): number {
    return this.#publishers.size;
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
    const pub: Publisher = { id, room, participant, pc, receivers: new Map(), close: () => undefined };
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
      this.#rooms.leave(room, participant);
      log.info('publisher session ended');
    };
    pc.onTrack.subscribe((track: MediaStreamTrack) => this.#onPublisherTrack(pub, track, disposers));
    this.#watch(pc, pub.close, disposers);
    let sdp: string;
    try {
      sdp = await answer(pc, offer, 'recvonly');
    } catch (err) {
      closed = true;
      disposers.splice(0).forEach((d) => d());
      await pc.close();
      throw err;
    }
    for (const t of pc.getTransceivers()) {
      if (t.kind === 'audio' || t.kind === 'video') {
        pub.receivers.set(t.kind, { receiver: t.receiver, ssrc: undefined, lastPli: 0 });
      }
    }
    this.#publishers.set(id, pub);
    this.#byParticipant.set(key(room, participant), pub);
    this.#rooms.join(room, participant, { role, masked });
    log.info('publisher session started');
    return { id, answer: sdp };
  }

  /** Answers a WHEP offer from `owner` for `participant`'s media, with the rendition the role and mask state allow. */
  async subscribe(room: string, owner: string, participant: string, role: Role, offer: string): Promise<{ id: string; answer: string; rendition: Rendition }> {
    const pc = createPeer({ hostAddresses: this.#hostAddresses });
    const id = randomUUID();
    const log = this.#logger.child({ room, participant, session: id, role });
    const disposers: (() => void)[] = [];
    const sub: Subscriber = { id, room, owner, participant, role, pc, senders: new Map(), close: () => undefined };
    let closed = false;
    sub.close = () => {
      if (closed) {
        return;
      }
      closed = true;
      disposers.splice(0).forEach((d) => d());
      this.#subscribers.delete(id);
      this.#metrics.setSubscribers(this.#subscribers.size);
      if (this.#subscribers.size === 0) {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
      }
      void pc.close().catch((err: unknown) => log.warn({ err }, 'subscriber peer close failed'));
      log.info('subscriber session ended');
    };
    this.#watch(pc, sub.close, disposers);
    let sdp: string;
    try {
      sdp = await answer(pc, offer, 'sendonly');
    } catch (err) {
      closed = true;
      disposers.splice(0).forEach((d) => d());
      await pc.close();
      throw err;
    }
    for (const t of pc.getTransceivers()) {
      if (t.kind === 'audio' || t.kind === 'video') {
        sub.senders.set(t.kind, t.sender);
      }
      if (t.kind === 'video') {
        const rtcp = t.sender.onRtcp.subscribe((packet: RtcpPacket) => this.#onSubscriberRtcp(sub, packet));
        disposers.push(() => rtcp.unSubscribe());
      }
    }
    this.#subscribers.set(id, sub);
    this.#unsubscribe ??= this.#rooms.on('event', (event) => this.#onRoomEvent(event));
    this.#metrics.setSubscribers(this.#subscribers.size);
    const rendition = renditionFor(role, this.#rooms.isMasked(room, participant));
    if (rendition === 'masked') {
      this.#reportMaskedUnavailable(room, participant);
    }
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

  /** Ends every session. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const s of [...this.#subscribers.values()]) {
      s.close();
    }
    for (const p of [...this.#publishers.values()]) {
      p.close();
    }
  }

  /**
   * Ends the session when its connection fails or closes (an ICE failure:
   * consent expiry, about 30 s after the peer goes away). Not the DTLS
   * transport's own state: garbage UDP on the port turns that to failed
   * while media still flows, so watching it let garbage end a session.
   */
  #watch(pc: RTCPeerConnection, close: () => void, disposers: (() => void)[]): void {
    const onState = (s: string): void => {
      if (s === 'failed' || s === 'closed') {
        close();
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
      this.#forward(pub, kind, packet);
    });
    disposers.push(() => rtp.unSubscribe());
  }

  /** Sends one publisher packet to each subscriber of its participant; video only where the rendition is 'original'. */
  #forward(pub: Publisher, kind: MediaKind, packet: RtpPacket): void {
    if (this.#byParticipant.get(key(pub.room, pub.participant)) !== pub) {
      return;
    }
    const masked = this.#rooms.isMasked(pub.room, pub.participant);
    let bytes: Buffer | undefined;
    for (const sub of this.#subscribers.values()) {
      if (sub.room !== pub.room || sub.participant !== pub.participant) {
        continue;
      }
      if (kind === 'video' && renditionFor(sub.role, masked) !== 'original') {
        continue; // fail closed: the masked rendition is not built yet
      }
      const sender = sub.senders.get(kind);
      if (!sender) {
        continue;
      }
      // sendRtp rewrites the header in place, so each subscriber gets its own copy.
      bytes ??= packet.serialize();
      sender.sendRtp(Buffer.from(bytes)).catch((err: unknown) => this.#logger.debug({ err, session: sub.id }, 'rtp send failed'));
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
    if (renditionFor(sub.role, this.#rooms.isMasked(sub.room, sub.participant)) !== 'original') {
      return;
    }
    this.#requestKeyframe(sub.room, sub.participant);
  }

  /** Sends a PLI to the publisher's video track, at most one per interval. */
  #requestKeyframe(room: string, participant: string): void {
    const video = this.#byParticipant.get(key(room, participant))?.receivers.get('video');
    if (video?.ssrc === undefined) {
      return;
    }
    const now = Date.now();
    if (now - video.lastPli < this.#pliIntervalMs) {
      return;
    }
    video.lastPli = now;
    video.receiver.sendRtcpPLI(video.ssrc).catch((err: unknown) => this.#logger.debug({ err, room }, 'PLI send failed'));
  }

  #onRoomEvent(event: RoomEvent): void {
    if (event.type === 'mask-off') {
      this.#requestKeyframe(event.room, event.participant);
    } else if (event.type === 'mask-on') {
      const affected = [...this.#subscribers.values()].some(
        (s) => s.room === event.room && s.participant === event.participant && renditionFor(s.role, true) === 'masked',
      );
      if (affected) {
        this.#reportMaskedUnavailable(event.room, event.participant);
      }
    }
  }

  #reportMaskedUnavailable(room: string, participant: string): void {
    this.#rooms.report(room, {
      type: 'error',
      participant,
      reason: 'MASKED_RENDITION_UNAVAILABLE: the masked rendition is not built yet; non-hiring subscribers get audio only',
    });
  }
}
