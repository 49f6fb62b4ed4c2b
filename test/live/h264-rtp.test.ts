import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { RtpHeader, RtpPacket } from 'werift';
import { annexBNals, H264Depacketizer, packetizeH264, startsH264Keyframe, H264_MAX_PAYLOAD } from '../../src/live/h264.js';
import { checkPublishOffer, checkSubscribeOffer, withoutH264Mode0 } from '../../src/live/sdp-checks.js';
import { avccNals, avcDecoderConfig, h264KeyframeInfo, nalType, spsPictureSize, toAvcc } from '../../src/media/h264.js';
import { LivemaskError } from '../../src/core/index.js';

/**
 * H.264 over RTP (RFC 6184, mode 1) and the AVC forms, on real libx264
 * output: access units from ffmpeg (with access-unit delimiters, so they can
 * be told apart) are packetized, sent through loss and reordering, joined
 * again, and checked byte for byte.
 */

/** Access units (NAL units each, delimiters dropped) of `frames` frames of a test pattern at `size`, keyframe every `gop`. */
function encode(size: string, frames: number, gop: number, extra: string[] = []): Buffer[][] {
  const stream = execFileSync('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`, '-frames:v', String(frames),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(gop), '-pix_fmt', 'yuv420p', ...extra,
    '-bsf:v', 'h264_metadata=aud=insert', '-f', 'h264', '-',
  ], { maxBuffer: 64 * 1024 * 1024 });
  const units: Buffer[][] = [];
  for (const nal of annexBNals(stream)) {
    if (nalType(nal[0]) === 9) {
      units.push([]);
    } else {
      units.at(-1)?.push(nal);
    }
  }
  return units;
}

function packetsOf(units: Buffer[][], seq0 = 1000): RtpPacket[] {
  let seq = seq0;
  return units.flatMap((nals, i) => {
    const packets = packetizeH264(nals, { timestamp: 9000 + i * 3000, seq, ssrc: 42, payloadType: 102 });
    seq += packets.length;
    return packets;
  });
}

const UNITS = encode('640x360', 45, 15);

describe('H.264 bitstream (SPS, avcC, length-prefixed samples)', () => {
  it('reads the picture size from real SPSs, cropping included (1080 is coded as 1088)', () => {
    const sps = (units: Buffer[][]): Buffer | undefined => units[0]?.find((n) => nalType(n[0]) === 7);
    expect(spsPictureSize(sps(UNITS) ?? Buffer.alloc(0))).toEqual({ width: 640, height: 360 });
    expect(spsPictureSize(sps(encode('1920x1080', 1, 1)) ?? Buffer.alloc(0))).toEqual({ width: 1920, height: 1080 });
    // High profile (chroma format and scaling-list fields in the SPS) at an odd size.
    expect(spsPictureSize(sps(encode('322x182', 1, 1, ['-profile:v', 'high'])) ?? Buffer.alloc(0))).toEqual({ width: 322, height: 182 });
    expect(spsPictureSize(Buffer.from([0x67, 0x42]))).toBeUndefined();
    expect(spsPictureSize(Buffer.from([0x68, 0xce, 0x38, 0x80]))).toBeUndefined(); // a PPS
  });

  it('round-trips NAL units through the length-prefixed form, and builds the avcC record', () => {
    const nals = UNITS[0] ?? [];
    expect(avccNals(toAvcc(nals)).map((n) => Buffer.from(n).toString('hex'))).toEqual(nals.map((n) => n.toString('hex')));
    const sps = nals.find((n) => nalType(n[0]) === 7) ?? Buffer.alloc(0);
    const pps = nals.find((n) => nalType(n[0]) === 8) ?? Buffer.alloc(0);
    const avcc = avcDecoderConfig(sps, pps);
    expect([...avcc.subarray(0, 6)]).toEqual([1, sps[1], sps[2], sps[3], 0xff, 0xe1]);
    expect(avcc.readUInt16BE(6)).toBe(sps.length);
    expect(h264KeyframeInfo(toAvcc(nals))).toEqual({ width: 640, height: 360, codecPrivate: avcc });
    expect(h264KeyframeInfo(toAvcc(UNITS[1] ?? []))).toBeUndefined(); // a P frame
  });
});

