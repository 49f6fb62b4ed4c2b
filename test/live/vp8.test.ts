import { describe, expect, it } from 'vitest';
import { RtpHeader, RtpPacket } from 'werift';
import { packetizeVp8, parseVp8Descriptor, SequenceGate, startsVp8Keyframe, Vp8Depacketizer, vp8FrameInfo, VP8_MAX_PAYLOAD } from '../../src/live/vp8.js';
import { ivfFileHeader, ivfFrame, IvfReader } from '../../src/media/ivf.js';

/** A VP8 keyframe header: frame tag (key, shown), start code, 14-bit width and height, then filler. */
function keyframe(width: number, height: number, size = 3000): Buffer {
  const b = Buffer.alloc(size, 0x55);
  b[0] = 0x10; // bit 0 clear: keyframe
  b[1] = 0x02;
  b[2] = 0x00;
  b.set([0x9d, 0x01, 0x2a], 3);
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  return b;
}

function delta(size = 500): Buffer {
  const b = Buffer.alloc(size, 0x33);
  b[0] = 0x11; // bit 0 set: interframe
  return b;
}

function withSeq(packets: RtpPacket[], seq: number): RtpPacket[] {
  return packets.map((p, i) => new RtpPacket(new RtpHeader({ ...p.header, sequenceNumber: (seq + i) & 0xffff }), p.payload));
}

describe('VP8 payload descriptor (RFC 7741)', () => {
  it('reads S and PID, and skips the extension bytes it declares', () => {
    expect(parseVp8Descriptor(Buffer.from([0x10, 0xaa]))).toEqual({ start: true, partition: 0, length: 1 });
    // X, then I with a 15-bit PictureID, L and T/K: 1 + 1 + 2 + 1 + 1 bytes.
    expect(parseVp8Descriptor(Buffer.from([0x90, 0xf0, 0x80, 0x01, 0x05, 0x20, 0xaa]))).toEqual({ start: true, partition: 0, length: 6 });
    // X with only L: the TL0PICIDX byte, nothing else (werift's own parser skips one byte too many here).
    expect(parseVp8Descriptor(Buffer.from([0x80, 0x40, 0x05, 0xaa]))?.length).toBe(3);
    expect(parseVp8Descriptor(Buffer.from([0x03, 0xaa]))).toEqual({ start: false, partition: 3, length: 1 });
  });

  it('refuses a payload shorter than its descriptor', () => {
    expect(parseVp8Descriptor(Buffer.alloc(0))).toBeUndefined();
    expect(parseVp8Descriptor(Buffer.from([0x90, 0x80]))).toBeUndefined();
    expect(parseVp8Descriptor(Buffer.from([0x10]))).toBeUndefined();
  });

  it('reads a keyframe size and tells keyframes from delta frames', () => {
    expect(vp8FrameInfo(keyframe(640, 360))).toEqual({ keyframe: true, width: 640, height: 360 });
    expect(vp8FrameInfo(delta())).toEqual({ keyframe: false });
    expect(vp8FrameInfo(Buffer.from([0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7]))).toBeUndefined(); // no start code
  });
});

describe('a keyframe start in RTP', () => {
  it('is the first packet of a keyframe only, with or without the descriptor extension', () => {
    const opts = { timestamp: 1, seq: 1, ssrc: 1, payloadType: 96 };
    const key = packetizeVp8(keyframe(640, 360), opts);
    const del = packetizeVp8(delta(3000), opts);
    expect(key.length).toBeGreaterThan(1);
    expect(key.map((p) => startsVp8Keyframe(p.payload))).toEqual([true, ...key.slice(1).map(() => false)]);
    expect(del.map((p) => startsVp8Keyframe(p.payload)).some(Boolean)).toBe(false);
    // X, I (15-bit PictureID) and a TID byte before the frame, as browsers send it.
    const first = key[0]?.payload ?? Buffer.alloc(0);
    const withExt = Buffer.concat([Buffer.from([0x90, 0xa0, 0x80, 0x01, 0x00]), first.subarray(1)]);
    expect(startsVp8Keyframe(withExt)).toBe(true);
    expect(startsVp8Keyframe(Buffer.from([0x10]))).toBe(false);
  });
});

