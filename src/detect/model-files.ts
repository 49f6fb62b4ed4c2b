import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DetectorError, type ModelName } from '../core/index.js';

/** One model as pinned in models/manifest.json. */
export interface ModelEntry {
  readonly name: ModelName;
  readonly file: string;
  readonly sha256: string;
  readonly inputSize: number;
  /** The batch-N variant derived from this file at setup (scripts/onnx-batch.mjs), pinned as well. */
  readonly batched?: { readonly file: string; readonly sha256: string };
}

/** The entry of a model's batch-N variant (same name and input size, its own file and pin). */
export function batchedEntry(entry: ModelEntry): ModelEntry {
  if (!entry.batched) {
    throw new DetectorError('MODEL_MISSING', `models/manifest.json pins no batch-N variant of ${entry.name}; restore it from git`);
  }
  return { name: entry.name, file: entry.batched.file, sha256: entry.batched.sha256, inputSize: entry.inputSize };
}

const FETCH_HINT = 'run `node scripts/fetch-models.mjs` from the livemask checkout';

/**
 * The repository's models/ folder: the nearest ancestor of this module that
 * holds package.json and models/manifest.json (works from src/ and dist/).
 */
export function defaultModelsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'models', 'manifest.json'))) {
      return join(dir, 'models');
    }
    const up = dirname(dir);
    if (up === dir) {
      throw new DetectorError('MODEL_MISSING', `models/manifest.json not found above ${dirname(fileURLToPath(import.meta.url))}; ${FETCH_HINT}`);
    }
    dir = up;
  }
}

/**
 * The pinned models, read from the repository's manifest (never from a
 * caller's models folder, so that a swapped folder cannot pin its own hashes).
 */
export async function readManifest(manifestPath = join(defaultModelsDir(), 'manifest.json')): Promise<ModelEntry[]> {
  const parsed = JSON.parse(await readFile(manifestPath, 'utf8')) as {
    models?: Record<string, { file?: unknown; sha256?: unknown; inputSize?: unknown; batched?: { file?: unknown; sha256?: unknown } }>;
  };
  const entries: ModelEntry[] = [];
  for (const name of ['front128', 'back256'] as const) {
    const m = parsed.models?.[name];
    if (typeof m?.file !== 'string' || typeof m.sha256 !== 'string' || typeof m.inputSize !== 'number') {
      throw new DetectorError('MODEL_MISSING', `${manifestPath} has no valid entry for ${name}; restore it from git`);
    }
    const b = m.batched;
    const batched = typeof b?.file === 'string' && typeof b.sha256 === 'string' ? { file: b.file, sha256: b.sha256 } : undefined;
    entries.push({ name, file: m.file, sha256: m.sha256, inputSize: m.inputSize, ...(batched ? { batched } : {}) });
  }
  return entries;
}

/**
 * Reads a model file and checks its sha256 against the pin. Returns the bytes,
 * so that what was checked is exactly what gets loaded.
 */
export async function loadVerifiedModel(modelsDir: string, entry: ModelEntry): Promise<Uint8Array> {
  const path = join(modelsDir, entry.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DetectorError('MODEL_MISSING', `BlazeFace model ${entry.name} is missing at ${path}; ${FETCH_HINT}`, {
      cause: err,
    });
  }
  const got = createHash('sha256').update(bytes).digest('hex');
  if (got !== entry.sha256) {
    throw new DetectorError(
      'MODEL_MISMATCH',
      `BlazeFace model ${entry.name} at ${path} has sha256 ${got}, but models/manifest.json pins ${entry.sha256}; ` +
        `delete the file and ${FETCH_HINT}`,
    );
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