describe('H.264 RTP (RFC 6184, packetization mode 1)', () => {
  it('packetizes large NAL units as FU-A under the MTU, marks the last packet, and finds keyframe starts', () => {
    const packets = packetizeH264(UNITS[0] ?? [], { timestamp: 1, seq: 65_534, ssrc: 1, payloadType: 102 });
    expect(packets.length).toBeGreaterThan(3);
    expect(packets.every((p) => p.payload.length <= H264_MAX_PAYLOAD)).toBe(true);
    expect(packets.map((p) => p.header.marker)).toEqual([...packets.slice(1).map(() => false), true]);
    expect(packets.map((p) => p.header.sequenceNumber).slice(0, 3)).toEqual([65_534, 65_535, 0]);
    expect(packets.some((p) => nalType(p.payload[0]) === 28)).toBe(true);
    // The SPS (single NAL) and the first fragment of an IDR slice start a keyframe; later fragments and P frames do not.
    expect(startsH264Keyframe(packets[0]?.payload ?? Buffer.alloc(0))).toBe(true);
    const idrFragments = packets.filter((p) => nalType(p.payload[0]) === 28 && nalType(p.payload[1]) === 5);
    const starts = idrFragments.map((p) => startsH264Keyframe(p.payload));
    expect(starts).toEqual(idrFragments.map((p) => ((p.payload[1] ?? 0) & 0x80) !== 0));
    expect(starts.filter(Boolean).length).toBeGreaterThan(0);
    expect(starts.filter((x) => !x).length).toBeGreaterThan(0);
    const p = packetizeH264(UNITS[1] ?? [], { timestamp: 1, seq: 0, ssrc: 1, payloadType: 102 });
    expect(p.some((x) => startsH264Keyframe(x.payload))).toBe(false);
    // STAP-A carrying SPS and PPS, as browsers send them.
    const sps = UNITS[0]?.[0] ?? Buffer.alloc(0);
    const stap = Buffer.concat([Buffer.from([24, sps.length >> 8, sps.length & 0xff]), sps]);
    expect(startsH264Keyframe(stap)).toBe(true);
  });

  it('joins the packets into the same access units, byte for byte, keyframes carrying SPS and PPS', () => {
    const d = new H264Depacketizer();
    const frames = packetsOf(UNITS).map((p) => d.push(p)).filter((f) => f !== undefined);
    expect(frames).toHaveLength(UNITS.length);
    expect(frames.map((f) => f.data.toString('hex'))).toEqual(UNITS.map((u) => toAvcc(u).toString('hex')));
    expect(frames.filter((f) => f.keyframe).map((f) => frames.indexOf(f))).toEqual([0, 15, 30]);
    expect(frames[0]).toMatchObject({ width: 640, height: 360, timestamp: 9000 });
    expect(d.dropped).toBe(0);
  });

  it('takes SPS and PPS in a STAP-A, and puts them in front of a later IDR that comes without them', () => {
    const [first, second] = [UNITS[0] ?? [], UNITS[15] ?? []];
    const params = first.filter((n) => [7, 8].includes(nalType(n[0])));
    const stap = Buffer.concat([Buffer.from([24]), ...params.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
    const d = new H264Depacketizer();
    d.push(new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 100, ssrc: 5, payloadType: 102, marker: true }), stap));
    const bare = second.filter((n) => ![7, 8].includes(nalType(n[0])));
    const frame = packetizeH264(bare, { timestamp: 3100, seq: 2, ssrc: 5, payloadType: 102 }).map((p) => d.push(p)).find((f) => f);
    expect(frame?.keyframe).toBe(true);
    expect(avccNals(frame?.data ?? Buffer.alloc(0)).map((n) => nalType(n[0]))).toEqual([7, 8, ...bare.map((n) => nalType(n[0]))]);
  });

  it('drops a unit with a lost packet and every unit after it until the next IDR; ignores late and repeated packets', () => {
    const packets = packetsOf(UNITS);
    const perUnit = UNITS.map((u, i) => packetizeH264(u, { timestamp: i, seq: 0, ssrc: 1, payloadType: 102 }).length);
    const lostAt = perUnit.slice(0, 5).reduce((a, b) => a + b, 0) + 1; // inside unit 5
    const d = new H264Depacketizer();
    const got: number[] = [];
    for (const [i, p] of packets.entries()) {
      if (i === lostAt) {
        continue;
      }
      const f = d.push(p);
      if (f) {
        got.push((f.timestamp - 9000) / 3000);
      }
      if (i === lostAt + 3) {
        expect(d.waitingForKeyframe).toBe(true);
      }
      if (i === 10) {
        expect(d.push(packets[i - 2] ?? p)).toBeUndefined(); // a late retransmission
      }
    }
    expect(got).toEqual([0, 1, 2, 3, 4, ...Array.from({ length: 30 }, (_, k) => 15 + k)]);
    expect(d.dropped).toBeGreaterThanOrEqual(10);
  });

  it('refuses malformed payloads: FU-A without its start, a truncated STAP-A, reserved NAL types', () => {
    for (const payload of [Buffer.from([28, 0x05, 1, 2]), Buffer.from([24, 0x00, 0x09, 0x67]), Buffer.from([30, 1, 2]), Buffer.from([])]) {
      const d = new H264Depacketizer();
      expect(d.push(new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 1, ssrc: 1, payloadType: 102, marker: true }), payload))).toBeUndefined();
      expect(d.waitingForKeyframe).toBe(true);
    }
  });
});

