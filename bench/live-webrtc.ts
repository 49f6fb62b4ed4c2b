// End to end through a real WebRTC loopback: a `livemask serve --demo`
// process (standalone, evidence on, the live defaults but for the look-ahead),
// a werift WHIP publisher replaying a pre-encoded clip in real time, and two
// werift WHEP subscribers of it in the same room: the audience (the masked
// rendition) and a recruiter (the passthrough, the floor: the same ICE, DTLS,
// SRTP and forwarding, without the rendition). The peers run in this process,
// the worker in its own, over loopback UDP.
//
// Latency of frame n: the publisher's write of its last RTP packet (marker
// bit) to the subscriber's receipt of the last packet of output frame n, both
// on this process's clock. Output frame n is the one with frame n's RTP
// timestamp: the rendition keeps the input's clock and werift's senders keep
// the first source's timestamps. Frames sent in the warm-up (the worker's
// ffmpeg stages and detector starting) are not measured.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoToken, WhepSubscriber, WhipPublisher } from './fleet-peers.js';
import { freePort, ServeWorker } from './fleet-workers.js';
import { replayPaced, type RtpClip } from './live-source.js';
import { percentiles, type Percentiles } from './live-streams.js';
import { round } from './stats.js';

export interface WebrtcLatencyOptions {
  /** The repository root (the built bin/livemask.js, or src/ under tsx). */
  root: string;
  fromSources: boolean;
  clip: RtpClip;
  ep: 'cpu' | 'cuda';
  /** LIVEMASK_DETECT_BATCH of the worker. */
  detectBatch: number;
  size: string;
  lookahead: number;
  warmupSeconds: number;
  seconds: number;
}

export interface WebrtcLatencyRow {
  size: string;
  lookahead: number;
  run: 'passthrough' | 'masked';
  latencyMs: Percentiles;
  /** Frames measured (sent after the warm-up). */
  frames: number;
  /** Of those, the share that reached this subscriber, %. */
  deliveredPct: number;
}

/** Send and receive times of each frame, by RTP timestamp. */
class FrameTimes {
  readonly at = new Map<number, number>();

  mark(timestamp: number, marker: boolean, at: number): void {
    if (marker) {
      this.at.set(timestamp, at);
    }
  }
}

function row(size: string, lookahead: number, run: WebrtcLatencyRow['run'], sent: Map<number, number>, got: FrameTimes): WebrtcLatencyRow {
  const ms: number[] = [];
  for (const [ts, at] of sent) {
    const out = got.at.get(ts);
    if (out !== undefined) {
      ms.push(out - at);
    }
  }
  const p = percentiles(ms);
  return {
    size,
    lookahead,
    run,
    latencyMs: { p50: round(p.p50, 1), p95: round(p.p95, 1), p99: round(p.p99, 1), max: round(p.max, 1) },
    frames: sent.size,
    deliveredPct: sent.size > 0 ? round((100 * ms.length) / sent.size, 1) : 0,
  };
}

/** One worker, one masked publisher, an audience and a recruiter subscriber; rows for both. */
export async function benchWebrtcLatency(o: WebrtcLatencyOptions): Promise<WebrtcLatencyRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'livemask-bench-webrtc-'));
  const worker = new ServeWorker(await freePort(), {
    root: o.root,
    dataDir,
    capacity: 4,
    maxMasked: 4,
    fromSources: o.fromSources,
    env: { LIVEMASK_LOOKAHEAD: String(o.lookahead), LIVEMASK_EP: o.ep, LIVEMASK_DETECT_BATCH: String(o.detectBatch), LIVEMASK_LOG_LEVEL: 'warn' },
  });
  const publisher = new WhipPublisher();
  const audience = new WhepSubscriber();
  const recruiter = new WhepSubscriber();
  try {
    await worker.ready(60_000);
    const room = 'bench-latency';
    await publisher.publish(worker.url, room, await demoToken(worker.url, room, 'applicant', 'alice', true));
    await audience.subscribe(worker.url, room, 'alice', await demoToken(worker.url, room, 'audience', 'ann'));
    await recruiter.subscribe(worker.url, room, 'alice', await demoToken(worker.url, room, 'recruiter', 'rex'));
    const masked = new FrameTimes();
    const passthrough = new FrameTimes();
    audience.onVideo = (rtp, at) => masked.mark(rtp.header.timestamp, rtp.header.marker, at);
    recruiter.onVideo = (rtp, at) => passthrough.mark(rtp.header.timestamp, rtp.header.marker, at);
    const sent = new Map<number, number>();
    const warmupFrames = Math.round(o.warmupSeconds * o.clip.fps);
    let frame = -1;
    let lastTs: number | undefined;
    await replayPaced(
      o.clip,
      (packet) => {
        const ts = packet.header.timestamp;
        if (ts !== lastTs) {
          lastTs = ts;
          frame += 1;
        }
        // werift rewrites a packet's header as it sends it: a copy each time, the clip stays as it is.
        publisher.video.writeRtp(packet.serialize());
        if (packet.header.marker && frame >= warmupFrames) {
          sent.set(ts, performance.now());
        }
      },
      { frames: warmupFrames + Math.round(o.seconds * o.clip.fps) },
    );
    await new Promise((r) => setTimeout(r, 1500)); // the last frames in flight, look-ahead included
    if (publisher.pc?.connectionState !== 'connected') {
      throw new Error(`the publisher's connection is ${String(publisher.pc?.connectionState)}: ${worker.stderrTail()}`);
    }
    return [row(o.size, o.lookahead, 'passthrough', sent, passthrough), row(o.size, o.lookahead, 'masked', sent, masked)];
  } finally {
    await Promise.allSettled([publisher.close(), audience.close(), recruiter.close()]);
    await worker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
