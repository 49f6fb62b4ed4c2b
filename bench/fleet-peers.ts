// The media side of bench/fleet-soak.ts: one ffmpeg encode (VP8 360p + Opus
// RTP on loopback UDP) fanned out to every WHIP publisher, and WHEP
// subscribers that count the masked frames they get.
import { MediaStreamTrack, type RTCPeerConnection, type RtpPacket } from 'werift';
import { createPeer } from '../src/live/peer.js';
import { offerOf, RtpClipSource, waitConnected } from './rtp-source.js';

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
export async function demoToken(base: string, room: string, role: string, sub: string, masked = false): Promise<string> {
  const res = await fetch(`${base}/v1/demo/token?room=${room}&role=${role}&sub=${sub}${masked ? '&masked=true' : ''}`, { signal: AbortSignal.timeout(10_000) });
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
    const pc = createPeer({ bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addTransceiver(this.video, { direction: 'sendonly' });
    pc.addTransceiver(this.audio, { direction: 'sendonly' });
    const answer = await postSdp(`${base}/v1/rooms/${room}/whip`, token, await offerOf(pc));
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await waitConnected(pc, 15_000, `publisher of ${room}`);
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
  /** Every video packet as it arrives (performance.now() time), for the latency bench. */
  onVideo: ((rtp: RtpPacket, at: number) => void) | undefined;

  async subscribe(base: string, room: string, participant: string, token: string): Promise<void> {
    const pc = createPeer({ bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.onTrack.subscribe((track) => {
      if (track.kind === 'video') {
        track.onReceiveRtp.subscribe((rtp) => {
          this.onVideo?.(rtp, performance.now());
          this.received.add(rtp.header.timestamp, Date.now());
        });
      }
    });
    const answer = await postSdp(`${base}/v1/rooms/${room}/whep/${participant}`, token, await offerOf(pc));
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await waitConnected(pc, 15_000, `subscriber of ${room}`);
  }

  async close(): Promise<void> {
    await this.pc?.close();
  }
}

/**
 * The soak's one source, fanned out to every publisher: the clip at 640x360,
 * 30 fps, VP8 at a steady 800 kb/s (keyframe every 30 frames) and an Opus tone.
 */
export class FanoutSource extends RtpClipSource {
  constructor() {
    super({ videoFilter: 'scale=640:360,fps=30', bitrate: '800k', capped: true, recvBufferSize: 4 * 1024 * 1024 });
  }
}
