import {
  AbortedError,
  createLogger,
  DetectorError,
  i420Size,
  LivemaskError,
  type FaceDetection,
  type I420Frame,
  type Logger,
  type ModelName,
} from '../core/index.js';
import { decodeLayers, type RawLayerOutput } from './decode.js';
import { MODEL_INPUT, planPasses, rotateTiles, type DetectorMode, type DetectPass, type TileMode, type TilePolicy } from './detect-plan.js';
import { letterboxI420, LetterboxScratch, planLetterbox, toFramePixels, type Letterbox } from './letterbox.js';
import { LOW_LIGHT_DEFAULTS, meanLuma, planLowLightTiles, stretchContrast } from './low-light.js';
import type { SharedDetectorModels } from './batching-session.js';
import { loadModelSessions } from './load-models.js';
import type { ExecutionProviderName, InferenceRunner } from './model-session.js';
import { weightedNms } from './nms.js';

/**
 * Defaults, measured on the shared clips (see models/README.md and the bench).
 * A miss is a leak, so the score threshold is low: lower thresholds add boxes
 * on hands and hair that only mask extra area.
 */
export const DETECTOR_DEFAULTS = {
  scoreThreshold: 0.25,
  /** Within one model run: MediaPipe's weighted NMS IoU. */
  nmsIou: 0.3,
  /** Across runs (models, tiles): merge only boxes that clearly are one face. */
  mergeIou: 0.5,
  tiles: 'auto' as TileMode,
  tileScale: 0.5,
  tileOverlap: 64,
  /** Each tile runs at least once every this many frames (see rotateTiles); 1 = every frame. */
  tileEvery: 1,
  /**
   * Tiles are for small faces. A tile's box larger than this fraction of the
   * tile's shorter side is dropped: a face that large is the whole-frame
   * passes' job, and on tiles such boxes are mostly false (a face cut by the
   * tile edge, shoulders, hair).
   */
  tileMaxFaceFraction: 0.35,
  /** Tiles see many small textures; their boxes need this score at least. */
  tileScoreThreshold: 0.35,
  /**
   * When a frame is tiled, its whole-frame front-128 pass only has to find
   * large, near faces, which score high; at a low threshold it boxed arches
   * and crowds (450 px boxes at 0.25-0.35 on fnp_crowd_video).
   */
  tiledFrontScoreThreshold: 0.35,
  intraOpNumThreads: 2,
} as const;

export interface FaceDetectorOptions {
  mode: DetectorMode;
  ep: ExecutionProviderName;
  /** Minimum sigmoid score, in (0,1). Default DETECTOR_DEFAULTS.scoreThreshold. */
  scoreThreshold?: number;
  /** Folder of the .onnx files; they are always checked against the repository's manifest. */
  modelsDir?: string;
  logger?: Logger;
  /** Tiled back-256 runs for small faces: 'auto' (default, `both` mode only), 'on', 'off'. */
  tiles?: TileMode;
  /** Model pixels per frame pixel in a tile (default 0.5: a 28 px face becomes 14 px, which back-256 still finds). */
  tileScale?: number;
  /** Overlap of neighbouring tiles in frame pixels. */
  tileOverlap?: number;
  /** Each tile runs at least once every this many frames (default DETECTOR_DEFAULTS.tileEvery). */
  tileEvery?: number;
  /** ONNX Runtime intra-op threads per session (default 2). */
  intraOpNumThreads?: number;
  /** The low-light pass over dark regions (front-128; default true, ignored in `back` mode). */
  lowLight?: boolean;
  /**
   * Run on these shared batch-N models (one per mode, for several streams'
   * detectors: their runs are batched) instead of loading models of its own.
   * Their mode must be this detector's; ep, modelsDir and intraOpNumThreads
   * are then theirs. Closing the detector leaves them open.
   */
  shared?: SharedDetectorModels;
}

export interface DetectOptions {
  signal?: AbortSignal;
}

export interface DetectTimings {
  preprocessMs: number;
  inferenceMs: Partial<Record<ModelName, number>>;
  postprocessMs: number;
}

