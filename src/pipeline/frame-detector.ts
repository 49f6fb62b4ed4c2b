import { AbortedError, DetectorError, type I420Frame, type Logger } from '../core/index.js';
import type { MaskConfig } from '../config/index.js';
import { FaceDetector, type DetectResult } from '../detect/index.js';

/**
 * What a pipeline needs of a detector. `FaceDetector` is one; tests wrap it to
 * inject faults (a throw, a stall) that a real model cannot be made to show.
 */
export interface FrameDetector {
  readonly executionProvider: 'cpu' | 'cuda';
  detect(frame: I420Frame, options?: { signal?: AbortSignal }): Promise<DetectResult>;
  close(): Promise<void>;
}

/** The BlazeFace detector a masking configuration asks for (models, provider, tiles, threshold). */
export function createFrameDetector(config: MaskConfig, logger: Logger): Promise<FrameDetector> {
  return FaceDetector.create({
    mode: config.detector,
    ep: config.ep,
    logger,
    tileEvery: config.tileEvery,
    ...(config.intraOpThreads !== undefined ? { intraOpNumThreads: config.intraOpThreads } : {}),
    ...(config.scoreThreshold !== undefined ? { scoreThreshold: config.scoreThreshold } : {}),
  });
}

/**
 * Runs one detection with a deadline. A detection that does not finish in
 * `timeoutMs` rejects with DETECTOR_FAILED, so that the planner fails closed
 * on that frame instead of waiting for a stalled detector.
 */
export async function detectWithDeadline(
  detector: FrameDetector,
  frame: I420Frame,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<DetectResult> {
  const local = new AbortController();
  const onAbort = (): void => local.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new DetectorError('DETECTOR_FAILED', `detector stalled: no result for frame ${frame.index} in ${timeoutMs} ms`);
      local.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([detector.detect(frame, { signal: local.signal }), deadline]);
  } catch (err) {
    if (signal?.aborted) {
      throw new AbortedError('detection aborted', { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
