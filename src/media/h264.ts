/**
 * H.264 bitstream helpers (ITU-T H.264): NAL unit types, the picture size
 * from a sequence parameter set, and the AVC forms that Matroska carries
 * (length-prefixed NAL units, and the avcC record as CodecPrivate). Pure.
 */

export const NAL_TYPE = { slice: 1, idr: 5, sei: 6, sps: 7, pps: 8, aud: 9 } as const;

/** The type of a NAL unit from its first byte. */
export function nalType(firstByte: number | undefined): number {
  return (firstByte ?? 0) & 0x1f;
}

/** Reads the RBSP of a NAL unit (emulation-prevention bytes removed) bit by bit, with Exp-Golomb codes. */
class BitReader {
  readonly #bytes: Uint8Array;
  #bit = 0;

  constructor(nal: Uint8Array) {
    const out: number[] = [];
    let zeros = 0;
    for (const b of nal.subarray(1)) {
      if (zeros >= 2 && b === 0x03) {
        zeros = 0;
        continue; // emulation prevention
      }
      zeros = b === 0 ? zeros + 1 : 0;
      out.push(b);
    }
    this.#bytes = Uint8Array.from(out);
  }

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i += 1) {
      const byte = this.#bytes[this.#bit >> 3];
      if (byte === undefined) {
        throw new RangeError('SPS ends early');
      }
      v = v * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit += 1;
    }
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      zeros += 1;
      if (zeros > 31) {
        throw new RangeError('bad Exp-Golomb code');
      }
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j += 1) {
    if (next !== 0) {
      next = (last + r.se() + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/** The displayed picture size a sequence parameter set declares (cropping applied); undefined when it cannot be read. */
export function spsPictureSize(sps: Uint8Array): { width: number; height: number } | undefined {
  if (nalType(sps[0]) !== NAL_TYPE.sps) {
    return undefined;
  }
  try {
    const r = new BitReader(sps);
    const profile = r.u(8);
    r.u(16); // constraint flags, level
    r.ue(); // seq_parameter_set_id
    let chroma = 1;
    if (HIGH_PROFILES.has(profile)) {
      chroma = r.ue();
      if (chroma === 3 && r.u(1) === 1) {
        chroma = 0; // separate colour planes: cropped like monochrome
      }
      r.ue(); // bit depth luma
      r.ue(); // bit depth chroma
      r.u(1); // qpprime_y_zero_transform_bypass
      if (r.u(1) === 1) {
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i += 1) {
          if (r.u(1) === 1) {
            skipScalingList(r, i < 6 ? 16 : 64);
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) {
      r.ue();
    } else if (pocType === 1) {
      r.u(1);
      r.se();
      r.se();
      const n = r.ue();
      for (let i = 0; i < n; i += 1) {
        r.se();
      }
    }
    r.ue(); // max_num_ref_frames
    r.u(1); // gaps_in_frame_num_allowed
    const widthMbs = r.ue() + 1;
    const heightUnits = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (frameMbsOnly === 0) {
      r.u(1); // mb_adaptive_frame_field
    }
    r.u(1); // direct_8x8_inference
    let width = widthMbs * 16;
    let height = (2 - frameMbsOnly) * heightUnits * 16;
    if (r.u(1) === 1) {
      const [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
      const cropX = chroma === 1 || chroma === 2 ? 2 : 1;
      const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
      width -= cropX * (left + right);
      height -= cropY * (top + bottom);
    }
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

/** NAL units joined with 4-byte big-endian lengths: the AVC sample form that Matroska and MP4 carry. */
export function toAvcc(nals: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const nal of nals) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(nal.length);
    parts.push(len, Buffer.from(nal.buffer, nal.byteOffset, nal.byteLength));
  }
  return Buffer.concat(parts);
}

/** The NAL units of a length-prefixed (4-byte) sample; stops at the first length that overruns. */
export function avccNals(sample: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  const view = Buffer.from(sample.buffer, sample.byteOffset, sample.byteLength);
  for (let at = 0; at + 4 <= view.length;) {
    const len = view.readUInt32BE(at);
    if (len === 0 || at + 4 + len > view.length) {
      break;
    }
    nals.push(view.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return nals;
}

/** The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1) of one SPS and one PPS, with 4-byte lengths. */
export function avcDecoderConfig(sps: Uint8Array, pps: Uint8Array): Buffer {
  const head = Buffer.from([1, sps[1] ?? 0, sps[2] ?? 0, sps[3] ?? 0, 0xff, 0xe1]);
  const spsLen = Buffer.alloc(2);
  spsLen.writeUInt16BE(sps.length);
  const ppsLen = Buffer.alloc(2);
  ppsLen.writeUInt16BE(pps.length);
  return Buffer.concat([head, spsLen, Buffer.from(sps), Buffer.from([1]), ppsLen, Buffer.from(pps)]);
}

export interface H264KeyframeInfo {
  width: number;
  height: number;
  /** The avcC record built from the sample's SPS and PPS. */
  codecPrivate: Buffer;
}

/**
 * What a keyframe sample (length-prefixed) needs to start a Matroska track:
 * it must hold an IDR slice, an SPS and a PPS. Undefined otherwise.
 */
export function h264KeyframeInfo(sample: Uint8Array): H264KeyframeInfo | undefined {
  const nals = avccNals(sample);
  const sps = nals.find((n) => nalType(n[0]) === NAL_TYPE.sps);
  const pps = nals.find((n) => nalType(n[0]) === NAL_TYPE.pps);
  if (!sps || !pps || !nals.some((n) => nalType(n[0]) === NAL_TYPE.idr)) {
    return undefined;
  }
  const size = spsPictureSize(sps);
  return size ? { ...size, codecPrivate: avcDecoderConfig(sps, pps) } : undefined;
}
