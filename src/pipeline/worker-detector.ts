import { Worker } from 'node:worker_threads';
import { DetectorError, type I420Frame, type Logger } from '../core/index.js';
import type { MaskConfig } from '../config/index.js';
import type { DetectResult, FaceDetectorOptions } from '../detect/index.js';
import type { FrameDetector } from './frame-detector.js';

/**
 * A BlazeFace detector on a thread of its own (detector-worker.ts), for the
 * live renditions: onnxruntime-node runs inference synchronously on the
 * calling thread, so on the main thread every rendition's detection queued
 * behind every other's and behind the media plane. Each rendition gets one
 * thread with one onnxruntime intra-op thread; frames go over by transfer
 * (a copy of the frame is made first, since the caller keeps its own).
 *
 * A detection that the caller abandons (its signal aborts: a deadline)
 * rejects at once; the thread still finishes it, and the late answer is
 * dropped. If the thread dies, every detection rejects with DETECTOR_FAILED,
 * which the planner's fail-closed policy turns into frames masked whole.
 */

export type WorkerRequest =
  | { type: 'detect'; id: number; frame: { width: number; height: number; index: number; ptsMs: number; data: Uint8Array } }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; executionProvider: 'cpu' | 'cuda' }
  | { type: 'failed'; error: { code: string; message: string } }
  | { type: 'result'; id: number; result?: DetectResult; error?: { code: string; message: string } };

/** How long a closing thread may take to finish its detection and exit before it is terminated. */
const CLOSE_GRACE_MS = 5000;

interface Pending {
  resolve: (r: DetectResult) => void;
  reject: (err: Error) => void;
}

/** An abort signal's reason as an Error (what a deadline puts there already is one). */
function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DetectorError('DETECTOR_FAILED', 'detection aborted');
}

/** The thread's entry: the built .js; from TypeScript source (tsx, vitest), a bootstrap that loads it through tsx (a dev dependency). */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./detector-worker.js', import.meta.url), { workerData });
  }
  const entry = new URL('./detector-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

function detectorError(e: { code: string; message: string }): DetectorError {
  const code = e.code === 'MODEL_MISSING' || e.code === 'MODEL_MISMATCH' ? e.code : 'DETECTOR_FAILED';
  return new DetectorError(code, e.message);
}

export class WorkerFrameDetector implements FrameDetector {
  readonly executionProvider: 'cpu' | 'cuda';
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #dead: DetectorError | undefined;
  #exited: Promise<void>;

  private constructor(worker: Worker, executionProvider: 'cpu' | 'cuda', exited: Promise<void>) {
    this.#worker = worker;
    this.executionProvider = executionProvider;
    this.#exited = exited;
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type !== 'result') {
        return;
      }
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.result) {
        pending?.resolve(reply.result);
      } else {
        pending?.reject(detectorError(reply.error ?? { code: 'DETECTOR_FAILED', message: 'no result' }));
      }
    });
    void exited.then(() => this.#fail(new DetectorError('DETECTOR_FAILED', 'the detector thread exited')));
  }

  /** Starts the thread and resolves once its detector is loaded (or rejects with why it could not be). */
  static async create(options: Omit<FaceDetectorOptions, 'logger'>, logger: Logger): Promise<WorkerFrameDetector> {
    const worker = startWorker({ options, logLevel: logger.level });
    let onError: (err: unknown) => void = () => undefined;
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.on('error', (err) => {
        logger.error({ err }, 'detector thread failed');
        onError(err);
      });
    });
    const ready = await new Promise<WorkerReply>((resolve, reject) => {
      onError = reject;
      worker.once('message', resolve);
      void exited.then(() => reject(new DetectorError('DETECTOR_FAILED', 'the detector thread exited while loading')));
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    if (ready.type !== 'ready') {
      await worker.terminate();
      throw ready.type === 'failed' ? detectorError(ready.error) : new DetectorError('DETECTOR_FAILED', 'unexpected first message from the detector thread');
    }
    return new WorkerFrameDetector(worker, ready.executionProvider, exited);
  }

  detect(frame: I420Frame, options: { signal?: AbortSignal } = {}): Promise<DetectResult> {
    if (this.#dead) {
      return Promise.reject(this.#dead);
    }
    const { signal } = options;
    if (signal?.aborted) {
      return Promise.reject(abortReason(signal));
    }
    const id = this.#nextId++;
    const data = new Uint8Array(frame.data); // a copy, transferred
    return new Promise<DetectResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(id);
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      const request: WorkerRequest = { type: 'detect', id, frame: { width: frame.width, height: frame.height, index: frame.index, ptsMs: frame.ptsMs, data } };
      this.#worker.postMessage(request, [data.buffer]);
    });
  }

  /** Asks the thread to finish and exit; terminates it if it has not within a grace period. Idempotent. */
  async close(): Promise<void> {
    if (!this.#dead) {
      this.#worker.postMessage({ type: 'close' } satisfies WorkerRequest);
      this.#fail(new DetectorError('DETECTOR_FAILED', 'the detector is closed'));
    }
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS);
    });
    if ((await Promise.race([this.#exited, grace])) === 'late') {
      await this.#worker.terminate();
    }
    clearTimeout(timer);
  }

  #fail(err: DetectorError): void {
    this.#dead ??= err;
    for (const p of this.#pending.values()) {
      p.reject(err);
    }
    this.#pending.clear();
  }
}

/** The live renditions' detector: the configuration's BlazeFace, on its own thread. */
export function createWorkerFrameDetector(config: MaskConfig, logger: Logger): Promise<FrameDetector> {
  return WorkerFrameDetector.create({
    mode: config.detector,
    ep: config.ep,
    tileEvery: config.tileEvery,
    ...(config.intraOpThreads !== undefined ? { intraOpNumThreads: config.intraOpThreads } : {}),
    ...(config.scoreThreshold !== undefined ? { scoreThreshold: config.scoreThreshold } : {}),
  }, logger);
}
