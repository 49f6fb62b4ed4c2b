// YuNet (OpenCV Zoo face_detection_yunet_2023mar.onnx), the independent face
// detector the leak tests use as a second auditor. Test-only: nothing in src/
// may import it. Model: input `input` float32 [1,3,640,640], BGR 0..255;
// outputs cls_/obj_/bbox_/kps_ {8,16,32}, [1, (640/s)^2, 1|1|4|10].
// Decoding follows OpenCV's FaceDetectorYN: score = sqrt(clamp(cls) * clamp(obj)),
// centre = (col + dx, row + dy) * stride, size = exp(dw|dh) * stride, then NMS.
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { clipRect, i420ToRgb } from '../../src/eval/index.js';
import type { Box, I420Frame } from '../../src/core/index.js';
import { repoRoot } from './paths.js';

export const YUNET_MODEL = join(repoRoot, '..', 'shared', 'models', 'yunet', 'face_detection_yunet_2023mar.onnx');
const SIZE = 640;
const STRIDES = [8, 16, 32] as const;

export interface YunetFace {
  readonly box: Box;
  readonly score: number;
}

export interface DetectOptions {
  /** Keep faces scoring at least this. Default 0.6. */
  scoreThreshold?: number;
  /** NMS IoU. Default 0.3 (OpenCV's default). */
  nmsIou?: number;
  /** Largest upscale of the picture (or region) into the 640 input. Default 2. */
  maxUpscale?: number;
}

export interface Yunet {
  /** Faces in the frame, or in `region` of it (boxes in frame pixels either way). */
  detect(frame: I420Frame, region?: Box, options?: DetectOptions): Promise<YunetFace[]>;
  close(): Promise<void>;
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy NMS, highest score first. */
export function nms(faces: readonly YunetFace[], iouThreshold: number): YunetFace[] {
  const kept: YunetFace[] = [];
  for (const f of [...faces].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => iou(k.box, f.box) < iouThreshold)) {
      kept.push(f);
    }
  }
  return kept;
}

type Outputs = Record<string, { data: unknown }>;

function floats(out: Outputs, name: string): Float32Array {
  const t = out[name];
  if (!t || !(t.data instanceof Float32Array)) {
    throw new Error(`YuNet output ${name} is missing or not float32`);
  }
  return t.data;
}

/** Decodes the raw outputs into boxes in input (640) pixels, above `threshold`. */
export function decodeYunet(out: Outputs, threshold: number): YunetFace[] {
  const faces: YunetFace[] = [];
  for (const s of STRIDES) {
    const cls = floats(out, `cls_${s}`);
    const obj = floats(out, `obj_${s}`);
    const bbox = floats(out, `bbox_${s}`);
    const cols = SIZE / s;
    for (let i = 0; i < cls.length; i++) {
      const c = Math.min(1, Math.max(0, cls[i] ?? 0));
      const o = Math.min(1, Math.max(0, obj[i] ?? 0));
      const score = Math.sqrt(c * o);
      if (score < threshold) {
        continue;
      }
      const cx = ((i % cols) + (bbox[4 * i] ?? 0)) * s;
      const cy = (Math.floor(i / cols) + (bbox[4 * i + 1] ?? 0)) * s;
      const w = Math.exp(bbox[4 * i + 2] ?? 0) * s;
      const h = Math.exp(bbox[4 * i + 3] ?? 0) * s;
      faces.push({ box: { x: cx - w / 2, y: cy - h / 2, w, h }, score });
    }
  }
  return faces;
}

/** The picture (or region) scaled into the top-left of a 640x640 BGR float tensor. */
async function inputTensor(frame: I420Frame, region: Box | undefined, maxUpscale: number): Promise<{ tensor: ort.Tensor; scale: number; x0: number; y0: number } | undefined> {
  const rect = clipRect(region ?? { x: 0, y: 0, w: frame.width, h: frame.height }, frame.width, frame.height);
  if (!rect) {
    return undefined;
  }
  const rgb = i420ToRgb(frame, rect);
  const scale = Math.min(SIZE / Math.max(rgb.width, rgb.height), maxUpscale);
  const w = Math.max(1, Math.round(rgb.width * scale));
  const h = Math.max(1, Math.round(rgb.height * scale));
  const px = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .resize(w, h, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  const plane = SIZE * SIZE;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      const q = y * SIZE + x;
      data[q] = px[p + 2] ?? 0; // B
      data[plane + q] = px[p + 1] ?? 0; // G
      data[2 * plane + q] = px[p] ?? 0; // R
    }
  }
  return { tensor: new ort.Tensor('float32', data, [1, 3, SIZE, SIZE]), scale: w / rgb.width, x0: rect.x0, y0: rect.y0 };
}

export async function createYunet(modelPath: string = YUNET_MODEL): Promise<Yunet> {
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  return {
    async detect(frame, region, options = {}) {
      const input = await inputTensor(frame, region, options.maxUpscale ?? 2);
      if (!input) {
        return [];
      }
      const out = (await session.run({ input: input.tensor })) as Outputs;
      const faces = nms(decodeYunet(out, options.scoreThreshold ?? 0.6), options.nmsIou ?? 0.3);
      const { scale, x0, y0 } = input;
      return faces.map((f) => ({
        score: f.score,
        box: { x: x0 + f.box.x / scale, y: y0 + f.box.y / scale, w: f.box.w / scale, h: f.box.h / scale },
      }));
    },
    close: () => session.release(),
  };
}
