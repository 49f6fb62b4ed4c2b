import type { Box, I420Frame } from '../core/index.js';
import { lumaOf, subRegion } from './region.js';
import type { LumaRegion } from './ssim.js';

/**
 * Whether a masked frame is "fully masked": it has lost the original's
 * structure over almost all of the picture, as the fail-safe's solid fill or
 * a whole-frame blur does, whereas a face mask leaves the rest of the frame.
 *
 * The Y plane is cut into 16x16 tiles. A tile is *textured* when the
 * original's standard deviation there is at least 4 (flat walls and black
 * borders say nothing either way). A textured tile *keeps structure* when the
 * masked tile keeps at least half the original's standard deviation and
 * correlates with it at 0.5 or more. The frame is fully masked when at least
 * 8 tiles are textured and at most 10% of them keep structure. A frame with
 * fewer textured tiles (nearly black or flat) is never called fully masked.
 *
 * Tiles near a truth face are left out (each face box grown by
 * FACE_MARGIN of its size on every side): a correct mask removes the structure
 * of the head, and on a close-up the head is most of the picture. When too few
 * textured tiles remain outside the faces (a face that fills the frame), the
 * frame is called fully masked only when the masked frame is flat (luma
 * standard deviation under FLAT_SD) where the original was not.
 */
export const OVER_MASK_TILE = 16;
const MIN_TILE_SD = 4;
const MIN_TEXTURED_TILES = 8;
const MAX_KEPT_FRACTION = 0.1;
const FACE_MARGIN = 0.75;
const FLAT_SD = 2;

function overlapsAny(x0: number, y0: number, size: number, boxes: readonly Box[]): boolean {
  for (const b of boxes) {
    const mx = b.w * FACE_MARGIN;
    const my = b.h * FACE_MARGIN;
    if (x0 < b.x + b.w + mx && x0 + size > b.x - mx && y0 < b.y + b.h + my && y0 + size > b.y - my) {
      return true;
    }
  }
  return false;
}

interface TileMoments {
  sdA: number;
  sdB: number;
  corr: number;
}

function tileMoments(a: LumaRegion, b: LumaRegion): TileMoments {
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  const n = a.width * a.height;
  for (let y = 0; y < a.height; y++) {
    const ra = (a.offset ?? 0) + y * (a.stride ?? a.width);
    const rb = (b.offset ?? 0) + y * (b.stride ?? b.width);
    for (let x = 0; x < a.width; x++) {
      const p = a.data[ra + x] ?? 0;
      const q = b.data[rb + x] ?? 0;
      sa += p;
      sb += q;
      saa += p * p;
      sbb += q * q;
      sab += p * q;
    }
  }
  const va = Math.max(0, saa / n - (sa / n) ** 2);
  const vb = Math.max(0, sbb / n - (sb / n) ** 2);
  const cov = sab / n - (sa / n) * (sb / n);
  return { sdA: Math.sqrt(va), sdB: Math.sqrt(vb), corr: va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0 };
}

export interface StructureKept {
  /** Tiles where the original has texture. */
  readonly textured: number;
  /** Of those, tiles whose structure survives in the masked frame. */
  readonly kept: number;
}

/** Counts textured tiles and those that keep their structure in `masked`. */
export function structureKept(original: I420Frame, masked: I420Frame, faces: readonly Box[] = []): StructureKept {
  const A = lumaOf(original);
  const B = lumaOf(masked);
  let textured = 0;
  let kept = 0;
  for (let y0 = 0; y0 + OVER_MASK_TILE <= original.height; y0 += OVER_MASK_TILE) {
    for (let x0 = 0; x0 + OVER_MASK_TILE <= original.width; x0 += OVER_MASK_TILE) {
      if (overlapsAny(x0, y0, OVER_MASK_TILE, faces)) {
        continue;
      }
      const rect = { x0, y0, x1: x0 + OVER_MASK_TILE, y1: y0 + OVER_MASK_TILE };
      const m = tileMoments(subRegion(A, rect), subRegion(B, rect));
      if (m.sdA < MIN_TILE_SD) {
        continue;
      }
      textured++;
      if (m.sdB >= 0.5 * m.sdA && m.corr >= 0.5) {
        kept++;
      }
    }
  }
  return { textured, kept };
}

/** True when `masked` is a fully masked version of `original` (see above). */
export function isFullyMasked(original: I420Frame, masked: I420Frame, faces: readonly Box[] = []): boolean {
  const { textured, kept } = structureKept(original, masked, faces);
  if (textured >= MIN_TEXTURED_TILES) {
    return kept <= MAX_KEPT_FRACTION * textured;
  }
  if (faces.length === 0) {
    return false;
  }
  const whole = { x0: 0, y0: 0, x1: original.width, y1: original.height };
  const m = tileMoments(subRegion(lumaOf(original), whole), subRegion(lumaOf(masked), whole));
  return m.sdB < FLAT_SD && m.sdA >= MIN_TILE_SD;
}
