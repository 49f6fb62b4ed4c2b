// The media side of bench/fleet-soak.ts: one ffmpeg encode (VP8 360p + Opus
// RTP on loopback UDP) fanned out to every WHIP publisher, and WHEP
// subscribers that count the masked frames they get.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { MediaStreamTrack, type RTCPeerConnection } from 'werift';
import { createPeer, gathered } from '../src/live/peer.js';

async function offerOf(pc: RTCPeerConnection): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return pc.localDescription?.sdp ?? '';
}

async function connected(pc: RTCPeerConnection, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pc.connectionState !== 'connected') {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not connected after ${timeoutMs} ms (${pc.connectionState})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function postSdp(url: string, token: string, offer: string): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' },
    body: offer,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status !== 201) {
    throw new Error(`POST ${new URL(url).pathname}: ${res.status} ${text.slice(0, 300)}`);
  }
  return text;
}

/** A token from the worker's demo endpoint (`serve --demo`). */
export async function demoToken(base: string, room: string, role: string, sub: string): Promise<string> {
  const res = await fetch(`${base}/v1/demo/token?room=${room}&role=${role}&sub=${sub}`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) {
    throw new Error(`demo token for ${role} ${sub} in ${room}: ${res.status}`);
  }
  return ((await res.json()) as { token: string }).token;
}

/** Video frames (distinct RTP timestamps) a peer sent or received, with the time of each frame's first packet. */
class FrameCounter {
  frames = 0;
  firstAt: number | undefined;
  lastAt: number | undefined;
  #lastTimestamp: number | undefined;

  add(timestamp: number, at: number): void {
    if (timestamp !== this.#lastTimestamp) {
      this.#lastTimestamp = timestamp;
      this.frames += 1;
      this.firstAt ??= at;
      this.lastAt = at;
    }
  }
}

export class WhipPublisher {
  readonly video = new MediaStreamTrack({ kind: 'video' });
  readonly audio = new MediaStreamTrack({ kind: 'audio' });
  readonly sent = new FrameCounter();
  pc: RTCPeerConnection | undefined;
  /** Counting starts when the room's subscriber is connected. */
  counting = false;

  async publish(base: string, room: string, token: string): Promise<void> {
    const pc = createPeer();
    this.pc = pc;
    pc.addTransceiver(this.video, { direction: 'sendonly' });
    pc.addTransceiver(this.audio, { direction: 'sendonly' });
    const answer = await postSdp(`${base}/v1/rooms/${room}/whip`, token, await offerOf(pc));
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await connected(pc, 15_000, `publisher of ${room}`);
  }

  write(kind: 'audio' | 'video', packet: Buffer): void {
    if (this.pc?.connectionState !== 'connected') {
      return;
    }
    if (kind === 'video') {
      if (this.counting) {
        this.sent.add(packet.readUInt32BE(4), Date.now());
      }
      this.video.writeRtp(packet);
    } else {
      this.audio.writeRtp(packet);
    }
  }

  async close(): Promise<void> {
    await this.pc?.close();
  }
}

export class WhepSubscriber {
  readonly received = new FrameCounter();
  pc: RTCPeerConnection | undefined;

  async subscribe(base: string, room: string, participant: string, token: string): Promise<void> {
    const pc = createPeer();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.onTrack.subscribe((track) => {
      if (track.kind === 'video') {
        track.onReceiveRtp.subscribe((rtp) => this.received.add(rtp.header.timestamp, Date.now()));
      }
    });
    const answer = await postSdp(`${base}/v1/rooms/${room}/whep/${participant}`, token, await offerOf(pc));
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await connected(pc, 15_000, `subscriber of ${room}`);
  }

  async close(): Promise<void> {
    await this.pc?.close();
  }
}

/**
 * One ffmpeg process: a clip looped in real time (-re), scaled to 640x360,
 * VP8 (libvpx realtime, 800 kb/s, keyframe every 30 frames) and a 440 Hz
 * Opus tone, as RTP to loopback UDP; every packet goes to `onPacket`.
 */
export class FanoutSource {
  readonly #sockets: Socket[] = [];
  #child: ChildProcess | undefined;
  stderr = '';

  async start(clip: string, onPacket: (kind: 'audio' | 'video', packet: Buffer) => void): Promise<void> {
    const ports: number[] = [];
    for (const kind of ['video', 'audio'] as const) {
      const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
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
    const child = spawn('ffmpeg', [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-map', '0:v', '-an', '-vf', 'scale=640:360,fps=30', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8',
      '-b:v', '800k', '-maxrate', '800k', '-bufsize', '800k', '-g', '30', '-f', 'rtp', '-payload_type', '96', `rtp://127.0.0.1:${vp}?pkt_size=1200`,
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