export interface DetectResult {
  faces: FaceDetection[];
  timings: DetectTimings;
}

interface ModelSlot {
  readonly session: InferenceRunner;
  /** Released with the detector (false for shared models). */
  readonly owned: boolean;
  readonly tensor: Float32Array;
  readonly scratch: LetterboxScratch;
}

/**
 * BlazeFace face detector (adapter over the pure cores: letterbox, decode,
 * weighted NMS, tile planning). Runs are serialised; each uses onnxruntime's
 * async run. That run only defers the work with setImmediate: inference
 * runs on the calling thread (plus intraOpNumThreads - 1 pool threads), so
 * the event loop is held for the whole detection.
 */
export class FaceDetector {
  readonly mode: DetectorMode;
  /** The execution provider really in use. */
  readonly executionProvider: ExecutionProviderName;
  readonly scoreThreshold: number;
  /** onnxruntime intra-op threads of each model session. */
  readonly intraOpNumThreads: number;
  readonly #slots: Partial<Record<ModelName, ModelSlot>>;
  readonly #tiles: TilePolicy;
  readonly #tileEvery: number;
  readonly #lowLight: boolean;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(options: FaceDetectorOptions, slots: Partial<Record<ModelName, ModelSlot>>) {
    this.mode = options.mode;
    this.scoreThreshold = options.scoreThreshold ?? DETECTOR_DEFAULTS.scoreThreshold;
    this.intraOpNumThreads = options.intraOpNumThreads ?? DETECTOR_DEFAULTS.intraOpNumThreads;
    this.#slots = slots;
    this.#tiles = {
      mode: options.tiles ?? DETECTOR_DEFAULTS.tiles,
      scale: options.tileScale ?? DETECTOR_DEFAULTS.tileScale,
      overlap: options.tileOverlap ?? DETECTOR_DEFAULTS.tileOverlap,
    };
    this.#lowLight = options.lowLight ?? true;
    this.#tileEvery = options.tileEvery ?? DETECTOR_DEFAULTS.tileEvery;
    const eps = Object.values(slots).map((s) => s.session.executionProvider);
    this.executionProvider = eps.length > 0 && eps.every((ep) => ep === 'cuda') ? 'cuda' : 'cpu';
  }

  /** Verifies the models against their pinned sha256, loads and warms them up (or takes the shared ones). */
  static async create(options: FaceDetectorOptions): Promise<FaceDetector> {
    validate(options);
    const logger = (options.logger ?? createLogger()).child({ module: 'detect' });
    const { shared } = options;
    if (shared && shared.mode !== options.mode) {
      throw new LivemaskError('CONFIG_INVALID', `shared detector models are for mode ${shared.mode}, not ${options.mode}`);
    }
    const runners: Partial<Record<ModelName, InferenceRunner | undefined>> = shared
      ? { front128: shared.runner('front128'), back256: shared.runner('back256') }
      : await loadModelSessions({
          mode: options.mode,
          ep: options.ep,
          intraOpNumThreads: options.intraOpNumThreads ?? DETECTOR_DEFAULTS.intraOpNumThreads,
          ...(options.modelsDir !== undefined ? { modelsDir: options.modelsDir } : {}),
          logger,
        });
    const slots: Partial<Record<ModelName, ModelSlot>> = {};
    for (const session of Object.values(runners)) {
      if (session) {
        const size = session.entry.inputSize;
        slots[session.entry.name] = { session, owned: !shared, tensor: new Float32Array(size * size * 3), scratch: new LetterboxScratch(size) };
      }
    }
    const detector = new FaceDetector(options, slots);
    if (!shared) {
      await detector.#warmUp();
    }
    logger.info(
      { mode: options.mode, executionProvider: detector.executionProvider, scoreThreshold: detector.scoreThreshold, shared: shared !== undefined },
      'face detector ready',
    );
    return detector;
  }

  /** Finds faces in one frame; boxes are in frame pixels. */
  detect(frame: I420Frame, options: DetectOptions = {}): Promise<DetectResult> {
    if (this.#closed) {
      return Promise.reject(new LivemaskError('CLOSED', 'face detector is closed'));
    }
    const result = this.#tail.then(() => this.#detectNow(frame, options.signal));
    // The chain only orders runs; each caller gets its own run's error through `result`.
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Releases the sessions after the runs already queued; idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#release();
    return this.#closing;
  }

  async #release(): Promise<void> {
    await this.#tail;
    const owned = Object.values(this.#slots).filter((s) => s.owned);
    const results = await Promise.allSettled(owned.map((s) => s.session.release()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      throw new DetectorError('DETECTOR_FAILED', 'could not release an ONNX session', { cause: failed.reason });
    }
  }

  async #warmUp(): Promise<void> {
    for (const slot of Object.values(this.#slots)) {
      slot.tensor.fill(-1);
      await this.#infer(slot);
    }
  }

  async #detectNow(frame: I420Frame, signal: AbortSignal | undefined): Promise<DetectResult> {
    checkFrame(frame);
    const timings: DetectTimings = { preprocessMs: 0, inferenceMs: {}, postprocessMs: 0 };
    const found: FaceDetection[] = [];
    const passes = rotateTiles(planPasses(frame.width, frame.height, this.mode, this.#tiles), frame.index, this.#tileEvery);
    const tiled = passes.some((p) => p.tile);
    for (const pass of [...passes, ...this.#lowLightPasses(frame)]) {
      throwIfAborted(signal, this.#closed);
      const faces = await this.#runPass(frame, pass, timings);
      const min = tiled && pass.model === 'front128' && !pass.tile ? DETECTOR_DEFAULTS.tiledFrontScoreThreshold : 0;
      found.push(...faces.filter((f) => f.score >= min));
    }
    const t0 = performance.now();
    const merged = weightedNms(found, DETECTOR_DEFAULTS.mergeIou).map((f) => clipToFrame(f, frame));
    const faces = dropNestedDuplicates(merged);
    timings.postprocessMs += performance.now() - t0;
    return { faces, timings };
  }

  /** Low-light passes for the dark regions of this frame (none in `back` mode). */
  #lowLightPasses(frame: I420Frame): DetectPass[] {
    if (!this.#lowLight || this.mode === 'back') {
      return [];
    }
    return planLowLightTiles(frame.width, frame.height, LOW_LIGHT_DEFAULTS, MODEL_INPUT.front128)
      .filter((region) => meanLuma(frame, region) < LOW_LIGHT_DEFAULTS.darkLuma)
      .map((region) => ({ model: 'front128', region, tile: true, lowLight: true }));
  }

  async #runPass(frame: I420Frame, pass: DetectPass, timings: DetectTimings): Promise<FaceDetection[]> {
    const slot = this.#slots[pass.model];
    if (!slot) {
      return [];
    }
    const t0 = performance.now();
    const lb = planLetterbox(pass.region, MODEL_INPUT[pass.model]);
    letterboxI420(frame, lb, slot.tensor, slot.scratch);
    if (pass.lowLight === true) {
      stretchContrast(slot.tensor, lb, LOW_LIGHT_DEFAULTS);
    }
    const t1 = performance.now();
    const outputs = await this.#infer(slot);
    const t2 = performance.now();
    const faces = this.#postprocess(outputs, lb, pass.model).filter((f) => !pass.tile || keepTileFace(f, pass, this.scoreThreshold));
    timings.preprocessMs += t1 - t0;
    timings.inferenceMs[pass.model] = (timings.inferenceMs[pass.model] ?? 0) + (t2 - t1);
    timings.postprocessMs += performance.now() - t2;
    return faces;
  }

  async #infer(slot: ModelSlot): Promise<RawLayerOutput[]> {
    try {
      return await slot.session.run(slot.tensor);
    } catch (err) {
      throw new DetectorError('DETECTOR_FAILED', `BlazeFace ${slot.session.entry.name} inference failed`, { cause: err });
    }
  }

  #postprocess(outputs: readonly RawLayerOutput[], lb: Letterbox, model: ModelName): FaceDetection[] {
    const raw = decodeLayers(outputs, lb.size, this.scoreThreshold);
    return weightedNms(raw, DETECTOR_DEFAULTS.nmsIou).map((d) => ({ ...toFramePixels(d, lb), model }));
  }
}

