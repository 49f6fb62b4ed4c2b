import { RtpHeader, RtpPacket } from 'werift';
import { NAL_TYPE, nalType, spsPictureSize, toAvcc } from '../media/h264.js';
import { SequenceGate, type Vp8Frame } from './vp8.js';

/**
 * H.264 over RTP (RFC 6184, packetization-mode 1: single NAL unit, STAP-A and
 * FU-A packets), both ways: access units out of a publisher's packets, and
 * packets out of an encoded access unit. Pure.
 */

const STAP_A = 24;
const FU_A = 28;

/** Largest H.264 payload per packet, as for VP8: room for SRTP and header extensions under a 1200-byte MTU. */
export const H264_MAX_PAYLOAD = 1100;

/** The NAL unit types an RTP payload starts or carries whole (STAP-A: each aggregated one; FU-A: the fragmented one, with whether this is its start). */
function payloadNals(payload: Uint8Array): { type: number; start: boolean }[] {
  const type = nalType(payload[0]);
  if (type === STAP_A) {
    const types: { type: number; start: boolean }[] = [];
    for (let at = 1; at + 2 < payload.length;) {
      const size = ((payload[at] ?? 0) << 8) | (payload[at + 1] ?? 0);
      types.push({ type: nalType(payload[at + 2]), start: true });
      at += 2 + size;
    }
    return types;
  }
  if (type === FU_A) {
    const fu = payload[1] ?? 0;
    return [{ type: nalType(fu), start: (fu & 0x80) !== 0 }];
  }
  return type >= 1 && type <= 23 ? [{ type, start: true }] : [];
}

/** True when an RTP payload starts an IDR picture or carries an SPS (the start of a keyframe as browsers send it). Pure. */
export function startsH264Keyframe(payload: Uint8Array): boolean {
  return payloadNals(payload).some((n) => n.start && (n.type === NAL_TYPE.idr || n.type === NAL_TYPE.sps));
}

/** An access unit: `data` is length-prefixed (AVC form), with SPS and PPS in front of every keyframe. */
export type H264Frame = Vp8Frame;

/**
 * Joins a publisher's H.264 RTP packets into access units. An access unit is
 * the packets of one timestamp up to the marker bit. As with VP8, a sequence
 * gap drops the unit and every one after it until the next IDR, and late or
 * repeated packets are ignored. The latest SPS and PPS are kept and put in
 * front of each keyframe that lacks them, so every keyframe can start a
 * decoder or an evidence segment alone.
 */
export class H264Depacketizer {
  readonly #order = new SequenceGate();
  #nals: Buffer[] = [];
  #fragment: Buffer[] | undefined;
  #timestamp: number | undefined;
  #lastSeq: number | undefined;
  #broken = true;
  #needKeyframe = true;
  /** The latest readable SPS, with the picture size it declares (read once). */
  #sps: { nal: Buffer; width: number; height: number } | undefined;
  #pps: Buffer | undefined;
  /** Access units dropped because of loss or a missing keyframe. */
  dropped = 0;

  get waitingForKeyframe(): boolean {
    return this.#needKeyframe;
  }

  /** Forget the unit in progress: the next one must be a keyframe. The parameter sets are kept. */
  reset(): void {
    this.#nals = [];
    this.#fragment = undefined;
    this.#timestamp = undefined;
    this.#lastSeq = undefined;
    this.#broken = true;
    this.#needKeyframe = true;
  }

  push(packet: RtpPacket): H264Frame | undefined {
    const { header, payload } = packet;
    if (!this.#order.accept(header)) {
      return undefined;
    }
    const seq = header.sequenceNumber;
    const contiguous = this.#lastSeq === undefined || ((this.#lastSeq + 1) & 0xffff) === seq;
    this.#lastSeq = seq;
    if (header.timestamp !== this.#timestamp) {
      if (this.#nals.length > 0 || this.#fragment) {
        this.dropped += 1; // the previous unit never got its marker
      }
      if (!contiguous) {
        this.#needKeyframe = true;
      }
      this.#nals = [];
      this.#fragment = undefined;
      this.#timestamp = header.timestamp;
      this.#broken = false;
    } else if (!contiguous) {
      this.#broken = true;
    }
    if (this.#broken || !this.#take(Buffer.from(payload))) {
      if (this.#nals.length > 0 || this.#fragment) {
        this.dropped += 1;
      }
      this.#needKeyframe = true;
      this.#broken = true;
      this.#nals = [];
      this.#fragment = undefined;
      return undefined;
    }
    if (!header.marker) {
      return undefined;
    }
    const nals = this.#nals;
    this.#nals = [];
    this.#broken = true;
    if (this.#fragment || nals.length === 0) {
      this.#fragment = undefined;
      this.dropped += 1;
      this.#needKeyframe = true;
      return undefined;
    }
    return this.#frame(nals, header.timestamp);
  }

