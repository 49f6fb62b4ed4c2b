/**
 * In-place operations on one 8-bit plane of a planar picture. Rectangles are
 * whole-pixel, half-open ([x0, x1) x [y0, y1)) and already clipped to the
 * plane. No allocation per pixel: only per-rectangle arrays of block counts.
 */

export interface Plane {
  readonly data: Uint8Array;
  readonly offset: number;
  readonly stride: number;
  readonly width: number;
  readonly height: number;
}

export interface Rect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export function fillRect(p: Plane, r: Rect, value: number): void {
  for (let y = r.y0; y < r.y1; y++) {
    const row = p.offset + y * p.stride;
    p.data.fill(value, row + r.x0, row + r.x1);
  }
}

/**
 * Block edges along one axis, aligned to `start`: blocks of `block` pixels,
 * the last one absorbing the remainder, so that no block is ever smaller than
 * `block` (unless the whole span is). Returns count+1 edges.
 */
export function blockEdges(start: number, end: number, block: number): Int32Array {
  const count = Math.max(1, Math.floor((end - start) / block));
  const edges = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) {
    edges[i] = start + i * block;
  }
  edges[count] = end;
  return edges;
}

/** Rounded means of the blocks of `r`, row-major (rows = ye.length-1, cols = xe.length-1). */
export function blockMeans(p: Plane, xe: Int32Array, ye: Int32Array): Float64Array {
  const cols = xe.length - 1;
  const rows = ye.length - 1;
  const means = new Float64Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    const y0 = ye[r] ?? 0;
    const y1 = ye[r + 1] ?? 0;
    for (let y = y0; y < y1; y++) {
      const row = p.offset + y * p.stride;
      for (let c = 0; c < cols; c++) {
        const x1 = row + (xe[c + 1] ?? 0);
        let sum = 0;
        for (let i = row + (xe[c] ?? 0); i < x1; i++) {
          sum += p.data[i] ?? 0;
        }
        means[r * cols + c] = (means[r * cols + c] ?? 0) + sum;
      }
    }
    for (let c = 0; c < cols; c++) {
      const n = ((xe[c + 1] ?? 0) - (xe[c] ?? 0)) * (y1 - y0);
      means[r * cols + c] = Math.round((means[r * cols + c] ?? 0) / n);
    }
  }
  return means;
}

/** Replaces every block of `r` (aligned to its top-left corner) with the block's mean. */
export function pixelateRect(p: Plane, r: Rect, block: number): void {
  if (r.x1 <= r.x0 || r.y1 <= r.y0) {
    return;
  }
  const xe = blockEdges(r.x0, r.x1, block);
  const ye = blockEdges(r.y0, r.y1, block);
  const means = blockMeans(p, xe, ye);
  const cols = xe.length - 1;
  for (let b = 0; b < ye.length - 1; b++) {
    for (let y = ye[b] ?? 0; y < (ye[b + 1] ?? 0); y++) {
      const row = p.offset + y * p.stride;
      for (let c = 0; c < cols; c++) {
        p.data.fill(means[b * cols + c] ?? 0, row + (xe[c] ?? 0), row + (xe[c + 1] ?? 0));
      }
    }
  }
}

/** For each pixel along an axis: the two block-centre neighbours and the weight of the second. */
function axisWeights(edges: Int32Array): { i0: Int32Array; i1: Int32Array; t: Float32Array } {
  const start = edges[0] ?? 0;
  const n = edges.length - 1;
  const len = (edges[n] ?? 0) - start;
  const centre = (k: number): number => ((edges[k] ?? 0) + (edges[k + 1] ?? 0) - 1) / 2;
  const i0 = new Int32Array(len);
  const i1 = new Int32Array(len);
  const t = new Float32Array(len);
  let k = 0;
  for (let j = 0; j < len; j++) {
    const pos = start + j;
    while (k < n - 1 && centre(k + 1) <= pos) {
      k++;
    }
    const c0 = centre(k);
    const next = Math.min(k + 1, n - 1);
    i0[j] = k;
    i1[j] = next;
    t[j] = next === k ? 0 : Math.min(1, Math.max(0, (pos - c0) / (centre(next) - c0)));
  }
  return { i0, i1, t };
}

/**
 * A smooth blur that carries exactly the information of the pixelation at the
 * same block size: the block means, bilinearly interpolated between block
 * centres (a downscale to the block grid and back up).
 */
export function blurRect(p: Plane, r: Rect, block: number): void {
  if (r.x1 <= r.x0 || r.y1 <= r.y0) {
    return;
  }
  const xe = blockEdges(r.x0, r.x1, block);
  const ye = blockEdges(r.y0, r.y1, block);
  const means = blockMeans(p, xe, ye);
  const cols = xe.length - 1;
  const xw = axisWeights(xe);
  const yw = axisWeights(ye);
  for (let j = 0; j < r.y1 - r.y0; j++) {
    const ty = yw.t[j] ?? 0;
    const a = (yw.i0[j] ?? 0) * cols;
    const b = (yw.i1[j] ?? 0) * cols;
    const row = p.offset + (r.y0 + j) * p.stride + r.x0;
    for (let i = 0; i < r.x1 - r.x0; i++) {
      const c0 = xw.i0[i] ?? 0;
      const c1 = xw.i1[i] ?? 0;
      const tx = xw.t[i] ?? 0;
      const top = (means[a + c0] ?? 0) * (1 - tx) + (means[a + c1] ?? 0) * tx;
      const bottom = (means[b + c0] ?? 0) * (1 - tx) + (means[b + c1] ?? 0) * tx;
      p.data[row + i] = Math.round(top * (1 - ty) + bottom * ty);
    }
  }
}
