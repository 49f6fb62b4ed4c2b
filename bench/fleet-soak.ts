// Fleet load and soak (issue 5, "Load and soak"): N real `livemask serve`
// workers in fleet mode on this machine, R rooms opened with
// LivemaskClient.startRoom, each with a 360p VP8+Opus publisher (one ffmpeg
// encode fanned out to every publisher) whose participant is masked, and one
// audience-role subscriber that gets the masked rendition; runs S seconds
// while sampling each worker's RSS, then ends the rooms, waits for their
// evidence to seal and verifies it with the worker's public key.
//   npx tsx bench/fleet-soak.ts [--workers 2] [--rooms 20] [--seconds 180] [--redis redis://127.0.0.1:6379]
// Markdown on stdout, JSON in bench/results/fleet-soak-<date>.json, progress on stderr.
// Not part of `npm run bench`. See README "Fleet load and soak".
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { LivemaskClient, type RoomStart } from '../src/client/index.js';
import { loadEvidenceKeys, verify } from '../src/evidence/index.js';
import { FanoutSource, WhepSubscriber, WhipPublisher, demoToken } from './fleet-peers.js';
import { bucketDelta, bucketSum, counter, endToEndBuckets, histogramQuantileMs, markdown, mb, meanDeltaMs, msCell, slopeMbPerMin, type Buckets, type RoomRow, type WorkerRow } from './fleet-report.js';
import { deleteKeys, freePort, ServeWorker } from './fleet-workers.js';
import { load, machineInfo } from './machine.js';
import { dataDir, repoRoot } from './paths.js';
import { round } from './stats.js';

const OptionsSchema = z.object({
  workers: z.coerce.number().int().min(1).max(8).default(2),
  rooms: z.coerce.number().int().min(1).max(64).default(20),
  seconds: z.coerce.number().int().min(10).max(3600).default(180),
  /** Redis server; the soak uses database `db` of it (serve has no key-prefix setting, so a database of its own keeps it apart). */
  redis: z.string().regex(/^rediss?:\/\/[^/]+\/?$/, 'a redis:// URL without a database path (see --db)').default('redis://127.0.0.1:6379'),
  db: z.coerce.number().int().min(0).max(15).default(11),
  clip: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('lp_source_s18'),
  /** Seconds after the last room is up before measuring (pipelines starting, first backlog). */
  warmup: z.coerce.number().int().min(0).max(120).default(10),
});
type Options = z.infer<typeof OptionsSchema>;

const PREFIX = 'livemask'; // the workers' default key prefix
const SAMPLE_MS = 5000;
const SERVED_FRAMES = 30; // a room is served when its subscriber got a second of masked picture

const say = (line: string): void => {
  process.stderr.write(`fleet-soak: ${line}\n`);
};
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: Object.fromEntries(['workers', 'rooms', 'seconds', 'redis', 'db', 'clip', 'warmup'].map((k) => [k, { type: 'string' as const }])),
  });
  const parsed = OptionsSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid --${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'bad value'}`);
  }
  return parsed.data;
}

interface Room {
  id: string;
  start?: RoomStart;
  publisher: WhipPublisher;
  subscriber: WhepSubscriber;
  subscribedAt?: number;
  error: string | null;
  evidence: string;
}

interface MemorySample {
  t: number;
  phase: 'idle' | 'setup' | 'run' | 'ended';
  node: number;
  total: number;
}

/** Everything started, stopped in reverse order whatever happens. */
class Soak {
  readonly workers: ServeWorker[] = [];
  readonly rooms: Room[] = [];
  readonly source = new FanoutSource();
  readonly samples = new Map<ServeWorker, MemorySample[]>();
  client: LivemaskClient | undefined;
  /** The workers' data directories (evidence included), removed on close. */
  workDir: string | undefined;
  phase: MemorySample['phase'] = 'idle';
  #sampler: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  sample(): void {
    for (const w of this.workers) {
      const m = w.memory();
      this.samples.get(w)?.push({ t: Date.now(), phase: this.phase, node: m.node, total: m.total });
    }
  }

  startSampling(): void {
    this.sample();
    this.#sampler = setInterval(() => this.sample(), SAMPLE_MS);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#sampler);
    const steps: (() => Promise<unknown>)[] = [
      ...this.rooms.flatMap((r) => [() => r.subscriber.close(), () => r.publisher.close()]),
      () => this.source.stop(),
      async () => this.client?.close(),
      ...this.workers.map((w) => () => w.stop()),
      () => (this.workDir !== undefined ? rm(this.workDir, { recursive: true, force: true }) : Promise.resolve()),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        say(`cleanup step failed: ${message(err)}`);
      }
    }
  }

  killNow(): void {
    this.source.killNow();
    for (const w of this.workers) {
      w.killNow();
    }
  }
}

async function openRoom(soak: Soak, room: Room, fromUrl: Map<string, ServeWorker>): Promise<void> {
  const client = soak.client as LivemaskClient;
  room.start = await client.startRoom({ roomId: room.id, timeoutMs: 60_000 });
  const base = room.start.url;
  if (!fromUrl.has(base)) {
    throw new Error(`startRoom named ${base}, which is none of the soak's workers`);
  }
  await client.setMask(room.id, 'applicant', true, { timeoutMs: 10_000 });
  await room.publisher.publish(base, room.id, await demoToken(base, room.id, 'applicant', 'applicant'));
  await room.subscriber.subscribe(base, room.id, 'applicant', await demoToken(base, room.id, 'audience', `viewer-${room.id}`));
  room.subscribedAt = Date.now();
  room.publisher.counting = true;
}

