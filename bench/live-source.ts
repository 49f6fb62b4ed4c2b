// The publisher side of the live benches: a real clip pre-encoded once to VP8
// RTP packets in memory (ffmpeg, libvpx realtime, as a browser would send),
// and a pacer that replays them in real time.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { RtpPacket } from 'werift';
import { packetizeVp8, vp8FrameInfo } from '../src/live/vp8.js';
import { IvfReader } from '../src/media/ivf.js';

export interface RtpClip {
  width: number;
  height: number;
  fps: number;
  /** The packets of each frame, in order; the first frame is a keyframe. */
  frames: RtpPacket[][];
  keyframes: number;
  /** Mean bitrate of the VP8 stream, bits per second. */
  bitrate: number;
}

export interface EncodeOptions {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  /** Target bitrate, bits per second. */
  bitrate: number;
  /** Keyframe interval in frames. Default 30. */
  gop?: number;
}

const RTP_CLOCK = 90_000;

/** Encodes `seconds` of `clip` (looped when shorter) to VP8 RTP packets at `width` x `height` and `fps`. */
export async function encodeClipRtp(clip: string, options: EncodeOptions): Promise<RtpClip> {
  const { width, height, fps, seconds, bitrate } = options;
  const frameCount = Math.round(seconds * fps);
  const child = spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-stream_loop', '-1', '-i', clip,
    '-an', '-vf', `scale=${width}:${height},fps=${fps},format=yuv420p`, '-frames:v', String(frameCount),
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0',
    '-g', String(options.gop ?? 30), '-b:v', String(bitrate), '-maxrate', String(bitrate), '-bufsize', String(bitrate),
    '-f', 'ivf', 'pipe:1',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const reader = new IvfReader();
  const encoded: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    encoded.push(...reader.push(chunk).map((f) => f.data));
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0 || encoded.length === 0) {
    throw new Error(`ffmpeg could not encode ${clip} to VP8 at ${width}x${height} (exit ${String(code)}): ${stderr}`);
  }
  if (vp8FrameInfo(encoded[0] ?? Buffer.alloc(0))?.keyframe !== true) {
    throw new Error(`the VP8 encoding of ${clip} does not start with a keyframe`);
  }
  const ssrc = 0x1234_5678;
  let seq = 1000;
  let bytes = 0;
  let keyframes = 0;
  const frames = encoded.map((data, i) => {
    bytes += data.length;
    keyframes += vp8FrameInfo(data)?.keyframe === true ? 1 : 0;
    const packets = packetizeVp8(data, { timestamp: Math.round((i * RTP_CLOCK) / fps), seq, ssrc, payloadType: 96 });
    seq = (seq + packets.length) & 0xffff;
    return packets;
  });
  return { width, height, fps, frames, keyframes, bitrate: (bytes * 8 * fps) / frames.length };
}

export interface ReplayOptions {
  /** Delay of the first frame, ms (spreads concurrent streams over a frame interval). Default 0. */
  offsetMs?: number;
  /** Frames to send; default all of them. */
  frames?: number;
}

export interface ReplayResult {
  framesSent: number;
  /** How late each frame was pushed against its schedule, ms (event-loop lateness). */
  lateMs: number[];
}

/**
 * Pushes each frame's packets at its due time, frame i at start + i / fps,
 * with setTimeout re-armed against the schedule (no drift). A late timer
 * pushes every frame already due at once. `push` gets the due time as the
 * arrival time: a packet that waited for a busy event loop waited in the
 * socket buffer, and that wait is latency.
 */
export async function replayPaced(clip: RtpClip, push: (packet: RtpPacket, arrivalMs: number) => void, options: ReplayOptions = {}): Promise<ReplayResult> {
  const total = Math.min(clip.frames.length, options.frames ?? clip.frames.length);
  const period = 1000 / clip.fps;
  const start = performance.now() + (options.offsetMs ?? 0);
  const lateMs: number[] = [];
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      for (; next < total && start + next * period <= now; next += 1) {
        const due = start + next * period;
        lateMs.push(now - due);
        for (const packet of clip.frames[next] ?? []) {
          push(packet, due);
        }
      }
      if (next >= total) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, start + next * period - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  return { framesSent: total, lateMs };
}
