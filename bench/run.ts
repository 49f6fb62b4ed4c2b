// npm run bench: the benchmarks of this slice, one after the other.
//   detector latency per model and resolution (bench/detector.ts)
//   offline `livemask mask` at 720p against the ffmpeg floor (bench/offline-mask.ts)
//   the live masked rendition: added latency and capacity against its floor (bench/live-latency.ts)
// Pass --quick for fewer runs.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const quick = process.argv.includes('--quick');
const root = resolve(import.meta.dirname, '..');
const steps: string[][] = [
  ['bench/detector.ts', '--runs', quick ? '50' : '200'],
  ['bench/offline-mask.ts', '--runs', quick ? '1' : '3'],
  ['bench/live-latency.ts', ...(quick ? ['--seconds', '5', '--sizes', '360', '--capacity-max', '2', '--capacity-seconds', '5'] : [])],
];
for (const args of steps) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.exitCode = r.status ?? 1;
    break;
  }
}
