import { Worker } from 'node:worker_threads';
import { DetectorError, type I420Frame, type Logger, type ModelName } from '../core/index.js';
import type { MaskConfig } from '../config/index.js';
import type { BatchPolicy, BatchStats, DetectResult, FaceDetectorOptions } from '../detect/index.js';
import type { FrameDetector } from './frame-detector.js';

/**
 * BlazeFace detectors on threads of their own (detector-worker.ts), for the
 * live renditions: onnxruntime-node runs inference synchronously on the
 * calling thread, so on the main thread every rendition's detection queued
 * behind every other's and behind the media plane. Frames go over by
 * transfer (a copy of the frame is made first, since the caller keeps its
 * own).
 *
 * Two layouts:
 *   - one thread per rendition, each with its own batch-1 models and one
 *     onnxruntime intra-op thread (the default, measured best on CPU);
 *   - one shared thread for all the renditions of the process, whose
 *     detectors run on shared batch-N models: the detections of several
 *     streams that are due together go to the model as one call (a GPU's
 *     throughput grows with the batch). LIVEMASK_DETECT_BATCH sets it.
 *
 * A detection that the caller abandons (its signal aborts: a deadline)
 * rejects at once; the thread still finishes it, and the late answer is
 * dropped. If the thread dies, every detection of every stream on it rejects
 * with DETECTOR_FAILED, which the planner's fail-closed policy turns into
 * frames masked whole.
 */

type WireFrame = { width: number; height: number; index: number; ptsMs: number; data: Uint8Array };
type WireError = { code: string; message: string };

export type WorkerRequest =
  | { type: 'open'; id: number; stream: number }
  | { type: 'detect'; id: number; stream: number; frame: WireFrame }
  | { type: 'stats'; id: number }
  | { type: 'close-stream'; stream: number }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'failed'; error: WireError }
  | {
      type: 'result';
      id: number;
      result?: DetectResult;
      executionProvider?: 'cpu' | 'cuda';
      stats?: Partial<Record<ModelName, BatchStats>>;
      error?: WireError;
    };

type ResultReply = Extract<WorkerReply, { type: 'result' }>;

/** What the thread is started with. */
export interface DetectorThreadData {
  options: Omit<FaceDetectorOptions, 'logger' | 'shared'>;
  logLevel: string;
  /** Shared batch-N models for all the thread's streams; absent: each stream loads its own batch-1 models. */
  batch?: BatchPolicy;
}

/** How long a closing thread may take to finish its detections and exit before it is terminated. */
const CLOSE_GRACE_MS = 5000;

interface Pending {
  readonly stream: number | undefined;
  resolve: (r: ResultReply) => void;
  reject: (err: Error) => void;
}

/** An abort signal's reason as an Error (what a deadline puts there already is one). */
function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DetectorError('DETECTOR_FAILED', 'detection aborted');
}

/** The thread's entry: the built .js; from TypeScript source (tsx, vitest), a bootstrap that loads it through tsx (a dev dependency). */
function startWorker(workerData: DetectorThreadData): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./detector-worker.js', import.meta.url), { workerData });
  }
  const entry = new URL('./detector-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

function detectorError(e: WireError): DetectorError {
  const code = e.code === 'MODEL_MISSING' || e.code === 'MODEL_MISMATCH' ? e.code : 'DETECTOR_FAILED';
  return new DetectorError(code, e.message);
}

/** One detector thread and its requests in flight, for any number of streams. */
class DetectorThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  #nextStream = 0;
  #dead: DetectorError | undefined;

  private constructor(worker: Worker, exited: Promise<void>) {
    this.#worker = worker;
    this.#exited = exited;
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type !== 'result') {
        return;
      }
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.error) {
        pending?.reject(detectorError(reply.error));
      } else {
        pending?.resolve(reply);
      }
    });
    void exited.then(() => this.#fail(new DetectorError('DETECTOR_FAILED', 'the detector thread exited')));
  }

  /** Starts the thread and resolves once it is ready (or rejects with why it could not be). */
  static async start(data: DetectorThreadData, logger: Logger): Promise<DetectorThread> {
    const worker = startWorker(data);
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
    return new DetectorThread(worker, exited);
  }

  /** Whether the thread has exited or is closing: nothing can be opened on it any more. */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Resolves when the thread has exited (closed, or died). */
  get exited(): Promise<void> {
    return this.#exited;
  }

  /** Opens a stream (its detector); resolves with the provider it runs on. */
  async open(): Promise<{ stream: number; executionProvider: 'cpu' | 'cuda' }> {
    const stream = this.#nextStream++;
    const reply = await this.#call({ type: 'open', id: 0, stream }, stream);
    return { stream, executionProvider: reply.executionProvider ?? 'cpu' };
  }

  async detect(stream: number, frame: I420Frame, signal: AbortSignal | undefined): Promise<DetectResult> {
    const data = new Uint8Array(frame.data); // a copy, transferred
    const wire = { width: frame.width, height: frame.height, index: frame.index, ptsMs: frame.ptsMs, data };
    const reply = await this.#call({ type: 'detect', id: 0, stream, frame: wire }, stream, signal, [data.buffer]);
    if (!reply.result) {
      throw new DetectorError('DETECTOR_FAILED', 'the detector thread sent no result');
    }
    return reply.result;
  }

  async stats(): Promise<Partial<Record<ModelName, BatchStats>>> {
    return (await this.#call({ type: 'stats', id: 0 }, undefined)).stats ?? {};
  }

  /** Closes one stream's detector after its detections in progress; what it still waits for rejects now. */
  closeStream(stream: number): void {
    for (const [id, p] of this.#pending) {
      if (p.stream === stream) {
        this.#pending.delete(id);
        p.reject(new DetectorError('DETECTOR_FAILED', 'the detector is closed'));
      }
    }
    if (!this.#dead) {
      this.#worker.postMessage({ type: 'close-stream', stream } satisfies WorkerRequest);
    }
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

  #call(request: WorkerRequest & { id: number }, stream: number | undefined, signal?: AbortSignal, transfer: ArrayBuffer[] = []): Promise<ResultReply> {
    if (this.#dead) {
      return Promise.reject(this.#dead);
    }
    if (signal?.aborted) {
      return Promise.reject(abortReason(signal));
    }
    const id = this.#nextId++;
    return new Promise<ResultReply>((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(id);
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        stream,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      this.#worker.postMessage({ ...request, id }, transfer);
    });
  }

  #fail(err: DetectorError): void {
    this.#dead ??= err;
    for (const p of this.#pending.values()) {
      p.reject(err);
    }
    this.#pending.clear();
  }
}

