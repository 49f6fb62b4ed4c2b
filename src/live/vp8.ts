import { RtpHeader, RtpPacket } from 'werift';

/**
 * VP8 over RTP (RFC 7741), both ways: whole frames out of a publisher's
 * packets, and packets out of the masked rendition's encoded frames. Pure.
 */

export interface Vp8Descriptor {
  /** S: the packet starts a VP8 partition. */
  start: boolean;
  /** The partition index (PID). */
  partition: number;
  /** Bytes of payload descriptor before the VP8 data. */
  length: number;
}

/** Parses the payload descriptor; undefined when the payload is too short for what it declares. */
export function parseVp8Descriptor(payload: Uint8Array): Vp8Descriptor | undefined {
  const first = payload[0];
  if (first === undefined) {
    return undefined;
  }
  let length = 1;
  if (first & 0x80) {
    const ext = payload[1];
    if (ext === undefined) {
      return undefined;
    }
    length = 2;
    if (ext & 0x80) {
      const pic = payload[2];
      if (pic === undefined) {
        return undefined;
      }
      length += pic & 0x80 ? 2 : 1; // I: 7- or 15-bit PictureID
    }
    if (ext & 0x40) {
      length += 1; // L: TL0PICIDX
    }
    if (ext & 0x30) {
      length += 1; // T or K: TID/Y/KEYIDX
    }
  }
  if (payload.length <= length) {
    return undefined;
  }
  return { start: (first & 0x10) !== 0, partition: first & 0x07, length };
}

export interface Vp8FrameInfo {
  keyframe: boolean;
  /** Set on keyframes only (from the frame header). */
  width?: number;
  height?: number;
}

/** Reads the frame tag (and, on a keyframe, the size); undefined when it is not a VP8 frame. */
export function vp8FrameInfo(frame: Uint8Array): Vp8FrameInfo | undefined {
  if (frame.length < 3) {
    return undefined;
  }
  const keyframe = ((frame[0] ?? 1) & 0x01) === 0;
  if (!keyframe) {
    return { keyframe };
  }
  if (frame.length < 10 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) {
    return undefined;
  }
  const width = ((frame[6] ?? 0) | ((frame[7] ?? 0) << 8)) & 0x3fff;
  const height = ((frame[8] ?? 0) | ((frame[9] ?? 0) << 8)) & 0x3fff;
  return width > 0 && height > 0 ? { keyframe, width, height } : undefined;
}

/**
 * Lets RTP packets through in sequence order only: a packet no newer than the
 * newest one seen (a late retransmission, a duplicate, one reordered on the
 * way) is refused, so that what is built from the packets never steps back in
 * time. A new SSRC is a new stream and starts afresh.
 */
export class SequenceGate {
  #ssrc: number | undefined;
  #newest: number | undefined;
  /** Packets refused as late or repeated. */
  refused = 0;

  accept(header: { ssrc: number; sequenceNumber: number }): boolean {
    const { ssrc, sequenceNumber: seq } = header;
    if (ssrc !== this.#ssrc || this.#newest === undefined) {
      this.#ssrc = ssrc;
      this.#newest = seq;
      return true;
    }
    const ahead = (seq - this.#newest) & 0xffff;
    if (ahead === 0 || ahead >= 0x8000) {
      this.refused += 1;
      return false;
    }
    this.#newest = seq;
    return true;
  }
}

export interface Vp8Frame {
  data: Buffer;
  /** RTP timestamp (90 kHz) of the frame's packets. */
  timestamp: number;
  keyframe: boolean;
  width?: number;
  height?: number;
}

/**
 * Joins a publisher's VP8 RTP packets into whole frames. A frame is the
 * packets of one timestamp from a partition start to the marker bit. A
 * sequence gap inside a frame drops it, and every frame after it until the
 * next keyframe (a decoder fed a frame whose reference was lost shows
 * garbage); `waitingForKeyframe` tells the caller to ask for one. Late or
 * repeated packets are ignored ({@link SequenceGate}), so frames come out in
 * time order.
 */
export class Vp8Depacketizer {
  readonly #order = new SequenceGate();
  #parts: Buffer[] = [];
  #timestamp: number | undefined;
  #lastSeq: number | undefined;
  #broken = true;
  #needKeyframe = true;
  /** Frames dropped because of loss or a missing keyframe. */
  dropped = 0;