describe('VP8 packetizer and depacketizer', () => {
  const opts = { timestamp: 9000, seq: 65_530, ssrc: 42, payloadType: 96 };

  it('round-trips frames, across a sequence-number wrap, with the marker on the last packet', () => {
    const frame = keyframe(320, 240, 5000);
    const packets = packetizeVp8(frame, opts);
    expect(packets.length).toBe(Math.ceil(5000 / VP8_MAX_PAYLOAD));
    expect(packets.every((p) => p.payload.length <= VP8_MAX_PAYLOAD + 1)).toBe(true);
    expect(packets.map((p) => p.header.marker)).toEqual([false, false, false, false, true]);
    expect(packets.at(-1)?.header.sequenceNumber).toBe((65_530 + 4) & 0xffff);
    const d = new Vp8Depacketizer();
    const out = packets.map((p) => d.push(p)).filter((f) => f !== undefined);
    expect(out).toHaveLength(1);
    expect(out[0]?.data.equals(frame)).toBe(true);
    expect(out[0]).toMatchObject({ keyframe: true, width: 320, height: 240, timestamp: 9000 });
    const next = d.push(withSeq(packetizeVp8(delta(), { ...opts, timestamp: 12_000 }), (65_530 + 5) & 0xffff)[0] as RtpPacket);
    expect(next).toMatchObject({ keyframe: false, timestamp: 12_000 });
  });

  it('drops delta frames until the first keyframe', () => {
    const d = new Vp8Depacketizer();
    expect(d.push(packetizeVp8(delta(), opts)[0] as RtpPacket)).toBeUndefined();
    expect(d.waitingForKeyframe).toBe(true);
    expect(d.dropped).toBe(1);
  });

  it('drops a frame with a lost packet, and every frame after it until a keyframe', () => {
    const d = new Vp8Depacketizer();
    const key = packetizeVp8(keyframe(320, 240, 3000), opts);
    key.forEach((p) => d.push(p));
    expect(d.waitingForKeyframe).toBe(false);
    const lossy = withSeq(packetizeVp8(delta(2500), { ...opts, timestamp: 12_000 }), opts.seq + key.length);
    expect(d.push(lossy[0] as RtpPacket)).toBeUndefined();
    expect(d.push(lossy[2] as RtpPacket)).toBeUndefined(); // lossy[1] lost
    expect(d.waitingForKeyframe).toBe(true);
    const after = withSeq(packetizeVp8(delta(), { ...opts, timestamp: 15_000 }), opts.seq + key.length + 3);
    expect(d.push(after[0] as RtpPacket)).toBeUndefined();
    const key2 = withSeq(packetizeVp8(keyframe(320, 240), { ...opts, timestamp: 18_000 }), opts.seq + key.length + 4);
    const frames = key2.map((p) => d.push(p)).filter((f) => f !== undefined);
    expect(frames).toHaveLength(1);
    expect(d.waitingForKeyframe).toBe(false);
  });

  it('wants a keyframe after a gap between frames (a whole frame may be lost)', () => {
    const d = new Vp8Depacketizer();
    packetizeVp8(keyframe(320, 240, 800), opts).forEach((p) => d.push(p));
    const skipped = withSeq(packetizeVp8(delta(), { ...opts, timestamp: 15_000 }), opts.seq + 5);
    expect(d.push(skipped[0] as RtpPacket)).toBeUndefined();
    expect(d.waitingForKeyframe).toBe(true);
  });

  it('ignores late and repeated packets, so frames never step back in time; a new SSRC starts afresh', () => {
    const d = new Vp8Depacketizer();
    const key1 = packetizeVp8(keyframe(320, 240, 800), { ...opts, seq: 100 });
    key1.forEach((p) => d.push(p));
    const next = withSeq(packetizeVp8(delta(), { ...opts, timestamp: 12_000 }), 101);
    expect(d.push(next[0] as RtpPacket)).toMatchObject({ timestamp: 12_000 });
    // The first keyframe again, as a late retransmission: refused, nothing comes out.
    expect(key1.map((p) => d.push(p)).filter((f) => f !== undefined)).toEqual([]);
    expect(d.waitingForKeyframe).toBe(false);
    const after = withSeq(packetizeVp8(delta(), { ...opts, timestamp: 15_000 }), 102);
    expect(d.push(after[0] as RtpPacket)).toMatchObject({ timestamp: 15_000 });
    // Another stream (new SSRC) with lower sequence numbers is not late: it starts afresh at its keyframe.
    const other = packetizeVp8(keyframe(640, 360, 800), { ...opts, seq: 5, ssrc: 7, timestamp: 1 });
    expect(other.map((p) => d.push(p)).filter((f) => f !== undefined)).toHaveLength(1);
  });

  it('SequenceGate refuses duplicates and older packets across the 16-bit wrap', () => {
    const gate = new SequenceGate();
    expect([65_534, 65_535, 0, 1].map((seq) => gate.accept({ ssrc: 1, sequenceNumber: seq }))).toEqual([true, true, true, true]);
    expect(gate.accept({ ssrc: 1, sequenceNumber: 65_535 })).toBe(false);
    expect(gate.accept({ ssrc: 1, sequenceNumber: 1 })).toBe(false);
    expect(gate.accept({ ssrc: 1, sequenceNumber: 3 })).toBe(true);
    expect(gate.refused).toBe(2);
  });

  it('ignores garbage payloads without throwing', () => {
    const d = new Vp8Depacketizer();
    const garbage = new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 1, marker: true }), Buffer.from([0x90]));
    expect(d.push(garbage)).toBeUndefined();
    expect(d.push(new RtpPacket(new RtpHeader({ sequenceNumber: 2, timestamp: 2, marker: true }), Buffer.from([0x10, 1, 2])))).toBeUndefined();
  });
});

describe('IVF', () => {
  it('writes a header ffmpeg reads and frames that read back whole, however the bytes are split', () => {
    const header = ivfFileHeader(640, 360, 90_000);
    expect(header.toString('ascii', 0, 4)).toBe('DKIF');
    expect(header.toString('ascii', 8, 12)).toBe('VP80');
    expect([header.readUInt16LE(12), header.readUInt16LE(14), header.readUInt32LE(16), header.readUInt32LE(20)]).toEqual([640, 360, 90_000, 1]);
    const frames = [keyframe(640, 360, 1234), delta(77), delta(5)];
    const bytes = Buffer.concat([header, ...frames.map((f, i) => ivfFrame(f, i * 3000))]);
    const reader = new IvfReader();
    const out = [];
    for (let i = 0; i < bytes.length; i += 7) {
      out.push(...reader.push(bytes.subarray(i, i + 7)));
    }
    expect(out.map((f) => f.pts)).toEqual([0, 3000, 6000]);
    expect(out.every((f, i) => f.data.equals(frames[i] ?? Buffer.alloc(0)))).toBe(true);
  });

  it('refuses a stream that is not IVF', () => {
    expect(() => new IvfReader().push(Buffer.alloc(40))).toThrow(/IVF/);
  });
});