/**
 * Drops a weak box that is a second, looser box around a confident face: the
 * front model at the whole-frame scale often answers a small face with a box
 * twice its size (0.5 around a 0.95 face), and that box, held and grown,
 * covered most of the frame. A box is dropped only when a detection that
 * scores at least NESTED.minInnerScore and NESTED.scoreGap more than it lies
 * inside it (NESTED.minInside of the inner box's area) and is between 1/NESTED.maxRatio
 * and 1/NESTED.minRatio of its size: the inner box is the face, and it is
 * still masked, head and all.
 */
export const NESTED = { minInnerScore: 0.7, scoreGap: 0.2, minInside: 0.8, minRatio: 1.3, maxRatio: 3 } as const;

export function dropNestedDuplicates<T extends FaceDetection>(faces: readonly T[]): T[] {
  return faces.filter(
    (outer) =>
      !faces.some((inner) => {
        if (inner === outer || inner.score < NESTED.minInnerScore || inner.score < outer.score + NESTED.scoreGap) {
          return false;
        }
        const ratio = Math.max(outer.w, outer.h) / Math.max(inner.w, inner.h);
        if (ratio < NESTED.minRatio || ratio > NESTED.maxRatio) {
          return false;
        }
        const ix = Math.max(0, Math.min(outer.x + outer.w, inner.x + inner.w) - Math.max(outer.x, inner.x));
        const iy = Math.max(0, Math.min(outer.y + outer.h, inner.y + inner.h) - Math.max(outer.y, inner.y));
        return ix * iy >= NESTED.minInside * inner.w * inner.h;
      }),
  );
}