/** One stream's detector on a detector thread (its own thread, or a shared one). */
export class WorkerFrameDetector implements FrameDetector {
  readonly executionProvider: 'cpu' | 'cuda';
  readonly #thread: DetectorThread;
  readonly #stream: number;
  readonly #onClose: () => Promise<void>;
  #closed: DetectorError | undefined;
  #closing: Promise<void> | undefined;

  private constructor(thread: DetectorThread, stream: number, executionProvider: 'cpu' | 'cuda', onClose: () => Promise<void>) {
    this.#thread = thread;
    this.#stream = stream;
    this.executionProvider = executionProvider;
    this.#onClose = onClose;
  }

  /** A detector on a thread of its own, with its own batch-1 models; resolves once they are loaded. */
  static async create(options: Omit<FaceDetectorOptions, 'logger' | 'shared'>, logger: Logger): Promise<WorkerFrameDetector> {
    const thread = await DetectorThread.start({ options, logLevel: logger.level }, logger);
    try {
      const { stream, executionProvider } = await thread.open();
      return new WorkerFrameDetector(thread, stream, executionProvider, () => thread.close());
    } catch (err) {
      await thread.close();
      throw err;
    }
  }

  /** @internal A stream on a shared thread (see SharedDetectorThread). */
  static async attach(thread: DetectorThread, onClose: () => Promise<void>): Promise<WorkerFrameDetector> {
    const { stream, executionProvider } = await thread.open();
    return new WorkerFrameDetector(thread, stream, executionProvider, async () => {
      thread.closeStream(stream);
      await onClose();
    });
  }

  detect(frame: I420Frame, options: { signal?: AbortSignal } = {}): Promise<DetectResult> {
    if (this.#closed) {
      return Promise.reject(this.#closed);
    }
    return this.#thread.detect(this.#stream, frame, options.signal);
  }

  /** Ends this stream's detector (and its thread, when it has one of its own). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= new DetectorError('DETECTOR_FAILED', 'the detector is closed');
    this.#closing ??= this.#onClose();
    return this.#closing;
  }
}

/**
 * One detector thread with shared batch-N models, for many streams: each
 * `attach` is one stream's detector. The thread ends when the last stream
 * closes (or on close()).
 */
export class SharedDetectorThread {
  readonly #thread: DetectorThread;
  #streams = 0;
  #retiring = false;
  /** What the thread last said of its calls (kept for a thread that stops answering). */
  #lastStats: Partial<Record<ModelName, BatchStats>> = {};

  private constructor(thread: DetectorThread) {
    this.#thread = thread;
    liveThreads.add(this);
    // A thread that dies keeps its calls counted, as far as they were last read.
    void thread.exited.then(() => {
      if (liveThreads.delete(this)) {
        addStats(retiredStats, this.#lastStats);
      }
    });
  }

  static async start(options: Omit<FaceDetectorOptions, 'logger' | 'shared'>, batch: BatchPolicy, logger: Logger): Promise<SharedDetectorThread> {
    return new SharedDetectorThread(await DetectorThread.start({ options, logLevel: logger.level, batch }, logger));
  }

  get streams(): number {
    return this.#streams;
  }

  /** False once the thread died, or is closing because its last stream closed: new streams need a new thread. */
  get usable(): boolean {
    return !this.#retiring && !this.#thread.dead;
  }

  /** A new stream's detector on this thread (rejects with DETECTOR_FAILED on a thread that is not usable). */
  async attach(): Promise<WorkerFrameDetector> {
    if (!this.usable) {
      throw new DetectorError('DETECTOR_FAILED', 'the shared detector thread is closing');
    }
    this.#streams += 1;
    try {
      return await WorkerFrameDetector.attach(this.#thread, () => this.#detach());
    } catch (err) {
      await this.#detach();
      throw err;
    }
  }

  /** Per model: the inference calls made so far and how many had each batch size ({} if the thread does not answer within 1 s). */
  async stats(): Promise<Partial<Record<ModelName, BatchStats>>> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), STATS_TIMEOUT_MS);
    });
    const got = await Promise.race([this.#thread.stats().catch(() => undefined), late]);
    clearTimeout(timer);
    if (got) {
      this.#lastStats = got;
    }
    return got ?? this.#lastStats;
  }

  close(): Promise<void> {
    this.#retiring = true;
    return this.#thread.close();
  }

  async #detach(): Promise<void> {
    this.#streams -= 1;
    if (this.#streams === 0 && !this.#retiring) {
      this.#retiring = true;
      // What the thread did stays counted after it ends (the metrics only grow): read before it closes.
      const final = await this.stats();
      if (liveThreads.delete(this)) {
        addStats(retiredStats, final);
      }
      await this.#thread.close();
    }
  }
}

