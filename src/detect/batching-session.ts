import { createLogger, DetectorError, LivemaskError, type Logger, type ModelName } from '../core/index.js';
import type { RawLayerOutput } from './decode.js';
import type { DetectorMode } from './detect-plan.js';
import { loadModelSessions, modelsFor } from './load-models.js';
import type { ExecutionProviderName, InferenceRunner, ModelSession } from './model-session.js';

/** How the runs of several detectors are gathered into one inference call. */
export interface BatchPolicy {
  /** At most this many frames per call (the batch size). */
  readonly maxBatch: number;
  /**
   * A run that finds the session idle waits at most this long for others to
   * join it (0: only those queued in the same turn of the event loop).
   * Runs that queued behind a call go in the next call at once.
   */
  readonly maxWaitMs: number;
}

/** What a batching session has done: calls, frames, and how many calls had each batch size. */
export interface BatchStats {
  calls: number;
  frames: number;
  bySize: Record<number, number>;
}

function checkPolicy(policy: BatchPolicy): void {
  if (!Number.isInteger(policy.maxBatch) || policy.maxBatch < 1 || !(policy.maxWaitMs >= 0)) {
    throw new LivemaskError('CONFIG_INVALID', `batch policy needs maxBatch ≥ 1 and maxWaitMs ≥ 0, got ${policy.maxBatch} and ${policy.maxWaitMs}`);
  }
}

interface Waiting {
  readonly input: Float32Array;
  readonly resolve: (out: RawLayerOutput[]) => void;
  readonly reject: (err: Error) => void;
}

/**
 * One batch-N model session shared by several detectors (one per stream):
 * each detector's `run` waits in a queue, and the queue goes to the model as
 * one call of up to `maxBatch` frames. Calls never overlap; while one runs,
 * the next batch gathers. A failed call rejects every run in it, and the
 * detectors' callers fail closed as they do on any detector error.
 */
export class BatchingSession implements InferenceRunner {
  readonly stats: BatchStats = { calls: 0, frames: 0, bySize: {} };
  readonly #session: ModelSession;
  readonly #policy: BatchPolicy;
  #queue: Waiting[] = [];
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #busy: Promise<void> | undefined;
  #closed = false;

  constructor(session: ModelSession, policy: BatchPolicy) {
    checkPolicy(policy);
    this.#session = session;
    this.#policy = policy;
  }

  get entry(): ModelSession['entry'] {
    return this.#session.entry;
  }

  get executionProvider(): ExecutionProviderName {
    return this.#session.executionProvider;
  }

  run(input: Float32Array): Promise<RawLayerOutput[]> {
    if (this.#closed) {
      return Promise.reject(new LivemaskError('CLOSED', `the shared ${this.entry.name} session is closed`));
    }
    return new Promise<RawLayerOutput[]>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      this.#schedule();
    });
  }

  /** Rejects what is queued, waits for the call in progress, then releases the session. */
  async release(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer();
    const queued = this.#queue;
    this.#queue = [];
    for (const w of queued) {
      w.reject(new LivemaskError('CLOSED', `the shared ${this.entry.name} session closed`));
    }
    await this.#busy;
    await this.#session.release();
  }

  /**
   * Starts a call now when the batch is full; otherwise one is due after the
   * wait, or sooner when a call just finished (see #call).
   */
  #schedule(): void {
    if (this.#busy || this.#queue.length === 0) {
      return;
    }
    if (this.#queue.length >= this.#policy.maxBatch) {
      this.#cancelTimer();
      this.#busy = this.#call();
      return;
    }
    if (this.#timer) {
      return;
    }
    this.#timer = this.#policy.maxWaitMs === 0 ? setImmediate(this.#fire) : setTimeout(this.#fire, this.#policy.maxWaitMs);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    if (!this.#busy && this.#queue.length > 0) {
      this.#busy = this.#call();
    }
  };

  #cancelTimer(): void {
    if (this.#timer) {
      clearTimeout(this.#timer as NodeJS.Timeout);
      clearImmediate(this.#timer as NodeJS.Immediate);
      this.#timer = undefined;
    }
  }

  async #call(): Promise<void> {
    const batch = this.#queue.splice(0, this.#policy.maxBatch);
    try {
      const outputs = await this.#session.runBatch(batch.map((w) => w.input));
      this.stats.calls += 1;
      this.stats.frames += batch.length;
      this.stats.bySize[batch.length] = (this.stats.bySize[batch.length] ?? 0) + 1;
      if (outputs.length !== batch.length) {
        throw new Error(`a batched call answered ${outputs.length} frames of ${batch.length}`);
      }
      batch.forEach((w, k) => {
        const out = outputs[k];
        if (out) {
          w.resolve(out);
        } else {
          w.reject(new Error(`a batched call gave no output for frame ${k}`));
        }
      });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const w of batch) {
        w.reject(error);
      }
    } finally {
      this.#busy = undefined;
      if (!this.#closed) {
        // The next call goes at the next turn of the event loop, without the wait: it takes the runs
        // that queued behind this call and those its detectors start at once (in the microtasks of
        // the results above), whose streams would otherwise wait maxWaitMs on every pass.
        this.#cancelTimer();
        this.#timer = setImmediate(this.#fire);
      }
    }
  }
}

