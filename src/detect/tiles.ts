import type { Box } from '../core/index.js';

/**
 * Square tiles that cover a frame, so that a model of `modelSize` input pixels
 * sees the frame at `scale` model pixels per frame pixel. Neighbours overlap by
 * at least `overlap` frame pixels, so a face smaller than that lies wholly
 * inside some tile. A frame narrower than a tile gets one tile on that axis
 * (letterboxed). Tiles are returned row by row.
 */
export function planTiles(width: number, height: number, modelSize: number, scale: number, overlap: number): Box[] {
  const side = Math.round(modelSize / scale);
  const xs = axisStarts(width, side, overlap);
  const ys = axisStarts(height, side, overlap);
  const tiles: Box[] = [];
  for (const y of ys) {
    for (const x of xs) {
      tiles.push({ x, y, w: Math.min(side, width), h: Math.min(side, height) });
    }
  }
  return tiles;
}

function axisStarts(length: number, side: number, overlap: number): number[] {
  if (side >= length) {
    return [0];
  }
  const step = Math.max(1, side - overlap);
  const n = Math.ceil((length - side) / step) + 1;
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    starts.push(Math.round((i * (length - side)) / (n - 1)));
  }
  return starts;
}
