import type { Box } from '../core/index.js';

/** A frame size in pixels. */
export interface FrameSize {
  readonly width: number;
  readonly height: number;
}

export function isFiniteBox(b: Box): boolean {
  return Number.isFinite(b.x) && Number.isFinite(b.y) && Number.isFinite(b.w) && Number.isFinite(b.h);
}

export function isEmptyBox(b: Box): boolean {
  return !(b.w > 0 && b.h > 0);
}

export function boxArea(b: Box): number {
  return Math.max(0, b.w) * Math.max(0, b.h);
}

/** Intersection over union; 0 when either box is empty. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  const union = boxArea(a) + boxArea(b) - inter;
  return union > 0 ? inter / union : 0;
}

export function centreOf(b: Box): { cx: number; cy: number } {
  return { cx: b.x + b.w / 2, cy: b.y + b.h / 2 };
}

export function centreDistance(a: Box, b: Box): number {
  const ca = centreOf(a);
  const cb = centreOf(b);
  return Math.hypot(ca.cx - cb.cx, ca.cy - cb.cy);
}

export function translateBox(b: Box, dx: number, dy: number): Box {
  return { x: b.x + dx, y: b.y + dy, w: b.w, h: b.h };
}

/** Linear interpolation of position and size; t=0 gives a, t=1 gives b. */
export function lerpBox(a: Box, b: Box, t: number): Box {
  const l = (p: number, q: number): number => p + (q - p) * t;
  return { x: l(a.x, b.x), y: l(a.y, b.y), w: l(a.w, b.w), h: l(a.h, b.h) };
}

/** The smallest box containing both. */
export function hullBox(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}

/** Grows each side by `fraction` of the box's own width (left, right) or height (top, bottom). */
export function growBox(b: Box, fraction: number): Box {
  const dx = b.w * fraction;
  const dy = b.h * fraction;
  return { x: b.x - dx, y: b.y - dy, w: b.w + 2 * dx, h: b.h + 2 * dy };
}

/** Grows a box about its centre so that each side is at least `min` pixels. */
export function ensureMinSize(b: Box, min: number): Box {
  const w = Math.max(b.w, min);
  const h = Math.max(b.h, min);
  return { x: b.x - (w - b.w) / 2, y: b.y - (h - b.h) / 2, w, h };
}

/**
 * Rounds a box outwards to whole pixels and clips it to the frame. The result
 * always covers every pixel the input touched inside the frame; it may be empty.
 */
export function clipBox(b: Box, frame: FrameSize): Box {
  const x0 = Math.max(0, Math.floor(b.x));
  const y0 = Math.max(0, Math.floor(b.y));
  const x1 = Math.min(frame.width, Math.ceil(b.x + b.w));
  const y1 = Math.min(frame.height, Math.ceil(b.y + b.h));
  return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}
