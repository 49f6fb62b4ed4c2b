import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { MediaStreamTrack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtpPacket, type RTCPeerConnection } from 'werift';
import { i420Size, type I420Frame } from '../../src/core/index.js';
import { createPeer } from '../../src/live/peer.js';
import { offerOf, RtpClipSource, rtpVideoEncoder, waitConnected } from '../../bench/rtp-source.js';
import { Vp8Depacketizer } from '../../src/live/vp8.js';
import { H264Depacketizer } from '../../src/live/h264.js';
import { h264KeyframeInfo } from '../../src/media/h264.js';
import { webmFrame, webmHeader } from '../../src/evidence/webm.js';
import { ivfFileHeader, ivfFrame } from '../../src/media/ivf.js';
import { bearer } from '../server/helpers.js';

/** Real werift peers for the media-plane tests: a WHIP publisher fed by ffmpeg, WHEP subscribers that record packets. */

export interface Received {
  kind: 'audio' | 'video';
  payload: string;
  at: number;
}

export async function waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// 20 s: on CI's two cores, with masked renditions running, a handshake took over 10 s once.
async function connected(pc: RTCPeerConnection, timeoutMs = 20_000): Promise<void> {
  await waitConnected(pc, timeoutMs, 'the peer connection');
}

export interface Session {
  pc: RTCPeerConnection;
  location: string;
  answer: string;
}

/** What a client might add to ask for another rendition: the server must ignore all of it. */
export interface Tampering {
  query?: string;
  headers?: Record<string, string>;
  /** Extra SDP lines appended to the offer. */
  sdpLines?: string[];
}

async function post(url: string, path: string, t: string, offer: string, tamper: Tampering = {}): Promise<{ location: string; answer: string }> {
  const body = tamper.sdpLines ? `${offer.trimEnd()}\r\n${tamper.sdpLines.join('\r\n')}\r\n` : offer;
  const res = await fetch(`${url}${path}${tamper.query ?? ''}`, {
    method: 'POST',
    headers: { ...tamper.headers, ...bearer(t), 'content-type': 'application/sdp' },
    body,
  });
  const text = await res.text();
  if (res.status !== 201) {
    throw new Error(`POST ${path}: ${res.status} ${text}`);
  }
  return { location: res.headers.get('location') ?? '', answer: text };
}

export class Publisher {
  /** The one video codec this publisher offers. */
  readonly codec: 'vp8' | 'h264';
  readonly video = new MediaStreamTrack({ kind: 'video' });
  readonly audio = new MediaStreamTrack({ kind: 'audio' });
  /** Every video payload written, hex, with the time it was written. */
  readonly written: { payload: string; at: number }[] = [];
  /** Times a PLI reached this publisher's video sender. */
  readonly plis: number[] = [];
  session: Session | undefined;

  constructor(codec: 'vp8' | 'h264' = 'vp8') {
    this.codec = codec;
  }

  async publish(url: string, room: string, t: string): Promise<Session> {
    const pc = createPeer({ bundlePolicy: 'max-bundle', videoCodecs: [this.codec] });
    const video = pc.addTransceiver(this.video, { direction: 'sendonly' });
    video.sender.onRtcp.subscribe((packet) => {
      if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback instanceof PictureLossIndication) {
        this.plis.push(Date.now());
      }
    });
    pc.addTransceiver(this.audio, { direction: 'sendonly' });
    const { location, answer } = await post(url, `/v1/rooms/${room}/whip`, t, await offerOf(pc));
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await connected(pc);
    this.session = { pc, location, answer };
    return this.session;
  }

  write(kind: 'audio' | 'video', packet: Buffer): void {
    if (kind === 'video') {
      this.written.push({ payload: RtpPacket.deSerialize(packet).payload.toString('hex'), at: Date.now() });
      this.video.writeRtp(packet);
    } else {
      this.audio.writeRtp(packet);
    }
  }
}

export class Subscriber {
  readonly received: Received[] = [];
  /** Every video packet received, with its arrival time, for decoding. */
  readonly videoPackets: { packet: RtpPacket; at: number }[] = [];
  videoSsrc: number | undefined;
  session: Session | undefined;

  async subscribe(url: string, room: string, participant: string, t: string, tamper: Tampering = {}, videoCodecs?: ('vp8' | 'h264')[]): Promise<Session> {
    const pc = createPeer({ bundlePolicy: 'max-bundle', ...(videoCodecs ? { videoCodecs } : {}) });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.onTrack.subscribe((track) => {
      const kind = track.kind === 'video' ? 'video' : 'audio';
      track.onReceiveRtp.subscribe((rtp) => {
        if (kind === 'video') {
          this.videoSsrc = rtp.header.ssrc;
          this.videoPackets.push({ packet: rtp.clone(), at: Date.now() });
        }
        this.received.push({ kind, payload: rtp.payload.toString('hex'), at: Date.now() });
      });
    });
    const { location, answer } = await post(url, `/v1/rooms/${room}/whep/${participant}`, t, await offerOf(pc), tamper);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await connected(pc);
    this.session = { pc, location, answer };
    return this.session;
  }

