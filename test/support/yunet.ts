// YuNet (OpenCV Zoo face_detection_yunet_2023mar.onnx), the independent face
// detector the leak tests use as a second auditor. Test-only: nothing in src/
// may import it. Model: input `input` float32 [1,3,640,640], BGR 0..255;
// outputs cls_/obj_/bbox_/kps_ {8,16,32}, [1, (640/s)^2, 1|1|4|10].
// Decoding follows OpenCV's FaceDetectorYN: score = sqrt(clamp(cls) * clamp(obj)),
// centre = (col + dx, row + dy) * stride, size = exp(dw|dh) * stride, then NMS.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { clipRect, i420ToRgb, type RgbImage } from '../../src/eval/index.js';
import type { Box, I420Frame } from '../../src/core/index.js';
import { testData } from './paths.js';

/** The model: LIVEMASK_YUNET_MODEL, else models/yunet/ next to the shared data folder. */
export const YUNET_MODEL =
  process.env.LIVEMASK_YUNET_MODEL ?? join(testData, '..', 'models', 'yunet', 'face_detection_yunet_2023mar.onnx');
export const hasYunet = existsSync(YUNET_MODEL);
const SIZE = 640;
const STRIDES = [8, 16, 32] as const;
const DEFAULT_SCALES = [1, 0.5] as const;

export interface YunetFace {
  readonly box: Box;
  readonly score: number;
}

export interface DetectOptions {
  /** Keep faces scoring at least this. Default 0.6. */
  scoreThreshold?: number;
  /** NMS IoU. Default 0.3 (OpenCV's default). */
  nmsIou?: number;
  /**
   * Scales at which to look, relative to the frame's pixels; each is capped
   * so the picture (or region) fits the 640x640 input, and the faces found at
   * all of them are merged by NMS. Default [1, 0.5]: through pixelation YuNet
   * finds a face more easily when it looks at a smaller picture (8 px blocks
   * on a 130 px face are found at 1x, 16 px blocks only at 0.5x), as a
   * viewer does who steps back, so an auditor looks at both.
   */
  scales?: readonly number[];
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
async function inputTensor(rgb: RgbImage, wanted: number): Promise<{ tensor: ort.Tensor; scale: number }> {
  const scale = Math.min(SIZE / Math.max(rgb.width, rgb.height), wanted);
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
  return { tensor: new ort.Tensor('float32', data, [1, 3, SIZE, SIZE]), scale: w / rgb.width };
}

export async function createYunet(modelPath: string = YUNET_MODEL): Promise<Yunet> {
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  return {
    async detect(frame, region, options = {}) {
      const rect = clipRect(region ?? { x: 0, y: 0, w: frame.width, h: frame.height }, frame.width, frame.height);
      if (!rect) {
        return [];
      }
      const rgb = i420ToRgb(frame, rect);
      const all: YunetFace[] = [];
      for (const wanted of options.scales ?? DEFAULT_SCALES) {
        const { tensor, scale } = await inputTensor(rgb, wanted);
        const out = (await session.run({ input: tensor })) as Outputs;
        for (const f of decodeYunet(out, options.scoreThreshold ?? 0.6)) {
          const b = f.box;
          all.push({ score: f.score, box: { x: rect.x0 + b.x / scale, y: rect.y0 + b.y / scale, w: b.w / scale, h: b.h / scale } });
        }
      }
      return nms(all, options.nmsIou ?? 0.3);
    },
    close: () => session.release(),
  };
}

/**
 * The auditor's verdict on one truth box of a masked frame: true when YuNet,
 * looking at the box with its own size as context all round, finds a face
 * overlapping it (IoU >= 0.3).
 */
export async function yunetSeesFace(yunet: Yunet, masked: I420Frame, box: Box, options: DetectOptions = {}): Promise<boolean> {
  const region = { x: box.x - box.w, y: box.y - box.h, w: 3 * box.w, h: 3 * box.h };
  const found = await yunet.detect(masked, region, options);
  return found.some((f) => iou(f.box, box) >= 0.3);
}
