// `livemask bench` and `npm run bench`: one run of every benchmark, against
// the floor and the peer, written to bench/results/<date>-<host>.json (checked
// against bench/result-schema.ts first), a PNG chart next to it, and Markdown
// on stdout. Progress goes to stderr.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LivemaskError } from '../src/core/index.js';
import { LIVE_MASK_DEFAULTS } from '../src/live/sessions.js';
import { benchBatch, type BatchResult } from './batch.js';
import { writeStageChart } from './chart.js';
import { benchDetector, type DetectorRow } from './detector.js';
import { benchLive, LIVE_FPS, LIVE_SIZES, type LiveResult } from './live-latency.js';
import { encodeClipRtp } from './live-source.js';
import { benchWebrtcLatency, type WebrtcLatencyRow } from './live-webrtc.js';
import { load, machineInfo, versions, type MachineInfo, type Versions } from './machine.js';
import { benchOffline, type OfflineRow } from './offline-mask.js';
import { parseBenchOptions, planBench, type BenchOptions, type BenchOptionsInput } from './options.js';
import { clipFiles, repoRoot, type ClipFiles } from './paths.js';
import { benchPeer, peerUnavailable, type PeerRow } from './peer.js';
import { prepareClip, type PreparedClip } from './prepare-clip.js';
import { formatMarkdown } from './report.js';
import { schemaProblems } from './result-schema.js';
import { benchStages, stageSource, type ResolutionStages } from './stages.js';
import type { Pct } from './stats.js';
import { round } from './stats.js';

export interface BenchResult {
  schema: 'livemask-bench/1';
  date: string;
  quick: boolean;
  durationS: number;
  /** Seconds spent in each part of the run. */
  phaseS: Record<string, number>;
  options: BenchOptions;
  machine: MachineInfo;
  load: { start: number[]; end: number[] };
  versions: Versions;
  floorRatio: number;
  /** Through the WebRTC loopback (bench/live-webrtc.ts); floor: the passthrough of the same run; pipeline and pipelineFloor: MaskedPipeline alone (bench/live-latency.ts). */
  e2eLatencyMs: Pct & { size: string; lookahead: number; via: 'webrtc-loopback'; deliveredPct: number; floor: Pct; pipeline: Pct; pipelineFloor: Pct };
  capacity: { p360: number; p720: number; capped: { p360: boolean; p720: boolean }; lookahead: number };
  detectorMs: { resolution: string; front128: Pct & { inference: Pct }; back256: Pct & { inference: Pct } };
  peer: (PeerRow & { ours: { fps: number; leaks: number; leakRate: number; cpuS: number } })[];
  peerSkipped: string | null;
  offline: OfflineRow[];
  stages: ResolutionStages[];
  detector: DetectorRow[];
  batch: BatchResult;
  live: LiveResult;
  webrtc: WebrtcLatencyRow[];
  files: { json: string; png: string };
}

/** The result broke its own schema: a bug in the bench, never written out. */
export class BenchSchemaError extends Error {
  readonly code = 'BENCH_SCHEMA';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`bench result does not match bench/result-schema.ts: ${problems.slice(0, 5).join('; ')}`);
    this.name = 'BenchSchemaError';
    this.problems = problems;
  }
}

const say = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

function packageVersion(root: string): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
}

function detectorMs(rows: readonly DetectorRow[]): BenchResult['detectorMs'] {
  const resolution = rows.some((r) => r.resolution === '720p') ? '720p' : (rows[0]?.resolution ?? '?');
  const pick = (pass: string): Pct & { inference: Pct } => {
    const r = rows.find((x) => x.pass === pass && x.resolution === resolution);
    return { p50: r?.total.p50 ?? NaN, p95: r?.total.p95 ?? NaN, p99: r?.total.p99 ?? NaN, inference: r?.inference ?? { p50: NaN, p95: NaN, p99: NaN } };
  };
  return { resolution, front128: pick('front128'), back256: pick('back256') };
}

function e2e(live: LiveResult, webrtc: readonly WebrtcLatencyRow[]): BenchResult['e2eLatencyMs'] {
  const k = LIVE_MASK_DEFAULTS.lookahead;
  const pct = (l: Pct | undefined): Pct => ({ p50: l?.p50 ?? NaN, p95: l?.p95 ?? NaN, p99: l?.p99 ?? NaN });
  const pipeline = (run: 'floor' | 'masked'): Pct => pct(live.latency.find((x) => x.size === '720' && x.lookahead === k && x.run === run)?.latencyMs);
  const wire = (run: WebrtcLatencyRow['run']): WebrtcLatencyRow | undefined => webrtc.find((x) => x.size === '720' && x.lookahead === k && x.run === run);
  const masked = wire('masked');
  return {
    ...pct(masked?.latencyMs),
    size: '720p',
    lookahead: k,
    via: 'webrtc-loopback',
    deliveredPct: masked?.deliveredPct ?? 0,
    floor: pct(wire('passthrough')?.latencyMs),
    pipeline: pipeline('masked'),
    pipelineFloor: pipeline('floor'),
  };
}

