/** A detection in some coordinate space, with optional key points. */
export interface ScoredBox {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  readonly score: number;
  /** Six key points, as [x, y] pairs, in the same space as the box. */
  readonly keypoints?: readonly (readonly [number, number])[];
}

/** One output pair of the model: per-anchor logits and 16 regressors each. */
export interface RawLayerOutput {
  /** Score logits, one per anchor. */
  readonly scores: Float32Array;
  /** 16 values per anchor: dx, dy, w, h, then 6 key points (dx, dy). */
  readonly boxes: Float32Array;
  /** Anchor centres as x,y pairs in [0,1] (see anchors.ts). */
  readonly anchors: Float32Array;
}

export const VALUES_PER_ANCHOR = 16;
export const KEYPOINT_COUNT = 6;

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** The logit of a probability: decode compares logits, skipping exp per anchor. */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/**
 * Turns raw BlazeFace outputs into detections whose sigmoid score is above
 * `threshold`, in the model input's normalised coordinates (top-left origin,
 * [0,1]; boxes near the edge may extend past it). Box centres and key points
 * are the anchor plus the regressed offset divided by the input size; width
 * and height are divided by the input size. No VFlip: our tensors are y-down.
 */
export function decodeLayers(layers: readonly RawLayerOutput[], inputSize: number, threshold: number): ScoredBox[] {
  const out: ScoredBox[] = [];
  const minLogit = logit(threshold);
  for (const layer of layers) {
    decodeLayer(layer, 1 / inputSize, minLogit, out);
  }
  return out;
}

function decodeLayer(layer: RawLayerOutput, scale: number, minLogit: number, out: ScoredBox[]): void {
  const { scores, boxes, anchors } = layer;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i] ?? -Infinity;
    if (!(s > minLogit)) {
      continue;
    }
    const ax = anchors[2 * i] ?? 0;
    const ay = anchors[2 * i + 1] ?? 0;
    const b = i * VALUES_PER_ANCHOR;
    const cx = ax + (boxes[b] ?? 0) * scale;
    const cy = ay + (boxes[b + 1] ?? 0) * scale;
    const w = (boxes[b + 2] ?? 0) * scale;
    const h = (boxes[b + 3] ?? 0) * scale;
    const keypoints: [number, number][] = [];
    for (let k = 0; k < KEYPOINT_COUNT; k++) {
      const o = b + 4 + 2 * k;
      keypoints.push([ax + (boxes[o] ?? 0) * scale, ay + (boxes[o + 1] ?? 0) * scale]);
    }
    out.push({ x: cx - w / 2, y: cy - h / 2, w, h, score: sigmoid(s), keypoints });
  }
}
