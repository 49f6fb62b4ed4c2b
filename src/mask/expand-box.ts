import { LivemaskError, type Box } from '../core/index.js';
import { clipBox, type FrameSize } from './box-geometry.js';

/**
 * How far the mask reaches beyond the detector's face box on each side, as a
 * fraction of the face box's width (left, right) or height (top, bottom).
 */
export interface BoxExpansion {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

/**
 * BlazeFace's box spans roughly brows to mouth and cheek to cheek. The head
 * (hair, ears, chin) reaches further: about 0.3 of the box width to each ear
 * and about 0.5 of its height to the crown. These defaults err on the larger
 * side; tune them against YuNet truth boxes.
 */
export const DEFAULT_BOX_EXPANSION: BoxExpansion = Object.freeze({ left: 0.4, right: 0.4, top: 0.7, bottom: 0.5 });

/** Fills in defaults and checks every side is a finite number ≥ 0. */
export function resolveExpansion(expansion: Partial<BoxExpansion> = {}): BoxExpansion {
  const e = { ...DEFAULT_BOX_EXPANSION, ...expansion };
  for (const side of ['left', 'right', 'top', 'bottom'] as const) {
    if (!Number.isFinite(e[side]) || e[side] < 0) {
      throw new LivemaskError('CONFIG_INVALID', `expansion.${side} must be a finite number >= 0, got ${e[side]}`);
    }
  }
  return e;
}

/**
 * The head box for a detected face box: the face box grown by `expansion`
 * (fractions of the face box), rounded outwards to whole pixels and clipped to
 * the frame. May be empty when the face lies wholly outside the frame.
 */
export function expandBox(face: Box, frame: FrameSize, expansion: Partial<BoxExpansion> = DEFAULT_BOX_EXPANSION): Box {
  const e = expansion === DEFAULT_BOX_EXPANSION ? DEFAULT_BOX_EXPANSION : resolveExpansion(expansion);
  const x0 = face.x - face.w * e.left;
  const y0 = face.y - face.h * e.top;
  const x1 = face.x + face.w * (1 + e.right);
  const y1 = face.y + face.h * (1 + e.bottom);
  return clipBox({ x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, frame);
}