  get waitingForKeyframe(): boolean {
    return this.#needKeyframe;
  }

  /** Forget everything: the next frame must be a keyframe. */
  reset(): void {
    this.#parts = [];
    this.#timestamp = undefined;
    this.#lastSeq = undefined;
    this.#broken = true;
    this.#needKeyframe = true;
  }

  /** Adds one packet; returns the frame it completes, if any. */
  push(packet: RtpPacket): Vp8Frame | undefined {
    const { header, payload } = packet;
    if (!this.#order.accept(header)) {
      return undefined; // already past it: a late retransmission or a duplicate
    }
    const desc = parseVp8Descriptor(payload);
    const seq = header.sequenceNumber;
    const contiguous = this.#lastSeq === undefined || ((this.#lastSeq + 1) & 0xffff) === seq;
    this.#lastSeq = seq;
    if (!desc) {
      this.#broken = true;
      return undefined;
    }
    const newFrame = desc.start && desc.partition === 0;
    if (newFrame) {
      if (this.#parts.length > 0) {
        this.dropped += 1; // the previous frame never got its marker
      }
      if (!contiguous) {
        this.#needKeyframe = true; // whole frames may have been lost in the gap
      }
      this.#parts = [];
      this.#timestamp = header.timestamp;
      this.#broken = false;
    } else if (!contiguous || header.timestamp !== this.#timestamp) {
      this.#broken = true;
    }
    if (this.#broken) {
      if (this.#parts.length > 0) {
        this.dropped += 1;
        this.#needKeyframe = true;
      }
      this.#parts = [];
      return undefined;
    }
    this.#parts.push(Buffer.from(payload.subarray(desc.length)));
    if (!header.marker) {
      return undefined;
    }
    const data = Buffer.concat(this.#parts);
    this.#parts = [];
    this.#broken = true;
    const info = vp8FrameInfo(data);
    if (!info) {
      this.dropped += 1;
      this.#needKeyframe = true;
      return undefined;
    }
    if (this.#needKeyframe && !info.keyframe) {
      this.dropped += 1;
      return undefined;
    }
    this.#needKeyframe = false;
    return { data, timestamp: header.timestamp, ...info };
  }
}

/** Largest VP8 payload per packet, leaving room for SRTP and header extensions under a 1200-byte MTU. */
export const VP8_MAX_PAYLOAD = 1100;

/**
 * Cuts one encoded frame into RTP packets: a one-byte descriptor (S set on
 * the first), marker on the last. Sequence numbers continue from `seq`.
 */
export function packetizeVp8(frame: Uint8Array, options: { timestamp: number; seq: number; ssrc: number; payloadType: number }): RtpPacket[] {
  const packets: RtpPacket[] = [];
  const count = Math.max(1, Math.ceil(frame.length / VP8_MAX_PAYLOAD));
  const size = Math.ceil(frame.length / count);
  for (let i = 0; i < count; i += 1) {
    const chunk = frame.subarray(i * size, Math.min(frame.length, (i + 1) * size));
    const payload = Buffer.concat([Buffer.from([i === 0 ? 0x10 : 0x00]), chunk]);
    const header = new RtpHeader({
      payloadType: options.payloadType,
      sequenceNumber: (options.seq + i) & 0xffff,
      timestamp: options.timestamp >>> 0,
      ssrc: options.ssrc,
      marker: i === count - 1,
    });
    packets.push(new RtpPacket(header, payload));
  }
  return packets;
}

/** True when an RTP payload starts a VP8 keyframe (S set, partition 0, and the frame tag's P bit clear). Pure. */
export function startsVp8Keyframe(payload: Uint8Array): boolean {
  const d = parseVp8Descriptor(payload);
  return d !== undefined && d.start && d.partition === 0 && ((payload[d.length] ?? 1) & 0x01) === 0;
}