describe('H.264 in offers', () => {
  const offer = (fmtp: string[]): string => [
    'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 't=0 0',
    'm=video 9 UDP/TLS/RTP/SAVPF 102 103 104 105', 'c=IN IP4 0.0.0.0',
    'a=rtpmap:102 H264/90000', 'a=rtcp-fb:102 nack', 'a=rtpmap:103 rtx/90000', 'a=fmtp:103 apt=102',
    'a=rtpmap:104 H264/90000', 'a=rtpmap:105 rtx/90000', 'a=fmtp:105 apt=104', ...fmtp, 'a=sendonly', '',
  ].join('\r\n');

  it('takes H.264 from a publisher only in packetization mode 1, and says so', () => {
    expect(() => checkPublishOffer(offer([]))).toThrow(/offered H264, rtx; supported VP8, H264 \(H264 needs packetization-mode=1\)/);
    expect(() => checkPublishOffer(offer(['a=fmtp:102 packetization-mode=0']))).toThrow(LivemaskError);
    expect(checkPublishOffer(offer(['a=fmtp:104 profile-level-id=42e01f;packetization-mode=1'])).h264WithoutMode1).toEqual([102]);
  });

  it('rids an offer of its mode-0 H.264 payload types and their RTX, so werift cannot answer with them', () => {
    const sdp = offer(['a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f']);
    const kept = withoutH264Mode0(sdp, checkPublishOffer(sdp));
    expect(kept).toContain('m=video 9 UDP/TLS/RTP/SAVPF 104 105\r\n');
    expect(kept).not.toMatch(/^a=(rtpmap|fmtp|rtcp-fb):10[23] /m);
    expect(kept).toContain('a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
  });

  it('requires VP8 from a subscriber, whatever H.264 it offers', () => {
    expect(() => checkSubscribeOffer(offer(['a=fmtp:104 packetization-mode=1']))).toThrow(/supported VP8 \(VP8 is required to receive/);
  });
});
