import ort from 'onnxruntime-node';
import type { Logger } from '../core/index.js';
import { BLAZEFACE_LAYERS, layerAnchors } from './anchors.js';
import type { RawLayerOutput } from './decode.js';
import type { ModelEntry } from './model-files.js';

export type ExecutionProviderName = 'cpu' | 'cuda';

export interface ModelSessionOptions {
  readonly entry: ModelEntry;
  /** The model bytes, already checked against the pinned sha256. */
  readonly bytes: Uint8Array;
  readonly ep: ExecutionProviderName;
  readonly intraOpNumThreads: number;
  readonly logger: Logger;
}

/** The model's graph names (checked at load; see models/README.md). */
const INPUT = 'input:0';
/** Per layer: [scores, boxes]. Layer 1 is the 16×16 grid, layer 2 the 8×8. */
const OUTPUTS = [
  ['Identity:0', 'Identity_2:0'],
  ['Identity_1:0', 'Identity_3:0'],
] as const;

const LAYER_ANCHORS = BLAZEFACE_LAYERS.map(layerAnchors);

/** What a detector needs of a model: one NHWC frame in, both output layers out. */
export interface InferenceRunner {
  readonly entry: ModelEntry;
  readonly executionProvider: ExecutionProviderName;
  run(input: Float32Array): Promise<RawLayerOutput[]>;
  release(): Promise<void>;
}

/**
 * One BlazeFace ONNX session (adapter). Tuned for latency: full graph
 * optimisation, sequential execution, no inter-op threads, quiet ORT logs.
 */
export class ModelSession implements InferenceRunner {
  readonly entry: ModelEntry;
  readonly executionProvider: ExecutionProviderName;
  /**
   * The model's batch dimension as the graph declares it: a number when fixed
   * (the pinned BlazeFace models say 1, so one run takes one frame), a name
   * when symbolic (their batch-N variants say "N": see runBatch), undefined
   * when unknown.
   */
  readonly batchDimension: number | string | undefined;
  readonly #session: ort.InferenceSession;
  /** runBatch's input, grown to the largest batch seen. */
  #batchInput = new Float32Array(0);

  private constructor(entry: ModelEntry, session: ort.InferenceSession, ep: ExecutionProviderName) {
    this.entry = entry;
    this.#session = session;
    this.executionProvider = ep;
    const input = session.inputMetadata.find((m) => m.name === INPUT);
    this.batchDimension = input?.isTensor === true ? input.shape[0] : undefined;
  }

  /**
   * Creates the session on the wanted provider. CUDA that cannot start (no
   * GPU, no CUDA libraries) falls back to CPU with one warning saying why.
   */
  static async create(o: ModelSessionOptions): Promise<ModelSession> {
    if (o.ep === 'cuda') {
      try {
        const cuda = new ModelSession(o.entry, await ort.InferenceSession.create(o.bytes, sessionOptions(o, 'cuda')), 'cuda');
        cuda.#checkGraph();
        return cuda;
      } catch (err) {
        o.logger.warn(
          { model: o.entry.name, reason: err instanceof Error ? err.message : String(err) },
          'CUDA execution provider unavailable; falling back to CPU',
        );
      }
    }
    const session = await ort.InferenceSession.create(o.bytes, sessionOptions(o, 'cpu'));
    const created = new ModelSession(o.entry, session, 'cpu');
    created.#checkGraph();
    return created;
  }

  get inputSize(): number {
    return this.entry.inputSize;
  }

  /** Runs the model on one NHWC float32 tensor; returns both output layers (a batch of one: see runBatch). */
  async run(input: Float32Array): Promise<RawLayerOutput[]> {
    const [layers] = await this.runBatch([input]);
    if (!layers) {
      throw new Error(`${this.entry.file}: no output for the frame`);
    }
    return layers;
  }

  /**
   * Runs the model once on several frames (a batch-N variant only: see
   * batchDimension). Returns each frame's output layers, in input order; the
   * arrays are views into this run's output tensors.
   */
  async runBatch(inputs: readonly Float32Array[]): Promise<RawLayerOutput[][]> {
    const s = this.inputSize;
    const frame = s * s * 3;
    const n = inputs.length;
    if (n === 0) {
      return [];
    }
    if (n > 1 && typeof this.batchDimension === 'number') {
      throw new Error(`${this.entry.file} has a fixed batch of ${this.batchDimension}; load its batch-N variant to run ${n} frames at once`);
    }
    if (inputs.some((input) => input.length < frame)) {
      throw new Error(`runBatch: every input must hold ${frame} floats (${s}x${s}x3)`);
    }
    let packed = inputs[0]?.length === frame && n === 1 ? inputs[0] : undefined; // one frame: no copy
    if (!packed) {
      if (this.#batchInput.length < n * frame) {
        this.#batchInput = new Float32Array(n * frame);
      }
      packed = this.#batchInput.subarray(0, n * frame);
      for (const [k, input] of inputs.entries()) {
        packed.set(input.subarray(0, frame), k * frame);
      }
    }
    const out = await this.#session.run({ [INPUT]: new ort.Tensor('float32', packed, [n, s, s, 3]) });
    const layers = OUTPUTS.map(([scores, boxes]) => [tensorData(out, scores), tensorData(out, boxes)] as const);
    for (const [name] of OUTPUTS) {
      if (out[name]?.dims[0] !== n) {
        throw new Error(`${this.entry.file}: output ${name} has batch ${String(out[name]?.dims[0])} for ${n} frames`);
      }
    }
    return inputs.map((_, k) =>
      layers.map(([scores, boxes], i) => {
        const perScores = scores.length / n;
        const perBoxes = boxes.length / n;
        return {
          scores: scores.subarray(k * perScores, (k + 1) * perScores),
          boxes: boxes.subarray(k * perBoxes, (k + 1) * perBoxes),
          anchors: LAYER_ANCHORS[i] ?? new Float32Array(0),
        };
      }),
    );
  }

  async release(): Promise<void> {
    await this.#session.release();
  }

  #checkGraph(): void {
    const names = OUTPUTS.flat();
    if (!this.#session.inputNames.includes(INPUT) || names.some((n) => !this.#session.outputNames.includes(n))) {
      throw new Error(
        `${this.entry.file}: expected input ${INPUT} and outputs ${names.join(', ')}, ` +
          `got ${this.#session.inputNames.join(', ')} → ${this.#session.outputNames.join(', ')}`,
      );
    }
  }
}

function sessionOptions(o: ModelSessionOptions, ep: ExecutionProviderName): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: o.intraOpNumThreads,
    interOpNumThreads: 1,
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3,
  };
}

function tensorData(out: ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const t = out[name];
  if (!t || !(t.data instanceof Float32Array)) {
    throw new Error(`model output ${name} is missing or not float32`);
  }
  return t.data;
}
