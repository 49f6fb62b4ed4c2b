import type { Box, ModelName } from '../core/index.js';
import { planTiles } from './tiles.js';

export type DetectorMode = 'front' | 'back' | 'both';

/**
 * Tiled detection with the back-256 model, for small faces in large frames.
 * `auto` tiles only when the whole-frame pass sees the frame at a smaller
 * scale than the tiles would.
 */
export type TileMode = 'auto' | 'on' | 'off';

export interface TilePolicy {
  readonly mode: TileMode;
  /** Model pixels per frame pixel in each tile. */
  readonly scale: number;
  /** Overlap of neighbouring tiles, in frame pixels. */
  readonly overlap: number;
}

/** One model run over one frame region. */
export interface DetectPass {
  readonly model: ModelName;
  readonly region: Box;
  readonly tile: boolean;
  /** A dark region, run with its input contrast stretched (see low-light.ts). */
  readonly lowLight?: boolean;
}

export const MODEL_INPUT: Readonly<Record<ModelName, number>> = { front128: 128, back256: 256 };

/** The model runs one frame of this size takes, in order (pure). */
export function planPasses(width: number, height: number, mode: DetectorMode, tiles: TilePolicy): DetectPass[] {
  const whole: Box = { x: 0, y: 0, w: width, h: height };
  const passes: DetectPass[] = [];
  if (mode !== 'back') {
    passes.push({ model: 'front128', region: whole, tile: false });
  }
  if (mode !== 'front') {
    passes.push({ model: 'back256', region: whole, tile: false });
  }
  if (useTiles(width, height, mode, tiles)) {
    for (const region of planTiles(width, height, MODEL_INPUT.back256, tiles.scale, tiles.overlap)) {
      passes.push({ model: 'back256', region, tile: true });
    }
  }
  return passes;
}

function useTiles(width: number, height: number, mode: DetectorMode, tiles: TilePolicy): boolean {
  if (tiles.mode === 'off' || mode === 'front') {
    return false;
  }
  if (tiles.mode === 'on') {
    return true;
  }
  const wholeScale = MODEL_INPUT.back256 / Math.max(width, height);
  return mode === 'both' && wholeScale < tiles.scale;
}

/**
 * The passes of one frame when tiles take turns: every whole-frame pass runs
 * on every frame, and the tiles are split into consecutive groups that run
 * on successive frames, so that each tile runs at least once every `every`
 * frames (frame `index` picks the group). `every` <= 1 runs every tile on
 * every frame. A face that only a tile finds is then detected at most
 * every-1 frames late; the planner's look-ahead (K >= every) masks those
 * frames before the first detection, and interpolation fills the gaps.
 */
export function rotateTiles(passes: readonly DetectPass[], index: number, every: number): DetectPass[] {
  const tiles = passes.filter((p) => p.tile);
  if (every <= 1 || tiles.length <= 1) {
    return [...passes];
  }
  const perFrame = Math.ceil(tiles.length / every);
  const groups = Math.ceil(tiles.length / perFrame);
  const group = ((index % groups) + groups) % groups;
  const chosen = new Set(tiles.slice(group * perFrame, (group + 1) * perFrame));
  return passes.filter((p) => !p.tile || chosen.has(p));
}
