// Shared by the bench and the tests' WebRTC peers: a real clip encoded by
// ffmpeg to VP8 (or H.264) + Opus RTP on loopback UDP, and the offer/connect steps of a
// werift client peer.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { RTCPeerConnection } from 'werift';
import { gathered } from '../src/live/peer.js';

/** The local offer with every candidate gathered (no trickle). */
export async function offerOf(pc: RTCPeerConnection): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return pc.localDescription?.sdp ?? '';
}

/** Resolves once `pc` is connected; fails after `timeoutMs` naming `what` and the state it was in. */
export async function waitConnected(pc: RTCPeerConnection, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pc.connectionState !== 'connected') {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not connected after ${timeoutMs} ms (${pc.connectionState})`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * ffmpeg's video encoder and RTP payload type for a real-time RTP source:
 * VP8 (libvpx realtime) or H.264 (libx264 constrained baseline; ffmpeg's RTP
 * muxer packetizes it as RFC 6184 mode 1, single NAL units and FU-A, as
 * browsers do).
 */
export function rtpVideoEncoder(codec: 'vp8' | 'h264' = 'vp8'): string[] {
  return codec === 'h264'
    ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-payload_type', '102']
    : ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-payload_type', '96'];
}

export interface RtpClipOptions {
  /** The ffmpeg video filter, e.g. `scale=320:-2`. */
  videoFilter: string;
  /** Video bitrate, e.g. `400k`. */
  bitrate: string;
  /** The video codec: VP8 (libvpx realtime, default) or H.264 (libx264 constrained baseline, RFC 6184 mode 1 as browsers send it). */
  codec?: 'vp8' | 'h264';
  /** Cap the rate at the bitrate (`-maxrate`, `-bufsize`), for a steady load. */
  capped?: boolean;
  /** Receive buffer of the UDP sockets, for a source fanned out to many peers. */
  recvBufferSize?: number;
}

/**
 * One ffmpeg process: a clip looped in real time (-re), VP8 (libvpx
 * realtime, a keyframe every 30 frames) and a 440 Hz Opus tone, as RTP to
 * loopback UDP; every media packet goes to `onPacket`.
 */
export class RtpClipSource {
  readonly #o: RtpClipOptions;
  readonly #sockets: Socket[] = [];
  #child: ChildProcess | undefined;
  stderr = '';

  constructor(options: RtpClipOptions) {
    this.#o = options;
  }

  async start(clip: string, onPacket: (kind: 'audio' | 'video', packet: Buffer) => void): Promise<void> {
    const ports: number[] = [];
    for (const kind of ['video', 'audio'] as const) {
      const socket = createSocket({ type: 'udp4', ...(this.#o.recvBufferSize !== undefined ? { recvBufferSize: this.#o.recvBufferSize } : {}) });
      socket.on('message', (msg) => {
        const pt = (msg[1] ?? 0) & 0x7f;
        if (msg.length > 12 && !(pt >= 72 && pt <= 76)) {
          onPacket(kind, msg); // RTCP (payload types 200-204) is not media
        }
      });
      socket.bind(0, '127.0.0.1');
      await once(socket, 'listening');
      ports.push(socket.address().port);
      this.#sockets.push(socket);
    }
    const [vp, ap] = ports;
    const { videoFilter, bitrate, capped } = this.#o;
    const child = spawn('ffmpeg', [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-map', '0:v', '-an', '-vf', videoFilter, ...rtpVideoEncoder(this.#o.codec),
      '-b:v', bitrate, ...(capped === true ? ['-maxrate', bitrate, '-bufsize', bitrate] : []),
      '-g', '30', '-f', 'rtp', `rtp://127.0.0.1:${vp}?pkt_size=1200`,
      '-map', '1:a', '-vn', '-c:a', 'libopus', '-f', 'rtp', '-payload_type', '111', `rtp://127.0.0.1:${ap}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.on('error', (err) => (this.stderr += `spawn failed: ${err.message}`));
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.#child = child;
  }

  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    for (const s of this.#sockets.splice(0)) {
      s.close();
    }
  }

  killNow(): void {
    this.#child?.kill('SIGKILL');
  }
}
