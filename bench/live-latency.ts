// Live masked rendition: added latency and capacity, against a floor measured in the same run.
//   npx tsx bench/live-latency.ts [--seconds 10] [--sizes 360,720] [--lookahead 0,2] [--warmup 2]
//     [--capacity-seconds 10] [--capacity-max 8] [--clip lp_source_s18] [--detector front|back|both]
// A real face clip is pre-encoded once per size to VP8 RTP (libvpx realtime,
// -g 30), then replayed in real time at 30 fps into MaskedPipeline, one
// stream per run: masked (BlazeFace, the live defaults) and the floor (the
// same pipeline with a detector that finds nothing at no cost: decode, paint
// nothing, encode) for each size and look-ahead K. Latency is the pipeline's
// own: arrival of an input frame's last packet to its masked frame's last
// packet out, for the frames that arrived after a warm-up (ffmpeg stages
// starting). Capacity: N concurrent masked streams (K default) for
// N = 1, 2, ... until one of them drops >= 1% or delivers under 29 fps.
// Prints markdown; writes JSON to bench/results/live-latency-<date>.json.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/core/index.js';
import { parseMaskConfig } from '../src/config/index.js';
import { LIVE_MASK_DEFAULTS } from '../src/live/sessions.js';
import { encodeClipRtp, type RtpClip } from './live-source.js';
import { runStreams, type StreamsResult } from './live-streams.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    sizes: { type: 'string', default: '360,720' },
    lookahead: { type: 'string', default: `0,${LIVE_MASK_DEFAULTS.lookahead}` },
    'capacity-seconds': { type: 'string', default: '10' },
    'capacity-max': { type: 'string', default: '8' },
    clip: { type: 'string', default: 'lp_source_s18' },
    detector: { type: 'string' },
  },
});
const FPS = 30;
const SIZES: Record<string, { width: number; height: number; bitrate: number }> = {
  '360': { width: 640, height: 360, bitrate: 800_000 },
  '720': { width: 1280, height: 720, bitrate: 2_000_000 },
};
const root = resolve(import.meta.dirname, '..');
const clipFile = join(resolve(root, process.env.LIVEMASK_TEST_DATA ?? '../shared/data'), 'videos', `${values.clip}.mp4`);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const DETECTORS = ['front', 'back', 'both'] as const;
const detector = DETECTORS.find((d) => d === values.detector);
if (values.detector !== undefined && !detector) {
  throw new Error(`--detector: one of ${DETECTORS.join(', ')}`);
}
const capacitySeconds = Number(values['capacity-seconds']);
const capacityMax = Number(values['capacity-max']);
const sizes = values.sizes.split(',');
const lookaheads = values.lookahead.split(',').map(Number);
const logger = createLogger({ level: 'error' }); // detection timeouts (warn) show as fail-safe frames
const frameMs = 1000 / FPS;

for (const s of sizes) {
  if (!SIZES[s]) {
    throw new Error(`--sizes: unknown size ${s} (known: ${Object.keys(SIZES).join(', ')})`);
  }
}
if (!existsSync(clipFile)) {
  console.error(`no clip at ${clipFile}: set LIVEMASK_TEST_DATA`);
  process.exit(1);
}

const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? '?';
const startedAt = new Date();
const loadStart = loadavg();
const config = (k: number): { detector: string; tileEvery: number; detectTimeoutMs: number } => {
  const c = parseMaskConfig({ ...LIVE_MASK_DEFAULTS, lookahead: k, ...(detector ? { detector } : {}) });
  return { detector: c.detector, tileEvery: c.tileEvery, detectTimeoutMs: c.detectTimeoutMs };
};

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const worst = (r: StreamsResult, pick: (s: StreamsResult['streams'][number]) => number, max = true): number =>
  r.streams.map(pick).reduce((a, b) => (max ? Math.max(a, b) : Math.min(a, b)), max ? -Infinity : Infinity);

interface LatencyRow {
  size: string;
  lookahead: number;
  run: 'floor' | 'masked';
  result: StreamsResult;
}

interface CapacityRow {
  size: string;
  n: number;
  carried: boolean;
  result: StreamsResult;
}

const clips = new Map<string, RtpClip>();
for (const s of sizes) {
  const size = SIZES[s] as (typeof SIZES)[string];
  clips.set(s, await encodeClipRtp(clipFile, { ...size, fps: FPS, seconds: warmup + Math.max(seconds, capacitySeconds) + 1 }));
}
const clipOf = (s: string): RtpClip => clips.get(s) as RtpClip;

const latency: LatencyRow[] = [];
for (const s of sizes) {
  for (const k of lookaheads) {
    for (const run of ['floor', 'masked'] as const) {
      const result = await runStreams(clipOf(s), { count: 1, lookahead: k, noop: run === 'floor', frames: seconds * FPS, warmupFrames: warmup * FPS, ...(detector ? { detector } : {}), logger });
      latency.push({ size: s, lookahead: k, run, result });
    }
  }
}

const capacity: CapacityRow[] = [];
const capacityK = LIVE_MASK_DEFAULTS.lookahead;
for (const s of capacityMax > 0 ? sizes : []) {
  for (let n = 1; n <= capacityMax; n += 1) {
    const result = await runStreams(clipOf(s), { count: n, lookahead: capacityK, noop: false, frames: capacitySeconds * FPS, warmupFrames: warmup * FPS, ...(detector ? { detector } : {}), logger });
    const carried = result.streams.every((st) => st.droppedPct < 1 && st.outFps >= 29 && st.errors.length === 0);
    capacity.push({ size: s, n, carried, result });
    if (!carried) {
      break;
    }
  }
}
const loadEnd = loadavg();