export interface SharedDetectorModelsOptions extends BatchPolicy {
  readonly mode: DetectorMode;
  readonly ep: ExecutionProviderName;
  /** onnxruntime intra-op threads per model session. */
  readonly intraOpNumThreads: number;
  readonly modelsDir?: string;
  readonly logger?: Logger;
}

/**
 * The batch-N models of one detector mode, each behind a BatchingSession, for
 * several FaceDetectors (one per stream) to share: pass it as their
 * `shared` option. Their concurrent detections then reach the model as
 * batched calls. Closing it fails the detections still queued.
 */
export class SharedDetectorModels {
  readonly mode: DetectorMode;
  readonly policy: BatchPolicy;
  readonly #runners: Partial<Record<ModelName, BatchingSession>>;
  #closing: Promise<void> | undefined;

  private constructor(mode: DetectorMode, policy: BatchPolicy, runners: Partial<Record<ModelName, BatchingSession>>) {
    this.mode = mode;
    this.policy = policy;
    this.#runners = runners;
  }

  static async create(o: SharedDetectorModelsOptions): Promise<SharedDetectorModels> {
    const policy = { maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs };
    checkPolicy(policy);
    const logger = (o.logger ?? createLogger()).child({ module: 'detect' });
    const sessions = await loadModelSessions({ ...o, batched: true, logger });
    const runners: Partial<Record<ModelName, BatchingSession>> = {};
    try {
      for (const name of modelsFor(o.mode)) {
        const session = sessions[name];
        if (session) {
          // Warm-up at one frame and at a full batch: onnxruntime plans its memory per input shape on first use.
          const size = session.inputSize;
          const blank = new Float32Array(size * size * 3).fill(-1);
          await session.runBatch([blank]);
          await session.runBatch(Array.from({ length: policy.maxBatch }, () => blank));
          runners[name] = new BatchingSession(session, policy);
        }
      }
    } catch (err) {
      await Promise.allSettled(Object.values(sessions).map((s) => s.release()));
      throw new DetectorError('DETECTOR_FAILED', `the batch-N models could not run a warm-up batch of ${policy.maxBatch}`, { cause: err });
    }
    const shared = new SharedDetectorModels(o.mode, policy, runners);
    logger.info({ mode: o.mode, executionProvider: shared.executionProvider, ...policy }, 'shared batched detector models ready');
    return shared;
  }

  /** CUDA only when every model runs there. */
  get executionProvider(): ExecutionProviderName {
    const eps = Object.values(this.#runners).map((r) => r.executionProvider);
    return eps.length > 0 && eps.every((ep) => ep === 'cuda') ? 'cuda' : 'cpu';
  }

  runner(name: ModelName): InferenceRunner | undefined {
    return this.#runners[name];
  }

  /** Per model, the calls made so far and their batch sizes. */
  stats(): Partial<Record<ModelName, BatchStats>> {
    return Object.fromEntries(Object.entries(this.#runners).map(([name, r]) => [name, { ...r.stats, bySize: { ...r.stats.bySize } }]));
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.all(Object.values(this.#runners).map((r) => r.release())).then(() => undefined);
    return this.#closing;
  }
}
