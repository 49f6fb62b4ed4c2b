/**
 * A minimal WebM muxer for evidence segments (Matroska, for H.264, which WebM
 * cannot carry), and the scanner that recovers them. Each frame is written as its own Cluster of known size (Timecode +
 * one SimpleBlock) behind a Segment of unknown size, so the file is a valid
 * WebM after every frame: a process killed mid-write leaves at most one
 * partial cluster, which {@link scanWebm} cuts off. The frame bytes are the
 * received bytes, untouched. Pure: no I/O.
 */

export type TrackSpec =
  | { kind: 'video'; codec: 'vp8'; width: number; height: number }
  /** H.264 in Matroska (not WebM): length-prefixed samples, the avcC record as CodecPrivate. */
  | { kind: 'video'; codec: 'h264'; width: number; height: number; codecPrivate: Buffer }
  | { kind: 'audio'; codec: 'opus'; channels: number; sampleRate: number };

const ID = {
  ebml: 0x1a45dfa3,
  ebmlVersion: 0x4286,
  ebmlReadVersion: 0x42f7,
  ebmlMaxIdLength: 0x42f2,
  ebmlMaxSizeLength: 0x42f3,
  docType: 0x4282,
  docTypeVersion: 0x4287,
  docTypeReadVersion: 0x4285,
  segment: 0x18538067,
  info: 0x1549a966,
  timecodeScale: 0x2ad7b1,
  muxingApp: 0x4d80,
  writingApp: 0x5741,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  trackUid: 0x73c5,
  trackType: 0x83,
  flagLacing: 0x9c,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  codecDelay: 0x56aa,
  seekPreRoll: 0x56bb,
  video: 0xe0,
  pixelWidth: 0xb0,
  pixelHeight: 0xba,
  audio: 0xe1,
  samplingFrequency: 0xb5,
  channels: 0x9f,
  cluster: 0x1f43b675,
  timecode: 0xe7,
  simpleBlock: 0xa3,
} as const;

const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function idBytes(id: number): Buffer {
  const bytes: number[] = [];
  for (let v = id; v > 0; v = Math.floor(v / 256)) {
    bytes.unshift(v & 0xff);
  }
  return Buffer.from(bytes);
}

function sizeBytes(size: number): Buffer {
  let n = 1;
  while (n < 8 && size >= 2 ** (7 * n) - 1) {
    n += 1;
  }
  const b = Buffer.alloc(n);
  let v = size;
  for (let i = n - 1; i >= 0; i -= 1) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[0] = (b[0] ?? 0) | (0x80 >> (n - 1));
  return b;
}

function el(id: number, ...children: Buffer[]): Buffer {
  const body = Buffer.concat(children);
  return Buffer.concat([idBytes(id), sizeBytes(body.length), body]);
}

function uint(id: number, value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0 || bytes.length === 0; v = Math.floor(v / 256)) {
    bytes.unshift(v % 256);
  }
  return el(id, Buffer.from(bytes));
}

function str(id: number, value: string): Buffer {
  return el(id, Buffer.from(value, 'utf8'));
}

function float(id: number, value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(value);
  return el(id, b);
}

/** OpusHead (RFC 7845 5.1), the CodecPrivate of an Opus track. */
function opusHead(channels: number, sampleRate: number): Buffer {
  const b = Buffer.alloc(19);
  b.write('OpusHead', 0, 'ascii');
  b[8] = 1;
  b[9] = channels;
  b.writeUInt16LE(312, 10); // pre-skip: libopus's usual 6.5 ms at 48 kHz
  b.writeUInt32LE(sampleRate, 12);
  return b;
}

/** The file's start: EBML header, an open Segment, Info and Tracks. Timecodes are in milliseconds. */
export function webmHeader(track: TrackSpec): Buffer {
  const header = el(
    ID.ebml,
    uint(ID.ebmlVersion, 1),
    uint(ID.ebmlReadVersion, 1),
    uint(ID.ebmlMaxIdLength, 4),
    uint(ID.ebmlMaxSizeLength, 8),
    str(ID.docType, track.kind === 'video' && track.codec === 'h264' ? 'matroska' : 'webm'),
    uint(ID.docTypeVersion, 4),
    uint(ID.docTypeReadVersion, 2),
  );
  const info = el(ID.info, uint(ID.timecodeScale, 1_000_000), str(ID.muxingApp, 'livemask'), str(ID.writingApp, 'livemask'));
  const common = [uint(ID.trackNumber, 1), uint(ID.trackUid, 1), uint(ID.flagLacing, 0)];
  const entry = track.kind === 'video'
    ? el(ID.trackEntry, ...common, uint(ID.trackType, 1),
      ...(track.codec === 'h264' ? [str(ID.codecId, 'V_MPEG4/ISO/AVC'), el(ID.codecPrivate, track.codecPrivate)] : [str(ID.codecId, 'V_VP8')]),
      el(ID.video, uint(ID.pixelWidth, track.width), uint(ID.pixelHeight, track.height)))
    : el(ID.trackEntry, ...common, uint(ID.trackType, 2), str(ID.codecId, 'A_OPUS'),
      el(ID.codecPrivate, opusHead(track.channels, track.sampleRate)),
      uint(ID.codecDelay, Math.round((312 / 48_000) * 1e9)), uint(ID.seekPreRoll, 80_000_000),
      el(ID.audio, float(ID.samplingFrequency, track.sampleRate), uint(ID.channels, track.channels)));
  return Buffer.concat([header, idBytes(ID.segment), UNKNOWN_SIZE, info, el(ID.tracks, entry)]);
}