function resultName(date: Date): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${date.toISOString().slice(0, 16).replace(':', '')}Z-${host}`;
}

interface Parts {
  phaseS: Record<string, number>;
  stages: ResolutionStages[];
  detector: DetectorRow[];
  offline: OfflineRow[];
  peer: BenchResult['peer'];
  peerSkipped: string | null;
  batch: BatchResult;
  live: LiveResult;
  webrtc: WebrtcLatencyRow[];
}

/** Accumulates the seconds spent in each part of a run. */
function phaseClock(): { phaseS: Record<string, number>; time: <T>(phase: string, fn: () => Promise<T>) => Promise<T> } {
  const phaseS: Record<string, number> = {};
  return {
    phaseS,
    time: async (phase, fn) => {
      const t = performance.now();
      try {
        return await fn();
      } finally {
        phaseS[phase] = round((phaseS[phase] ?? 0) + (performance.now() - t) / 1000, 1);
      }
    },
  };
}

async function stagesAndDetector(o: BenchOptions, clips: PreparedClip[], work: string, time: ReturnType<typeof phaseClock>['time']): Promise<Pick<Parts, 'stages' | 'detector'>> {
  const plan = planBench(o);
  const stages: ResolutionStages[] = [];
  const detector: DetectorRow[] = [];
  for (const height of plan.stageHeights) {
    const source = stageSource(clips, height);
    say(`stages at ${height}p (${source.name}, ${plan.stageFrames} frames)`);
    const run = await time('stages', () => benchStages({ source, height, frames: plan.stageFrames, ep: o.ep, work }));
    stages.push(run.row);
    if (o.ep === 'cuda' && run.row.ep !== 'cuda' && stages.length === 1) {
      say('warning: --ep cuda: the CUDA execution provider did not load (see the warning above); every number below is on the CPU');
    }
    if (plan.detectorHeights.includes(height)) {
      say(`detector passes at ${height}p (${plan.detectorRuns} runs each)`);
      detector.push(...(await time('detector', () => benchDetector({ frames: run.frames, resolution: `${height}p`, ep: o.ep, runs: plan.detectorRuns, both: !o.quick }))));
    }
  }
  return { stages, detector };
}

async function measureAll(o: BenchOptions, files: readonly ClipFiles[], root: string, work: string): Promise<Parts> {
  const plan = planBench(o);
  const { phaseS, time } = phaseClock();
  const clips: PreparedClip[] = [];
  for (const c of files) {
    clips.push(await time('prepare', () => prepareClip(c, plan.clipFrames, work)));
  }
  const { stages, detector } = await stagesAndDetector(o, clips, work, time);
  say(`batch sizes 1, 4, 16 (about ${plan.batchFrames} frames each)`);
  const batch = await time('batch', () => benchBatch(o.ep, plan.batchFrames, plan.batchSessionsUpTo));
  const offline: OfflineRow[] = [];
  const peer: BenchResult['peer'] = [];
  const peerSkipped = peerUnavailable() ?? null;
  if (peerSkipped !== null) {
    say(`peer skipped: ${peerSkipped}`);
  }
  for (const clip of clips) {
    say(`offline: floor and livemask mask on ${clip.name} (${clip.frames} frames, ${plan.offlineRuns} run(s)), leak evaluation`);
    const row = await time('offline', () => benchOffline({ clip, runs: plan.offlineRuns, ep: o.ep, root, work }));
    offline.push(row);
    if (peerSkipped === null) {
      say(`peer: gst-launch-1.0 faceblur on ${clip.name}, leak evaluation`);
      const p = await time('peer', () => benchPeer(clip, work));
      peer.push({ ...p, ours: { fps: row.masked.fps, leaks: row.leaks.leaks, leakRate: row.leaks.leakRate, cpuS: row.masked.cpuS } });
    }
  }
  const first = clips[0] as PreparedClip;
  say(`live: latency at ${plan.live.latencySizes.join(', ')}p and capacity at ${plan.live.sizes.join(', ')}p (${first.name}, ${plan.live.seconds} s runs)`);
  const live = await time('live', () => benchLive({ clip: first.video, clipName: first.name, ep: o.ep, detectBatch: o['detect-batch'], ...plan.live }));
  const webrtc = await time('webrtc', () => webrtcLatency(o, first, root));
  return { phaseS, stages, detector, offline, peer, peerSkipped, batch, live, webrtc };
}

/** The masked and passthrough latency through a `livemask serve` process and werift peers, per live latency size (720p first) and look-ahead. */
async function webrtcLatency(o: BenchOptions, first: PreparedClip, root: string): Promise<WebrtcLatencyRow[]> {
  const plan = planBench(o);
  const k = LIVE_MASK_DEFAULTS.lookahead;
  const lookaheads = plan.live.lookaheads === 'both' ? [0, k] : [k];
  const sizes = ['720', ...plan.live.latencySizes.filter((s) => s !== '720')];
  const seconds = plan.webrtc.warmup + plan.webrtc.seconds;
  const rows: WebrtcLatencyRow[] = [];
  for (const name of sizes) {
    const size = LIVE_SIZES[name] as (typeof LIVE_SIZES)[string];
    say(`end to end through WebRTC at ${name}p30, K=${lookaheads.join(' and ')} (${first.name}, ${seconds} s each, a livemask serve process)`);
    const clip = await encodeClipRtp(first.video, { ...size, fps: LIVE_FPS, seconds: seconds + 1 });
    for (const lookahead of lookaheads) {
      rows.push(...(await benchWebrtcLatency({ root, fromSources: false, clip, size: name, lookahead, warmupSeconds: plan.webrtc.warmup, seconds: plan.webrtc.seconds, ep: o.ep, detectBatch: o['detect-batch'] })));
    }
  }
  return rows;
}

/** Runs the benchmark; resolves with the result after writing the JSON and the chart and printing the tables. */
export async function runBench(input: BenchOptionsInput): Promise<BenchResult> {
  const options = parseBenchOptions(input);
  const files = clipFiles(planBench(options).clips);
  const root = repoRoot();
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
    throw new LivemaskError('BAD_USAGE', 'livemask is not built (dist/ is missing): run `npm run build` first; the bench runs the built `livemask mask`');
  }
  const started = new Date();
  const t0 = performance.now();
  const loadStart = load();
  const work = mkdtempSync(join(tmpdir(), 'livemask-bench-'));
  let parts: Parts;
  try {
    parts = await measureAll(options, files, root, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const name = resultName(started);
  const ep = parts.stages[0]?.ep ?? 'cpu';
  const sum = (k: 'floor' | 'masked'): number => parts.offline.reduce((a, r) => a + r[k].cpuS, 0);
  const result: BenchResult = {
    schema: 'livemask-bench/1',
    date: started.toISOString(),
    quick: options.quick,
    durationS: round((performance.now() - t0) / 1000, 1),
    options,
    machine: machineInfo(ep, options.ep),
    load: { start: loadStart, end: load() },
    versions: await versions(packageVersion(root)),
    floorRatio: round(sum('masked') / sum('floor'), 2),
    e2eLatencyMs: e2e(parts.live, parts.webrtc),
    capacity: {
      p360: parts.live.carried['360']?.streams ?? 0,
      p720: parts.live.carried['720']?.streams ?? 0,
      capped: { p360: parts.live.carried['360']?.capped ?? false, p720: parts.live.carried['720']?.capped ?? false },
      lookahead: parts.live.capacityLookahead,
    },
    detectorMs: detectorMs(parts.detector),
    ...parts,
    files: { json: join(dir, `${name}.json`), png: join(dir, `${name}.png`) },
  };
  const json = JSON.parse(JSON.stringify(result)) as unknown; // as a reader will see it: NaN becomes null
  const problems = schemaProblems(json);
  if (problems.length > 0) {
    throw new BenchSchemaError(problems);
  }
  writeFileSync(result.files.json, `${JSON.stringify(json, null, 2)}\n`);
  const m = result.machine;
  await writeStageChart(result.files.png, {
    title: `livemask latency by stage${result.quick ? ' (--quick)' : ''}`,
    subtitle: `${result.date.slice(0, 16).replace('T', ' ')} UTC · ${m.host} · ${m.cores} × ${m.cpu} · GPU ${m.gpu ?? 'none'} · ep ${m.ep}`,
    rows: result.stages,
  });
  process.stdout.write(`${formatMarkdown(result)}\n`);
  return result;
}
