import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, LivemaskError } from '../core/index.js';
import { FaceDetector, type FaceDetectorOptions } from '../detect/index.js';
import type { WorkerReply, WorkerRequest } from './worker-detector.js';

/**
 * The thread of a {@link WorkerFrameDetector}: one BlazeFace detector, fed
 * frames one message at a time, in order. Ends itself on `close`, after the
 * detection in progress (a thread terminated inside onnxruntime's run aborts
 * the whole process).
 */

const port = parentPort;
if (!port) {
  throw new Error('detector-worker runs as a worker thread only');
}
const data = workerData as { options: Omit<FaceDetectorOptions, 'logger'>; logLevel: string };
const logger = createLogger({ level: data.logLevel }).child({ thread: 'detector' });
const post = (reply: WorkerReply): void => port.postMessage(reply);
const failure = (err: unknown): { code: string; message: string } =>
  err instanceof LivemaskError ? { code: err.code, message: err.message } : { code: 'DETECTOR_FAILED', message: err instanceof Error ? err.message : String(err) };

let detector: FaceDetector | undefined;
try {
  detector = await FaceDetector.create({ ...data.options, logger });
  post({ type: 'ready', executionProvider: detector.executionProvider });
} catch (err) {
  post({ type: 'failed', error: failure(err) });
}

// Messages are handled one after another: a detection finishes before the next one (or close) starts.
let queue = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    if (request.type === 'close') {
      await detector?.close().catch(() => undefined);
      detector = undefined;
      port.close();
      return;
    }
    if (!detector) {
      post({ type: 'result', id: request.id, error: { code: 'DETECTOR_FAILED', message: 'the detector is closed' } });
      return;
    }
    try {
      const { frame } = request;
      const result = await detector.detect({ ...frame, data: Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength) });
      post({ type: 'result', id: request.id, result });
    } catch (err) {
      post({ type: 'result', id: request.id, error: failure(err) });
    }
  });
});
