import { describe, expect, it } from 'vitest';
import { BLAZEFACE_LAYERS, anchorCount, blazeFaceAnchors, layerAnchors } from '../../src/detect/anchors.js';

describe('BlazeFace anchors', () => {
  it('has 896 anchors: 16x16x2 then 8x8x6', () => {
    expect(BLAZEFACE_LAYERS.map(anchorCount)).toEqual([512, 384]);
    expect(blazeFaceAnchors().length).toBe(896 * 2);
  });

  it('puts the anchors of a cell at its centre, row-major', () => {
    const a = blazeFaceAnchors();
    // Layer 1, cell (0,0): both anchors at (0.5/16, 0.5/16).
    expect([a[0], a[1], a[2], a[3]]).toEqual([1 / 32, 1 / 32, 1 / 32, 1 / 32]);
    // Layer 1, cell (x=1, y=0) is next: anchors 2 and 3.
    expect([a[4], a[5]]).toEqual([1.5 / 16, 1 / 32]);
    // Layer 1, cell (x=0, y=1): anchor 32.
    expect([a[64], a[65]]).toEqual([1 / 32, 1.5 / 16]);
    // Layer 2 starts at anchor 512 with 6 anchors at (0.5/8, 0.5/8).
    for (let k = 512; k < 518; k++) {
      expect([a[2 * k], a[2 * k + 1]]).toEqual([1 / 16, 1 / 16]);
    }
    // The very last anchor is the centre of the bottom-right 8x8 cell.
    expect([a[2 * 895], a[2 * 895 + 1]]).toEqual([15 / 16, 15 / 16]);
  });

  it('layerAnchors matches the concatenated table', () => {
    const l2 = layerAnchors({ cells: 8, perCell: 6 });
    expect(Array.from(l2)).toEqual(Array.from(blazeFaceAnchors().subarray(1024)));
  });
});