/** How long a stats request waits for a busy or stalled thread. */
const STATS_TIMEOUT_MS = 1000;

/** Shared detector threads started and not yet counted into retiredStats. */
const liveThreads = new Set<SharedDetectorThread>();

/** The calls of shared detector threads that have ended, per model. */
const retiredStats: Partial<Record<ModelName, BatchStats>> = {};

function addStats(into: Partial<Record<ModelName, BatchStats>>, from: Partial<Record<ModelName, BatchStats>>): void {
  for (const [name, s] of Object.entries(from) as [ModelName, BatchStats][]) {
    const t = (into[name] ??= { calls: 0, frames: 0, bySize: {} });
    t.calls += s.calls;
    t.frames += s.frames;
    for (const [size, n] of Object.entries(s.bySize)) {
      t.bySize[Number(size)] = (t.bySize[Number(size)] ?? 0) + n;
    }
  }
}

/**
 * Per model, the inference calls of this process's shared (batching)
 * detector threads since it started, and how many had each batch size: for
 * the /metrics of `livemask serve`. A thread that does not answer within 1 s
 * counts with what it last said.
 */
export async function sharedDetectorStats(): Promise<Partial<Record<ModelName, BatchStats>>> {
  const threads = [...liveThreads];
  const live = await Promise.all(threads.map((t) => t.stats()));
  const total: Partial<Record<ModelName, BatchStats>> = {};
  addStats(total, retiredStats);
  for (const [k, t] of threads.entries()) {
    if (liveThreads.has(t)) {
      addStats(total, live[k] ?? {});
    }
  }
  return total;
}

/** The process's shared detector threads, one per detector configuration, while they have streams. */
const sharedThreads = new Map<string, Promise<SharedDetectorThread>>();

function detectorOptions(config: MaskConfig): Omit<FaceDetectorOptions, 'logger' | 'shared'> {
  return {
    mode: config.detector,
    ep: config.ep,
    tileEvery: config.tileEvery,
    ...(config.intraOpThreads !== undefined ? { intraOpNumThreads: config.intraOpThreads } : {}),
    ...(config.scoreThreshold !== undefined ? { scoreThreshold: config.scoreThreshold } : {}),
  };
}

/**
 * The live renditions' detector: the configuration's BlazeFace, on a thread
 * of its own, or, when the configuration batches (detectBatch > 1), as one
 * stream of the process's shared detector thread for that configuration.
 */
export async function createWorkerFrameDetector(config: MaskConfig, logger: Logger): Promise<FrameDetector> {
  const options = detectorOptions(config);
  if (config.detectBatch <= 1) {
    return WorkerFrameDetector.create(options, logger);
  }
  const batch = { maxBatch: config.detectBatch, maxWaitMs: config.detectBatchWaitMs };
  const key = JSON.stringify({ options, batch });
  // A registered thread that died or is closing is replaced by a new one (a second try covers one that goes while we wait).
  for (let attempt = 0; attempt < 2; attempt += 1) {
    let entry = sharedThreads.get(key);
    if (!entry) {
      const started = SharedDetectorThread.start(options, batch, logger);
      entry = started;
      sharedThreads.set(key, started);
      const forget = (): void => {
        if (sharedThreads.get(key) === started) {
          sharedThreads.delete(key);
        }
      };
      started.catch(forget);
    }
    const thread = await entry;
    if (thread.usable) {
      return thread.attach();
    }
    if (sharedThreads.get(key) === entry) {
      sharedThreads.delete(key);
    }
  }
  throw new DetectorError('DETECTOR_FAILED', 'no shared detector thread could be started');
}