/** Polls verify() until it passes or `timeoutMs` passes (the session seals after the room is released). */
async function verifyRoom(root: string, room: string, key: KeyObject, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no evidence';
  while (Date.now() < deadline) {
    try {
      const result = await verify(root, room, key);
      if (result.ok) {
        return `verified (${result.counts.sessions} session, ${result.counts.segments} segments, ${result.counts.events} events)`;
      }
      last = `NOT intact: ${result.problem.kind}: ${result.problem.message}`;
    } catch (err) {
      last = `NOT verified: ${message(err)}`;
    }
    await sleep(1000);
  }
  return last;
}

async function metricsOf(workers: readonly ServeWorker[]): Promise<(string | undefined)[]> {
  return Promise.all(workers.map((w) => w.metrics()));
}

async function run(o: Options, soak: Soak): Promise<void> {
  const root = repoRoot();
  const started = new Date();
  const loadStart = load();
  const redisUrl = `${o.redis.replace(/\/$/, '')}/${o.db}`;
  const capacity = Math.ceil(o.rooms / o.workers);
  const work = mkdtempSync(join(tmpdir(), 'livemask-fleet-soak-'));
  soak.workDir = work;
  const fromSources = import.meta.url.endsWith('.ts');
  say(`${o.workers} workers (capacity ${capacity}, max masked ${capacity}), ${o.rooms} rooms, ${o.seconds} s, Redis db ${o.db}; data under ${work}`);
  await deleteKeys(redisUrl, PREFIX);
  for (let i = 0; i < o.workers; i += 1) {
    const w = new ServeWorker(await freePort(), { root, dataDir: join(work, `worker-${i}`), redisUrl, capacity, maxMasked: capacity, fromSources });
    soak.workers.push(w);
    soak.samples.set(w, []);
  }
  await Promise.all(soak.workers.map((w) => w.ready(60_000)));
  const fromUrl = new Map(soak.workers.map((w) => [w.url, w]));
  soak.startSampling();
  const client = await LivemaskClient.connect({ redisUrl, commandTimeoutMs: 10_000 });
  soak.client = client;

  soak.phase = 'setup';
  const clip = join(dataDir(), 'videos', `${o.clip}.mp4`);
  const produced = { frames: 0, counting: false, last: -1 };
  await soak.source.start(clip, (kind, packet) => {
    if (produced.counting && kind === 'video' && packet.readUInt32BE(4) !== produced.last) {
      produced.last = packet.readUInt32BE(4);
      produced.frames += 1;
    }
    for (const r of soak.rooms) {
      r.publisher.write(kind, packet);
    }
  });
  for (let i = 0; i < o.rooms; i += 1) {
    soak.rooms.push({ id: `soak-${i + 1}`, publisher: new WhipPublisher(), subscriber: new WhepSubscriber(), error: null, evidence: 'not checked' });
  }
  // Four rooms at a time: the setup itself loads the machine.
  for (let i = 0; i < soak.rooms.length; i += 4) {
    await Promise.all(
      soak.rooms.slice(i, i + 4).map(async (room) => {
        try {
          await openRoom(soak, room, fromUrl);
          say(`${room.id} open on ${room.start?.url ?? '?'}`);
        } catch (err) {
          room.error = message(err);
          say(`${room.id} failed to open: ${room.error}`);
        }
      }),
    );
  }
  if (!soak.source.alive) {
    throw new Error(`the ffmpeg source died: ${soak.source.stderr}`);
  }
  say(`warm-up ${o.warmup} s`);
  await sleep(o.warmup * 1000);
  for (const r of soak.rooms) {
    // Frames are compared over the measured window only.
    r.publisher.sent.frames = 0;
    r.subscriber.received.frames = 0;
  }
  produced.counting = true;
  const before = await metricsOf(soak.workers);
  soak.phase = 'run';
  soak.sample();
  const runStart = Date.now();
  say(`measuring for ${o.seconds} s`);
  await sleep(o.seconds * 1000);
  for (const r of soak.rooms) {
    r.publisher.counting = false;
  }
  produced.counting = false;
  const sent = soak.rooms.map((r) => r.publisher.sent.frames);
  const received = soak.rooms.map((r) => r.subscriber.received.frames);
  const after = await metricsOf(soak.workers);
  soak.sample();
  const runEnd = Date.now();
  soak.phase = 'ended';

  say('ending the rooms, waiting for the evidence to seal');
  await Promise.all(soak.rooms.flatMap((r) => [r.subscriber.close(), r.publisher.close()]));
  await soak.source.stop();
  for (const r of soak.rooms) {
    if (r.start !== undefined) {
      try {
        await client.endRoom(r.id);
      } catch (err) {
        r.error ??= `endRoom: ${message(err)}`;
      }
    }
  }
  const keys = new Map<ServeWorker, KeyObject>();
  for (const w of soak.workers) {
    keys.set(w, (await loadEvidenceKeys({ dataDir: w.dataDir, needSigning: false })).publicKey);
  }
  await Promise.all(
    soak.rooms.map(async (r) => {
      const w = r.start ? fromUrl.get(r.start.url) : undefined;
      const key = w ? keys.get(w) : undefined;
      r.evidence = w && key ? await verifyRoom(join(w.dataDir, 'evidence'), r.id, key, 90_000) : 'no room, no evidence';
    }),
  );
  soak.sample();

  const lastBoundMs = 1280;
  const roomRows: RoomRow[] = soak.rooms.map((r, i) => {
    const s = sent[i] ?? 0;
    const got = received[i] ?? 0;
    const first = r.subscriber.received.firstAt;
    return {
      room: r.id,
      worker: r.start?.workerId ?? '–',
      served: got >= SERVED_FRAMES,
      framesSent: s,
      framesReceived: got,
      droppedPct: s > 0 ? round(Math.max(0, (100 * (s - got)) / s), 1) : 100,
      firstPictureMs: first !== undefined && r.subscribedAt !== undefined ? first - r.subscribedAt : null,
      evidence: r.evidence,
      error: r.error,
    };
  });
  const deltas: Buckets[] = [];
  const workerRows: WorkerRow[] = soak.workers.map((w, i) => {
    const b = bucketDelta(endToEndBuckets(after[i] ?? ''), endToEndBuckets(before[i] ?? ''));
    deltas.push(b);
    const samples = soak.samples.get(w) ?? [];
    const inRun = samples.filter((s) => s.phase === 'run');
    const mid = runStart + (runEnd - runStart) / 2;
    const delta = (name: string): number => counter(after[i] ?? '', name) - counter(before[i] ?? '', name);
    return {
      worker: `${w.url} (pid ${w.pid})`,
      rooms: soak.rooms.filter((r) => r.start?.url === w.url).length,
      latencyMs: { p50: round(histogramQuantileMs(b, 0.5), 0), p95: round(histogramQuantileMs(b, 0.95), 0), mean: round(meanDeltaMs(after[i] ?? '', before[i] ?? ''), 0), frames: b.get(Infinity) ?? 0 },
      framesMasked: delta('livemask_frames_masked_total'),
      failsafeFrames: delta('livemask_failsafe_frames_total'),
      memoryMb: {
        idle: mb(samples.find((s) => s.phase === 'idle')?.node ?? NaN),
        start: mb(inRun[0]?.node ?? NaN),
        peak: mb(Math.max(...samples.map((s) => s.node))),
        end: mb(samples[samples.length - 1]?.node ?? NaN),
        peakWithFfmpeg: mb(Math.max(...samples.map((s) => s.total))),
      },
      slopeMbPerMin: round(slopeMbPerMin(inRun.filter((s) => s.t >= mid).map((s) => ({ t: s.t, y: s.node }))), 2),
    };
  });
  const all = bucketSum(deltas);
  const frames = all.get(Infinity) ?? 0;
  const mean = frames > 0 ? round(workerRows.reduce((a, w) => a + (w.latencyMs.frames > 0 ? w.latencyMs.mean * w.latencyMs.frames : 0), 0) / frames, 0) : NaN;
  const overall = { p50: round(histogramQuantileMs(all, 0.5), 0), p95: round(histogramQuantileMs(all, 0.95), 0), mean, frames };
  const served = roomRows.filter((r) => r.served).length;
  const verified = roomRows.filter((r) => r.evidence.startsWith('verified')).length;
  const totalSent = roomRows.reduce((a, r) => a + r.framesSent, 0);
  const totalGot = roomRows.reduce((a, r) => a + r.framesReceived, 0);
  const machine = machineInfo('cpu', 'cpu');
  const notes = [
    `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine.host}, ${machine.cores} × ${machine.cpu}, ${machine.memGiB} GiB; load average ${loadStart.join(' ')} at start, ${load().join(' ')} at end`,
    `${o.workers} \`livemask serve\` worker(s) (fleet mode, capacity ${capacity}, LIVEMASK_MAX_MASKED ${capacity}, live defaults), ${o.rooms} rooms, ${o.seconds} s measured after a ${o.warmup} s warm-up`,
    `source: ONE ffmpeg encode of ${o.clip} (640x360 VP8 800 kb/s, 30 fps, keyframe every 30 frames, + Opus tone) fanned out to all ${o.rooms} WHIP publishers; each room's participant is masked, and one audience WHEP subscriber gets the masked rendition`,
    `**rooms served: ${served} / ${o.rooms}** (subscriber got at least ${SERVED_FRAMES} masked frames in the window); **evidence verified: ${verified} / ${o.rooms}**`,
    `frames: the ffmpeg source produced ${produced.frames} in the window (${o.seconds * 30} expected at 30 fps), per room; publishers sent ${totalSent} in all (a publisher whose connection is not 'connected' sends nothing), ${totalGot} received by masked subscribers (**${totalSent > 0 ? round((100 * Math.max(0, totalSent - totalGot)) / totalSent, 1) : 100}% dropped**); frames = distinct RTP timestamps of the video, counted over the same window at both ends (in flight at the window's edges: about latency × 30 fps frames per room)`,
    `added latency, all workers: p50 ${msCell(overall.p50, lastBoundMs)} ms, **p95 ${msCell(overall.p95, lastBoundMs)} ms**, mean ${overall.mean} ms (histogram sum / count, exact) over ${overall.frames} masked frames: the workers' own livemask_stage_latency_seconds{stage="end-to-end"} (input frame's last packet in to its masked frame out, as in bench/live-latency.ts), the delta over the window, quantiles interpolated inside its buckets (bounds 160, 320, 640, 1280 ms); WebRTC transport is not in it`,
    'memory: RSS of each worker\'s node process from /proc/<pid>/status every 5 s (idle: joined, no room; start: first sample of the window; end: after the rooms ended and sealed); "with ffmpeg" adds its decoder/encoder children; slope: least squares over the second half of the window',
  ];
  const title = `Fleet load and soak: ${o.workers} workers, ${o.rooms} rooms, ${o.seconds} s`;
  const md = markdown(title, notes, roomRows, workerRows, lastBoundMs);
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `fleet-soak-${started.toISOString().slice(0, 16).replace(':', '')}Z.json`);
  const result = {
    schema: 'livemask-fleet-soak/1',
    date: started.toISOString(),
    options: o,
    machine,
    load: { start: loadStart, end: load() },
    source: { clip: o.clip, encodes: 1, fannedOutTo: o.rooms, size: '640x360', codec: 'VP8+Opus', fps: 30 },
    summary: { roomsServed: served, rooms: o.rooms, evidenceVerified: verified, framesProduced: produced.frames, framesSent: totalSent, framesReceived: totalGot, latencyMs: overall },
    rooms: roomRows,
    workers: workerRows,
    memorySamples: soak.workers.map((w) => (soak.samples.get(w) ?? []).map((s) => ({ t: s.t - runStart, phase: s.phase, nodeMb: mb(s.node), totalMb: mb(s.total) }))),
    notes,
  };
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${md}\n\nJSON: ${file}\n`);
  await soak.close();
  await deleteKeys(redisUrl, PREFIX);
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const soak = new Soak();
  process.on('exit', () => soak.killNow());
  const stop = (signal: string): void => {
    say(`${signal}: stopping every child process`);
    void soak.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Never hang: setup (rooms open 4 at a time, each step with its own timeout), the window, sealing and verifying, stopping.
  const budgetMs = (o.seconds + o.warmup + 60 + 35 * o.rooms + 90 + 60) * 1000;
  const watchdog = setTimeout(() => {
    say(`watchdog: not done after ${budgetMs / 1000} s; stopping`);
    void soak.close().finally(() => process.exit(2));
  }, budgetMs);
  watchdog.unref();
  try {
    await run(o, soak);
    return 0;
  } catch (err) {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    for (const w of soak.workers) {
      say(`worker ${w.url}: ${w.stderrTail(4)}`);
    }
    await soak.close();
    return 1;
  } finally {
    clearTimeout(watchdog);
  }
}

// Exit explicitly: a peer connection werift failed to close must not keep the script alive.
process.exit(await main());