  /** Adds one payload's NAL units; false when the payload is malformed or out of place. */
  #take(payload: Buffer): boolean {
    const type = nalType(payload[0]);
    if (type === STAP_A) {
      for (let at = 1; at < payload.length;) {
        if (at + 2 > payload.length) {
          return false;
        }
        const size = payload.readUInt16BE(at);
        if (size === 0 || at + 2 + size > payload.length) {
          return false;
        }
        this.#nals.push(payload.subarray(at + 2, at + 2 + size));
        at += 2 + size;
      }
      return true;
    }
    if (type === FU_A) {
      const fu = payload[1];
      if (fu === undefined || payload.length < 3) {
        return false;
      }
      const start = (fu & 0x80) !== 0;
      const end = (fu & 0x40) !== 0;
      if (start) {
        if (this.#fragment) {
          return false;
        }
        this.#fragment = [Buffer.from([((payload[0] ?? 0) & 0xe0) | (fu & 0x1f)])];
      } else if (!this.#fragment) {
        return false; // a middle or end without its start
      }
      this.#fragment.push(payload.subarray(2));
      if (end) {
        this.#nals.push(Buffer.concat(this.#fragment));
        this.#fragment = undefined;
      }
      return true;
    }
    if (type >= 1 && type <= 23 && !this.#fragment) {
      this.#nals.push(payload);
      return true;
    }
    return false;
  }

  #frame(nals: Buffer[], timestamp: number): H264Frame | undefined {
    let sps: Buffer | undefined;
    let pps: Buffer | undefined;
    let idr = false;
    const body: Buffer[] = [];
    for (const nal of nals) {
      const type = nalType(nal[0]);
      if (type === NAL_TYPE.sps) {
        sps = nal;
      } else if (type === NAL_TYPE.pps) {
        pps = nal;
      } else if (type !== NAL_TYPE.aud) {
        idr ||= type === NAL_TYPE.idr;
        body.push(nal);
      }
    }
    const size = sps ? spsPictureSize(sps) : undefined;
    if (sps && size) {
      this.#sps = { nal: sps, ...size };
    }
    this.#pps = pps ?? this.#pps;
    if (body.length === 0) {
      return undefined; // parameter sets alone: kept for the next IDR
    }
    const keyframe = idr && this.#sps !== undefined && this.#pps !== undefined;
    if (this.#needKeyframe && !keyframe) {
      this.dropped += 1;
      return undefined;
    }
    this.#needKeyframe = false;
    if (!keyframe || !this.#sps || !this.#pps) {
      return { data: toAvcc(body), timestamp, keyframe: false };
    }
    const { nal, width, height } = this.#sps;
    return { data: toAvcc([nal, this.#pps, ...body]), timestamp, keyframe: true, width, height };
  }
}

/**
 * Cuts one access unit (NAL units, without start codes) into RTP packets: a
 * NAL unit that fits goes alone, a larger one as FU-A fragments; the marker
 * is set on the last packet. Sequence numbers continue from `seq`.
 */
export function packetizeH264(
  nals: readonly Uint8Array[], options: { timestamp: number; seq: number; ssrc: number; payloadType: number },
): RtpPacket[] {
  const payloads: Buffer[] = [];
  for (const nal of nals) {
    if (nal.length <= H264_MAX_PAYLOAD) {
      payloads.push(Buffer.from(nal));
      continue;
    }
    const indicator = ((nal[0] ?? 0) & 0xe0) | FU_A;
    const type = nalType(nal[0]);
    const body = nal.subarray(1);
    const count = Math.ceil(body.length / (H264_MAX_PAYLOAD - 2));
    const size = Math.ceil(body.length / count);
    for (let i = 0; i < count; i += 1) {
      const fu = type | (i === 0 ? 0x80 : 0) | (i === count - 1 ? 0x40 : 0);
      payloads.push(Buffer.concat([Buffer.from([indicator, fu]), body.subarray(i * size, Math.min(body.length, (i + 1) * size))]));
    }
  }
  return payloads.map((payload, i) => new RtpPacket(new RtpHeader({
    payloadType: options.payloadType,
    sequenceNumber: (options.seq + i) & 0xffff,
    timestamp: options.timestamp >>> 0,
    ssrc: options.ssrc,
    marker: i === payloads.length - 1,
  }), payload));
}

/** Splits an Annex B byte stream (start codes 00 00 01 or 00 00 00 01) into NAL units. */
export function annexBNals(stream: Uint8Array): Buffer[] {
  const buf = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  const starts: { at: number; len: number }[] = [];
  for (let i = 0; i + 2 < buf.length; i += 1) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      const four = i > 0 && buf[i - 1] === 0;
      starts.push({ at: four ? i - 1 : i, len: four ? 4 : 3 });
      i += 2;
    }
  }
  return starts
    .map((s, k) => buf.subarray(s.at + s.len, starts[k + 1]?.at ?? buf.length))
    .filter((nal) => nal.length > 0);
}