/** One frame as a whole Cluster: its own timecode (ms) and one SimpleBlock. */
export function webmFrame(data: Uint8Array, timecodeMs: number, keyframe: boolean): Buffer {
  const block = Buffer.alloc(4);
  block[0] = 0x81; // track number 1 as a vint
  block.writeInt16BE(0, 1); // relative timecode
  block[3] = keyframe ? 0x80 : 0x00;
  return el(ID.cluster, uint(ID.timecode, Math.max(0, Math.round(timecodeMs))), el(ID.simpleBlock, block, Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
}

export interface WebmScan {
  /** Bytes up to the end of the last complete cluster (or of the header when none). */
  completeBytes: number;
  /** Timecodes (ms) of the complete clusters' frames, in order. */
  timecodes: number[];
  /** False when the file does not start with a whole header this muxer writes. */
  headerOk: boolean;
}

function readVint(buf: Buffer, at: number, keepMarker: boolean): { value: number; length: number; unknown: boolean } | undefined {
  const first = buf[at];
  if (first === undefined || first === 0) {
    return undefined;
  }
  const length = Math.clz32(first) - 23;
  if (at + length > buf.length) {
    return undefined;
  }
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === (0xff >> length);
  for (let i = 1; i < length; i += 1) {
    const byte = buf[at + i] ?? 0;
    value = value * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

/**
 * Walks the whole top-level elements of a file this muxer wrote (descending
 * into the open-sized Segment), calling `visit` with each one's id and body;
 * stops at the first cut or unreadable element, or when `visit` says false.
 */
function walkElements(buf: Buffer, visit: (id: number, body: Buffer, end: number) => boolean): void {
  let at = 0;
  while (at < buf.length) {
    const id = readVint(buf, at, true);
    const size = id && readVint(buf, at + id.length, false);
    if (!id || !size) {
      return;
    }
    const bodyAt = at + id.length + size.length;
    if (id.value === ID.segment) {
      at = bodyAt; // descend: its children follow
      continue;
    }
    const end = bodyAt + size.value;
    if (size.unknown || end > buf.length || !visit(id.value, buf.subarray(bodyAt, end), end)) {
      return;
    }
    at = end;
  }
}

/** Walks a segment file this muxer wrote and finds where its complete part ends. */
export function scanWebm(buf: Buffer): WebmScan {
  const timecodes: number[] = [];
  let completeBytes = 0;
  let headerOk = false;
  walkElements(buf, (id, body, end) => {
    if (id === ID.tracks) {
      headerOk = true;
      completeBytes = end;
    } else if (id === ID.cluster && headerOk) {
      const tc = clusterTimecode(body);
      if (tc === undefined) {
        return false;
      }
      timecodes.push(tc);
      completeBytes = end;
    }
    return true;
  });
  return { completeBytes, timecodes, headerOk };
}

function clusterTimecode(body: Buffer): number | undefined {
  const id = readVint(body, 0, true);
  const size = id && readVint(body, id.length, false);
  if (!id || !size || id.value !== ID.timecode) {
    return undefined;
  }
  const at = id.length + size.length;
  let v = 0;
  for (let i = 0; i < size.value; i += 1) {
    v = v * 256 + (body[at + i] ?? 0);
  }
  return v;
}

/** Width and height from a VP8 keyframe's header (RFC 6386 9.1); undefined for an interframe or a bad frame. */
export function vp8KeyframeSize(frame: Uint8Array): { width: number; height: number } | undefined {
  if (frame.length < 10 || ((frame[0] ?? 1) & 0x01) !== 0 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) {
    return undefined;
  }
  const width = ((frame[6] ?? 0) | ((frame[7] ?? 0) << 8)) & 0x3fff;
  const height = ((frame[8] ?? 0) | ((frame[9] ?? 0) << 8)) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** A frame read back from a segment this muxer wrote. */
export interface WebmFrame {
  timecodeMs: number;
  keyframe: boolean;
  data: Buffer;
}

/** The frames of the complete clusters of a segment this muxer wrote (one SimpleBlock per cluster), in order. */
export function webmFrames(buf: Buffer): WebmFrame[] {
  const frames: WebmFrame[] = [];
  walkElements(buf, (id, body) => {
    if (id !== ID.cluster) {
      return true;
    }
    const frame = clusterFrame(body);
    if (frame) {
      frames.push(frame);
    }
    return frame !== undefined;
  });
  return frames;
}

function clusterFrame(body: Buffer): WebmFrame | undefined {
  const timecodeMs = clusterTimecode(body);
  const tcId = readVint(body, 0, true);
  const tcSize = tcId && readVint(body, tcId.length, false);
  if (timecodeMs === undefined || !tcId || !tcSize) {
    return undefined;
  }
  const blockAt = tcId.length + tcSize.length + tcSize.value;
  const id = readVint(body, blockAt, true);
  const size = id && readVint(body, blockAt + id.length, false);
  if (!id || !size || id.value !== ID.simpleBlock) {
    return undefined;
  }
  const dataAt = blockAt + id.length + size.length;
  const block = body.subarray(dataAt, dataAt + size.value);
  // Track number (a one-byte vint), a relative timecode of 0, flags; then the frame.
  return { timecodeMs: timecodeMs + block.readInt16BE(1), keyframe: ((block[3] ?? 0) & 0x80) !== 0, data: block.subarray(4) };
}
