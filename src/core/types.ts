/** An axis-aligned rectangle in pixels of the frame it belongs to. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** Which BlazeFace model produced a detection. */
export type ModelName = 'front128' | 'back256';

/** One face found by the detector, in frame pixels. */
export interface FaceDetection extends Box {
  readonly score: number;
  readonly model: ModelName;
  /** Six key points (eyes, nose, mouth, ears) in frame pixels, when known. */
  readonly keypoints?: readonly (readonly [number, number])[];
}

/**
 * A planar I420 (YUV 4:2:0) picture: the full Y plane, then U, then V, each
 * chroma plane (width/2 x height/2), rounded up. Painting happens in place.
 */
export interface I420Frame {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
  /** Decoded frame number, from 0. */
  readonly index: number;
  /** Presentation time in milliseconds from the stream start. */
  readonly ptsMs: number;
}

/** Byte size of an I420 frame of the given size. */
export function i420Size(width: number, height: number): number {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  return width * height + 2 * cw * ch;
}
