// Offline `livemask mask` speed against a floor measured in the same run.
//   npx tsx bench/offline-mask.ts [--clip lp_source_s18] [--runs 3] [--detector both]
// Floor: one plain ffmpeg decode + encode of the same clip with exactly the
// encoder settings livemask uses (media's encoderArgs). Masked: the built CLI
// (node bin/livemask.js mask). CPU time is user+sys of the command and all
// its children (bash `times`), so ffmpeg's work is counted on both sides.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { encoderArgs, probe } from '../src/media/index.js';
import { percentile } from '../src/pipeline/index.js';

const { values } = parseArgs({
  options: {
    clip: { type: 'string', default: 'lp_source_s18' },
    runs: { type: 'string', default: '3' },
    detector: { type: 'string', default: 'both' },
    'tile-every': { type: 'string' },
  },
});
const root = resolve(import.meta.dirname, '..');
const data = resolve(root, process.env.LIVEMASK_TEST_DATA ?? '../shared/data');
const clip = join(data, 'videos', `${values.clip}.mp4`);
const runs = Number(values.runs);
const work = mkdtempSync(join(tmpdir(), 'livemask-bench-'));

interface Run {
  wallS: number;
  cpuS: number;
}

const quote = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;

/** Runs a command under bash and returns wall time and children's CPU time. */
function measure(argv: string[]): Run {
  const t = performance.now();
  const r = spawnSync('bash', ['-c', `${argv.map(quote).join(' ') } >/dev/null 2>&1 || exit 97; times`], { encoding: 'utf8' });
  const wallS = (performance.now() - t) / 1000;
  if (r.status !== 0) {
    throw new Error(`command failed (${r.status}): ${argv.join(' ')}`);
  }
  const lines = r.stdout.trim().split('\n');
  const children = (lines[1] ?? '').match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
  if (!children) {
    throw new Error(`cannot read times: ${r.stdout}`);
  }
  const [, um, us, sm, ss] = children.map(Number) as [number, number, number, number, number];
  return { wallS, cpuS: um * 60 + us + sm * 60 + ss };
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  throw new Error('build failed');
}
const info = await probe(clip);
const durationS = info.durationMs / 1000;
const floorOut = join(work, 'floor.mp4');
const maskedOut = join(work, 'masked.mp4');
const report = join(work, 'report.json');
const floorArgs = encoderArgs({ source: clip, output: floorOut, width: info.width, height: info.height, fps: info.fps, codec: 'h264', ...(info.hasAudio ? { audioFrom: clip } : {}) });
const floor: Run[] = [];
const masked: Run[] = [];
for (let i = 0; i < runs; i++) {
  floor.push(measure(['ffmpeg', ...floorArgs]));
  masked.push(measure([process.execPath, join(root, 'bin/livemask.js'), 'mask', clip, '-o', maskedOut, '--detector', String(values.detector), '--report', report, ...(values['tile-every'] !== undefined ? ['--tile-every', values['tile-every']] : [])]));
}
const stages = (JSON.parse(readFileSync(report, 'utf8')) as { totals: { stages: Record<string, { p50: number; p95: number; p99: number }> } }).totals.stages;
rmSync(work, { recursive: true, force: true });

const fCpu = median(floor.map((r) => r.cpuS));
const mCpu = median(masked.map((r) => r.cpuS));
const mWall = median(masked.map((r) => r.wallS));
const fWall = median(floor.map((r) => r.wallS));
console.log(`# offline livemask mask — ${values.clip} ${info.width}x${info.height} @ ${info.fps.toFixed(2)} fps, ${durationS.toFixed(1)} s`);
console.log(`host ${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${new Date().toISOString()}, runs ${runs}, detector ${values.detector}, tile-every ${values['tile-every'] ?? 'default'}`);
console.log('');
console.log('| measure | floor (ffmpeg transcode) | livemask mask | ratio |');
console.log('| --- | --- | --- | --- |');
console.log(`| CPU s (median) | ${fCpu.toFixed(2)} | ${mCpu.toFixed(2)} | ${(mCpu / fCpu).toFixed(2)} |`);
console.log(`| wall s (median) | ${fWall.toFixed(2)} | ${mWall.toFixed(2)} | ${(mWall / fWall).toFixed(2)} |`);
console.log(`| × real time | ${(durationS / fWall).toFixed(2)} | ${(durationS / mWall).toFixed(2)} | |`);
console.log('');
console.log('| stage (per frame, last run) | p50 ms | p95 ms | p99 ms |');
console.log('| --- | --- | --- | --- |');
for (const [name, s] of Object.entries(stages)) {
  console.log(`| ${name} | ${s.p50} | ${s.p95} | ${s.p99} |`);
}
