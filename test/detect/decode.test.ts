import { describe, expect, it } from 'vitest';
import { layerAnchors } from '../../src/detect/anchors.js';
import { decodeLayers, logit, sigmoid, type RawLayerOutput } from '../../src/detect/decode.js';

function emptyLayer(cells: number, perCell: number): { scores: Float32Array; boxes: Float32Array; anchors: Float32Array } {
  const n = cells * cells * perCell;
  return { scores: new Float32Array(n).fill(-10), boxes: new Float32Array(n * 16), anchors: layerAnchors({ cells, perCell }) };
}

describe('decodeLayers', () => {
  it('returns nothing when every score is below the threshold', () => {
    const layers = [emptyLayer(16, 2), emptyLayer(8, 6)];
    expect(decodeLayers(layers, 128, 0.3)).toEqual([]);
  });

  it('decodes a box relative to its anchor, scaled by 1/inputSize, y down', () => {
    const l1 = emptyLayer(16, 2);
    // Anchor 35: cell (x=1, y=1), centre (1.5/16, 1.5/16) = (0.09375, 0.09375).
    l1.scores[35] = 2;
    l1.boxes.set([12.8, -6.4, 25.6, 38.4, 0, 0, 12.8, 12.8, 0, 0, 0, 0, 0, 0, 0, 0], 35 * 16);
    const [d, ...rest] = decodeLayers([l1, emptyLayer(8, 6)], 128, 0.5);
    expect(rest).toEqual([]);
    expect(d?.score).toBeCloseTo(sigmoid(2), 6);
    const cx = 0.09375 + 0.1;
    const cy = 0.09375 - 0.05;
    expect(d?.w).toBeCloseTo(0.2, 6);
    expect(d?.h).toBeCloseTo(0.3, 6);
    expect(d?.x).toBeCloseTo(cx - 0.1, 6);
    expect(d?.y).toBeCloseTo(cy - 0.15, 6);
    expect(d?.keypoints?.length).toBe(6);
    expect(d?.keypoints?.[0]?.[0]).toBeCloseTo(0.09375, 6);
    expect(d?.keypoints?.[1]?.[0]).toBeCloseTo(0.19375, 6);
    expect(d?.keypoints?.[1]?.[1]).toBeCloseTo(0.19375, 6);
  });

  it('uses the second layer anchors for the second output pair', () => {
    const l2: RawLayerOutput = emptyLayer(8, 6);
    // Anchor 6*(8*7+7)+5 = the last anchor, centre (15/16, 15/16).
    l2.scores[383] = 5;
    const [d] = decodeLayers([emptyLayer(16, 2), l2], 256, 0.5);
    expect(d?.x).toBeCloseTo(15 / 16, 6);
    expect(d?.y).toBeCloseTo(15 / 16, 6);
  });

  it('compares scores strictly above the threshold', () => {
    const l1 = emptyLayer(16, 2);
    l1.scores[0] = logit(0.6);
    expect(decodeLayers([l1], 128, 0.59)).toHaveLength(1);
    expect(decodeLayers([l1], 128, 0.61)).toHaveLength(0);
  });
});
