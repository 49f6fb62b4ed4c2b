import { DetectorError, type Logger, type ModelName } from '../core/index.js';
import type { DetectorMode } from './detect-plan.js';
import { batchedEntry, defaultModelsDir, loadVerifiedModel, readManifest, type ModelEntry } from './model-files.js';
import { ModelSession, type ExecutionProviderName } from './model-session.js';

export interface LoadModelsOptions {
  readonly mode: DetectorMode;
  readonly ep: ExecutionProviderName;
  readonly intraOpNumThreads: number;
  /** Folder of the .onnx files; they are always checked against the repository's manifest. */
  readonly modelsDir?: string;
  /** Load each model's batch-N variant (several frames per run) instead of the batch-1 original. */
  readonly batched?: boolean;
  readonly logger: Logger;
}

/** The models a detector mode runs: front-128 unless `back`, back-256 unless `front`. */
export function modelsFor(mode: DetectorMode): ModelName[] {
  return (['front128', 'back256'] as const).filter((m) => (m === 'front128' ? mode !== 'back' : mode !== 'front'));
}

/**
 * Verifies a mode's models against their pinned sha256 and opens a session on
 * each. After one CUDA fallback, later models go straight to CPU: one
 * warning, not one per model.
 */
export async function loadModelSessions(o: LoadModelsOptions): Promise<Partial<Record<ModelName, ModelSession>>> {
  const manifest = await readManifest();
  const modelsDir = o.modelsDir ?? defaultModelsDir();
  const wanted = manifest.filter((m) => modelsFor(o.mode).includes(m.name)).map((m) => (o.batched === true ? batchedEntry(m) : m));
  const bytes = await Promise.all(wanted.map((entry) => loadVerifiedModel(modelsDir, entry)));
  const sessions: Partial<Record<ModelName, ModelSession>> = {};
  let ep = o.ep;
  try {
    for (const [i, entry] of wanted.entries()) {
      const session = await openSession(entry, bytes[i] ?? new Uint8Array(0), { ...o, ep });
      ep = session.executionProvider;
      sessions[entry.name] = session;
    }
  } catch (err) {
    await Promise.allSettled(Object.values(sessions).map((s) => s.release()));
    throw err;
  }
  return sessions;
}

async function openSession(entry: ModelEntry, bytes: Uint8Array, o: LoadModelsOptions): Promise<ModelSession> {
  try {
    return await ModelSession.create({ entry, bytes, ep: o.ep, intraOpNumThreads: o.intraOpNumThreads, logger: o.logger });
  } catch (err) {
    throw new DetectorError('MODEL_MISMATCH', `could not load BlazeFace ${entry.name} (${entry.file})`, { cause: err });
  }
}
