/**
 * BlazeFace anchor centres, in the model input's normalised [0,1] coordinates
 * (top-left origin). Both models (front 128 and back 256) share one layout:
 * a 16×16 grid with 2 anchors per cell (512), then an 8×8 grid with 6 per cell
 * (384), 896 in all, in the order of the model's two output pairs. Anchors of
 * one cell share its centre, ((i + 0.5) / cells, (j + 0.5) / cells), and the
 * anchor size is fixed at 1 (the boxes are regressed directly).
 */
export interface AnchorLayer {
  readonly cells: number;
  readonly perCell: number;
}

export const BLAZEFACE_LAYERS: readonly AnchorLayer[] = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
];

/** Number of anchors of one layer. */
export function anchorCount(layer: AnchorLayer): number {
  return layer.cells * layer.cells * layer.perCell;
}

/**
 * Anchor centres of one layer as interleaved x,y pairs, row-major (cell y, then
 * cell x, then the anchors of the cell), matching the model's output order.
 */
export function layerAnchors(layer: AnchorLayer): Float32Array {
  const out = new Float32Array(anchorCount(layer) * 2);
  let k = 0;
  for (let cy = 0; cy < layer.cells; cy++) {
    for (let cx = 0; cx < layer.cells; cx++) {
      for (let a = 0; a < layer.perCell; a++) {
        out[k++] = (cx + 0.5) / layer.cells;
        out[k++] = (cy + 0.5) / layer.cells;
      }
    }
  }
  return out;
}

/** All 896 BlazeFace anchors, layer 1 then layer 2, as x,y pairs. */
export function blazeFaceAnchors(): Float32Array {
  const parts = BLAZEFACE_LAYERS.map(layerAnchors);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