  /** Sends `n` PLIs for the received video, back to back. */
  async requestKeyframes(n: number): Promise<void> {
    const receiver = this.session?.pc.getTransceivers().find((t) => t.kind === 'video')?.receiver;
    for (let i = 0; i < n; i += 1) {
      await receiver?.sendRtcpPLI(this.videoSsrc ?? 0);
    }
  }

  count(kind: 'audio' | 'video', since = 0): number {
    return this.received.filter((r) => r.kind === kind && r.at >= since).length;
  }
}

/** ffmpeg encoding a real clip to VP8 (or H.264) RTP (320 wide, 400 kb/s) and a tone to Opus RTP, on local UDP ports read here. */
export class FfmpegSource extends RtpClipSource {
  constructor(codec: 'vp8' | 'h264' = 'vp8') {
    super({ videoFilter: 'scale=320:-2', bitrate: '400k', codec });
  }
}

export interface DecodedFrame extends I420Frame {
  /** Arrival time of the frame's last packet. */
  at: number;
}

/**
 * Decodes received VP8 packets (or H.264 ones) with ffmpeg: packets joined
 * into frames, written as IVF (H.264: Matroska). Frames before the first
 * keyframe are not decodable and are left out; every frame is scaled to the
 * first keyframe's size.
 */
export async function decodeVideo(packets: readonly { packet: RtpPacket; at: number }[], codec: 'vp8' | 'h264' = 'vp8'): Promise<DecodedFrame[]> {
  const depacketizer = codec === 'h264' ? new H264Depacketizer() : new Vp8Depacketizer();
  const frames: { data: Buffer; at: number; keyframe: boolean }[] = [];
  let size: { width: number; height: number } | undefined;
  let codecPrivate: Buffer | undefined;
  for (const { packet, at } of packets) {
    const frame = depacketizer.push(packet);
    if (frame) {
      if (!size && frame.width !== undefined && frame.height !== undefined) {
        size = { width: frame.width, height: frame.height };
        codecPrivate = codec === 'h264' ? h264KeyframeInfo(frame.data)?.codecPrivate : undefined;
      }
      frames.push({ data: frame.data, at, keyframe: frame.keyframe });
    }
  }
  if (!size || frames.length === 0) {
    return [];
  }
  const { width, height } = size;
  const dir = await mkdtemp(join(tmpdir(), 'livemask-vp8-'));
  try {
    const input = join(dir, codec === 'h264' ? 'in.mkv' : 'in.ivf');
    const raw = join(dir, 'out.yuv');
    await writeFile(input, codec === 'h264'
      ? Buffer.concat([webmHeader({ kind: 'video', codec: 'h264', width, height, codecPrivate: codecPrivate ?? Buffer.alloc(0) }),
        ...frames.map((f, i) => webmFrame(f.data, (i * 1000) / 30, f.keyframe))])
      : Buffer.concat([ivfFileHeader(width, height, 30), ...frames.map((f, i) => ivfFrame(f.data, i))]));
    await promisify(execFile)('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-i', input,
      '-vf', `scale=${width}:${height},format=yuv420p`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', raw,
    ]);
    const bytes = await readFile(raw);
    const n = i420Size(width, height);
    const out: DecodedFrame[] = [];
    for (let i = 0; (i + 1) * n <= bytes.length; i += 1) {
      out.push({ width, height, data: bytes.subarray(i * n, (i + 1) * n), index: i, ptsMs: 0, at: frames[i]?.at ?? 0 });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Streams `seconds` of a clip as VP8 RTP (ffmpeg, libvpx realtime) or H.264
 * RTP (libx264, constrained baseline), with a keyframe every second, at `width` pixels wide, paced at its frame rate; each packet
 * is handed to `onPacket`. Resolves when ffmpeg is done.
 */
export async function streamClipRtp(
  clip: string,
  options: { width: number; seconds: number; startSec?: number; codec?: 'vp8' | 'h264' },
  onPacket: (packet: RtpPacket) => void,
): Promise<void> {
  const socket = createSocket('udp4');
  socket.on('message', (msg) => {
    const pt = (msg[1] ?? 0) & 0x7f;
    if (msg.length > 12 && !(pt >= 72 && pt <= 76)) {
      onPacket(RtpPacket.deSerialize(msg));
    }
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  try {
    const child = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-ss', String(options.startSec ?? 0), '-t', String(options.seconds), '-i', clip,
      '-an', ...rtpVideoEncoder(options.codec), '-b:v', '600k', '-g', '30', '-vf', `scale=${options.width}:-2`,
      '-f', 'rtp', `rtp://127.0.0.1:${socket.address().port}?pkt_size=1200`,
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) {
      throw new Error(`ffmpeg streaming ${clip} exited with ${String(code)}`);
    }
    await new Promise((r) => setTimeout(r, 100)); // the last packets on the loopback
  } finally {
    socket.close();
  }
}
