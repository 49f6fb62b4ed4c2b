import { i420Size, LivemaskError, type I420Frame } from '../core/index.js';
import { isFiniteBox } from './box-geometry.js';
import { DEFAULT_BOX_EXPANSION, resolveExpansion, type BoxExpansion } from './expand-box.js';
import type { MaskBox, MaskPlan } from './mask-planner.js';
import { blurRect, fillRect, pixelateRect, type Plane, type Rect } from './plane-ops.js';

export type MaskStyle = 'pixelate' | 'blur' | 'solid';

export interface YuvColour {
  readonly y: number;
  readonly u: number;
  readonly v: number;
}

export interface PaintOptions {
  /** Smallest pixelation block, luma pixels. Default 16. */
  minBlockPx?: number;
  /** At most this many blocks across the face. Default 4. */
  blocksAcross?: number;
  /** Colour of `solid` and of the full-frame fail-safe. Default neutral grey (128, 128, 128). */
  fill?: YuvColour;
  /**
   * The expansion the planner used, to estimate the face size in a box that
   * does not carry `faceSize`. Default DEFAULT_BOX_EXPANSION.
   */
  expansion?: Partial<BoxExpansion>;
}

export const NEUTRAL_GREY: YuvColour = Object.freeze({ y: 128, u: 128, v: 128 });

/**
 * The pixelation block for a face of `faceSize` pixels (max of its width and
 * height): max(minBlockPx, ceil(faceSize / blocksAcross)). Blocks must scale
 * with the face: an independent detector still finds typical faces through 8
 * and 16 px blocks but none through 32 px; the default is DEFAULT_BLOCKS_ACROSS
 * blocks across the face (the leak tests on real clips pass at 3). The blur
 * style uses the same block grid.
 */
export const DEFAULT_BLOCKS_ACROSS = 3;

export function blockSizeFor(faceSize: number, options: PaintOptions = {}): number {
  const min = options.minBlockPx ?? 16;
  const across = options.blocksAcross ?? DEFAULT_BLOCKS_ACROSS;
  // The epsilon keeps float noise (100.00000000000001 / 4, say) from adding a pixel.
  return Math.max(min, Math.ceil(faceSize / across - 1e-9));
}

/** A box's face size: its own, or estimated from the head box by undoing the expansion. */
function faceSizeOf(box: MaskBox, expansion: BoxExpansion): number {
  if (box.faceSize !== undefined && Number.isFinite(box.faceSize) && box.faceSize > 0) {
    return box.faceSize;
  }
  const e = expansion;
  return Math.max(box.w / (1 + e.left + e.right), box.h / (1 + e.top + e.bottom));
}

function planesOf(frame: I420Frame): { y: Plane; u: Plane; v: Plane } {
  const { width, height, data } = frame;
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  return {
    y: { data, offset: 0, stride: width, width, height },
    u: { data, offset: width * height, stride: cw, width: cw, height: ch },
    v: { data, offset: width * height + cw * ch, stride: cw, width: cw, height: ch },
  };
}

function lumaRect(box: MaskBox, width: number, height: number): Rect {
  return {
    x0: Math.max(0, Math.floor(box.x)),
    y0: Math.max(0, Math.floor(box.y)),
    x1: Math.min(width, Math.ceil(box.x + box.w)),
    y1: Math.min(height, Math.ceil(box.y + box.h)),
  };
}

/** The chroma rectangle covering at least every luma pixel of `r`. */
export function chromaRect(r: Rect, plane: Plane): Rect {
  return {
    x0: Math.floor(r.x0 / 2),
    y0: Math.floor(r.y0 / 2),
    x1: Math.min(plane.width, Math.ceil(r.x1 / 2)),
    y1: Math.min(plane.height, Math.ceil(r.y1 / 2)),
  };
}

function fillFrame(frame: I420Frame, colour: YuvColour): void {
  const p = planesOf(frame);
  frame.data.fill(colour.y, 0, p.u.offset);
  frame.data.fill(colour.u, p.u.offset, p.v.offset);
  frame.data.fill(colour.v, p.v.offset, p.v.offset + p.v.width * p.v.height);
}

/**
 * Paints a plan onto an I420 frame in place. Full-frame plans (and plans
 * holding a non-finite box) get the opaque solid fill on every plane, which
 * cannot leak. Otherwise each box is painted with `style`:
 * - `pixelate` (default): blocks of blockSizeFor(faceSize) luma pixels (half,
 *   rounded up, on the chroma planes), aligned to the box, each filled with its
 *   mean, Y and chroma separately;
 * - `blur`: the same block means, bilinearly interpolated (same information as
 *   the pixelation, so the same guarantee);
 * - `solid`: the fill colour.
 */
export function paintMask(frame: I420Frame, plan: MaskPlan, style: MaskStyle = 'pixelate', options: PaintOptions = {}): void {
  if (frame.data.length < i420Size(frame.width, frame.height)) {
    throw new LivemaskError('BAD_USAGE', `frame ${frame.index}: ${frame.data.length} bytes is short of I420 ${frame.width}x${frame.height}`);
  }
  const colour = options.fill ?? NEUTRAL_GREY;
  if (plan.fullFrame || !plan.boxes.every(isFiniteBox)) {
    fillFrame(frame, colour);
    return;
  }
  const planes = planesOf(frame);
  const expansion = options.expansion ? resolveExpansion(options.expansion) : DEFAULT_BOX_EXPANSION;
  for (const box of plan.boxes) {
    const r = lumaRect(box, frame.width, frame.height);
    if (r.x1 <= r.x0 || r.y1 <= r.y0) {
      continue;
    }
    const c = chromaRect(r, planes.u);
    if (style === 'solid') {
      fillRect(planes.y, r, colour.y);
      fillRect(planes.u, c, colour.u);
      fillRect(planes.v, c, colour.v);
      continue;
    }
    const block = blockSizeFor(faceSizeOf(box, expansion), options);
    const op = style === 'blur' ? blurRect : pixelateRect;
    op(planes.y, r, block);
    op(planes.u, c, Math.ceil(block / 2));
    op(planes.v, c, Math.ceil(block / 2));
  }
}