// Report.
const clipLine = sizes.map((s) => {
  const c = clipOf(s);
  return `${c.width}x${c.height} ${(c.bitrate / 1e6).toFixed(2)} Mb/s, ${c.keyframes} keyframes in ${c.frames.length} frames`;
});
console.log(`# live masked rendition — added latency and capacity`);
console.log('');
console.log(`- date ${startedAt.toISOString()}; host ${hostname()}, ${cpus().length} × ${cpuModel}; load average ${loadStart.map(f2).join(' ')} at start, ${loadEnd.map(f2).join(' ')} at end`);
console.log(`- clip ${values.clip} (looped), VP8 libvpx realtime -g 30, ${FPS} fps: ${clipLine.join('; ')}; replayed in real time`);
console.log(`- masked: ${detector ? `--detector ${detector}, otherwise ` : ''}live defaults (${lookaheads.map((k) => `K=${k}: ${JSON.stringify(config(k))}`).join('; ')}); floor: the same pipeline, a detector that finds nothing at no cost`);
console.log(`- latency = arrival of an input frame's last packet → its output frame's last packet; frames of the first ${warmup} s of each run (warm-up: ffmpeg stages starting) left out; out fps = frames delivered per second of input; ${seconds} s per latency run, ${capacitySeconds} s per capacity step`);
console.log('');
console.log(`## Latency, one stream (ms)`);
console.log('');
console.log('| size | K | run | p50 | p95 | p99 | p95 − K frames | p50 / floor | p95 / floor | out fps | dropped % | fail-safe % | first frame | cores | machine busy % |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of latency) {
  const st = row.result.streams[0];
  const floor = latency.find((r) => r.size === row.size && r.lookahead === row.lookahead && r.run === 'floor')?.result.streams[0];
  if (!st || !floor) {
    continue;
  }
  const l = st.latencyMs;
  console.log(
    `| ${row.size}p | ${row.lookahead} | ${row.run} | ${f1(l.p50)} | ${f1(l.p95)} | ${f1(l.p99)} | ${f1(l.p95 - row.lookahead * frameMs)} | ` +
      `${f2(l.p50 / floor.latencyMs.p50)} | ${f2(l.p95 / floor.latencyMs.p95)} | ${f1(st.outFps)} | ${f1(st.droppedPct)} | ${f1(st.failsafePct)} | ` +
      `${f1(st.firstFrameMs)} | ${f2(row.result.cores)} | ${Math.round(row.result.machineBusyPct)} |`,
  );
}
const errors = [...latency, ...capacity].flatMap((r) => r.result.streams.flatMap((st) => st.errors));
if (capacity.length > 0) {
  console.log('');
  console.log(`## Capacity: N concurrent masked streams, K=${capacityK} (carried: every stream ≥ 29 fps out and < 1% dropped)`);
  console.log('');
  console.log('| size | N | carried | min out fps | max dropped % | p50 (worst stream) | p95 (worst stream) | fail-safe % | pacer late p95 | cores | machine busy % |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const row of capacity) {
    const r = row.result;
    console.log(
      `| ${row.size}p | ${row.n} | ${row.carried ? 'yes' : 'no'} | ${f1(worst(r, (st) => st.outFps, false))} | ${f1(worst(r, (st) => st.droppedPct))} | ` +
        `${f1(worst(r, (st) => st.latencyMs.p50))} | ${f1(worst(r, (st) => st.latencyMs.p95))} | ${f1(worst(r, (st) => st.failsafePct))} | ${f1(worst(r, (st) => st.paceLateP95Ms))} | ${f2(r.cores)} | ${Math.round(r.machineBusyPct)} |`,
    );
  }
  console.log('');
  for (const s of sizes) {
    const carried = capacity.filter((r) => r.size === s && r.carried).map((r) => r.n);
    const tried = capacity.filter((r) => r.size === s).length;
    const top = Math.max(0, ...carried);
    console.log(`- ${s}p: ${top} masked stream${top === 1 ? '' : 's'} carried in real time${tried === capacityMax && carried.length === tried ? ` (the cap, ${capacityMax})` : ''}`);
  }
}
if (errors.length > 0) {
  console.log('');
  console.log(`pipeline errors: ${errors.join('; ')}`);
}

const dir = join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `live-latency-${startedAt.toISOString().slice(0, 16).replace(':', '')}.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      date: startedAt.toISOString(),
      host: { name: hostname(), cpu: cpuModel, cores: cpus().length, loadStart, loadEnd },
      options: { clip: values.clip, detector: detector ?? 'live default', seconds, warmup, sizes, lookaheads, capacitySeconds, capacityMax, fps: FPS, capacityLookahead: capacityK },
      configs: Object.fromEntries(lookaheads.map((k) => [k, config(k)])),
      clips: Object.fromEntries(sizes.map((s) => [s, { ...SIZES[s], frames: clipOf(s).frames.length, keyframes: clipOf(s).keyframes, bitrate: clipOf(s).bitrate }])),
      latency: latency.map((r) => ({ size: r.size, lookahead: r.lookahead, run: r.run, ...r.result })),
      capacity: capacity.map((r) => ({ size: r.size, n: r.n, carried: r.carried, ...r.result })),
    },
    null,
    2,
  )}\n`,
);
console.log('');
console.log(`JSON: ${file}`);