/**
 * Whether a box found on a tile is kept (see DETECTOR_DEFAULTS.tileMaxFaceFraction).
 * Low-light tiles keep the detector's own threshold: dim faces score low even stretched.
 */
export function keepTileFace(face: FaceDetection, tile: Pick<DetectPass, 'region' | 'lowLight'>, scoreThreshold: number): boolean {
  const maxSide = DETECTOR_DEFAULTS.tileMaxFaceFraction * Math.min(tile.region.w, tile.region.h);
  const minScore = tile.lowLight === true ? scoreThreshold : Math.max(scoreThreshold, DETECTOR_DEFAULTS.tileScoreThreshold);
  return Math.max(face.w, face.h) <= maxSide && face.score >= minScore;
}

function validate(options: FaceDetectorOptions): void {
  const t = options.scoreThreshold;
  if (t !== undefined && !(t > 0 && t < 1)) {
    throw new LivemaskError('CONFIG_INVALID', `scoreThreshold must be in (0,1), got ${t}`);
  }
  const s = options.tileScale;
  if (s !== undefined && !(s > 0 && s <= 4)) {
    throw new LivemaskError('CONFIG_INVALID', `tileScale must be in (0,4], got ${s}`);
  }
}

function checkFrame(frame: I420Frame): void {
  const ok = frame.width > 0 && frame.height > 0 && frame.data.length >= i420Size(frame.width, frame.height);
  if (!ok) {
    throw new LivemaskError(
      'BAD_USAGE',
      `frame ${frame.index}: ${frame.data.length} bytes is not an I420 frame of ${frame.width}x${frame.height}`,
    );
  }
}

function throwIfAborted(signal: AbortSignal | undefined, closed: boolean): void {
  if (signal?.aborted) {
    throw new AbortedError('face detection aborted', { cause: signal.reason });
  }
  if (closed) {
    throw new LivemaskError('CLOSED', 'face detector closed during detection');
  }
}

function clipToFrame(f: FaceDetection, frame: I420Frame): FaceDetection {
  const x0 = Math.max(0, f.x);
  const y0 = Math.max(0, f.y);
  const x1 = Math.min(frame.width, f.x + f.w);
  const y1 = Math.min(frame.height, f.y + f.h);
  return { ...f, x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}
