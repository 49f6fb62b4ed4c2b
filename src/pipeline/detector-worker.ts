import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, LivemaskError } from '../core/index.js';
import { DETECTOR_DEFAULTS, FaceDetector, SharedDetectorModels } from '../detect/index.js';
import type { DetectorThreadData, WorkerReply, WorkerRequest } from './worker-detector.js';

/**
 * The thread of a {@link WorkerFrameDetector}: one BlazeFace detector per
 * stream. A stream's messages are handled in order, one after another; the
 * streams run side by side, so that on shared batch-N models their
 * detections meet in one inference call. Ends itself on `close`, after the
 * detections in progress (a thread terminated inside onnxruntime's run
 * aborts the whole process).
 */

if (!parentPort) {
  throw new Error('detector-worker runs as a worker thread only');
}
const port = parentPort;
const data = workerData as DetectorThreadData;
const logger = createLogger({ level: data.logLevel }).child({ thread: 'detector' });
const post = (reply: WorkerReply): void => port.postMessage(reply);
const failure = (err: unknown): { code: string; message: string } =>
  err instanceof LivemaskError ? { code: err.code, message: err.message } : { code: 'DETECTOR_FAILED', message: err instanceof Error ? err.message : String(err) };

interface Stream {
  detector: FaceDetector | undefined;
  /** This stream's messages, in order. */
  queue: Promise<void>;
}

const streams = new Map<number, Stream>();
let shared: SharedDetectorModels | undefined;
let closing = false;

try {
  if (data.batch) {
    shared = await SharedDetectorModels.create({
      mode: data.options.mode,
      ep: data.options.ep,
      intraOpNumThreads: data.options.intraOpNumThreads ?? DETECTOR_DEFAULTS.intraOpNumThreads,
      ...(data.options.modelsDir !== undefined ? { modelsDir: data.options.modelsDir } : {}),
      ...data.batch,
      logger,
    });
  }
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'failed', error: failure(err) });
}

function onStream(id: number, task: (s: Stream) => Promise<void>): void {
  const s = streams.get(id);
  if (s) {
    s.queue = s.queue.then(() => task(s));
  }
}

async function closeAll(): Promise<void> {
  closing = true;
  await Promise.all(
    [...streams.values()].map(async (s) => {
      await s.queue;
      await s.detector?.close().catch(() => undefined);
    }),
  );
  streams.clear();
  await shared?.close().catch(() => undefined);
  port.close();
}

port.on('message', (request: WorkerRequest) => {
  if (closing) {
    if ('id' in request) {
      post({ type: 'result', id: request.id, error: { code: 'DETECTOR_FAILED', message: 'the detector is closed' } });
    }
    return;
  }
  switch (request.type) {
    case 'open': {
      const s: Stream = { detector: undefined, queue: Promise.resolve() };
      streams.set(request.stream, s);
      s.queue = FaceDetector.create({ ...data.options, logger, ...(shared ? { shared } : {}) }).then(
        (detector) => {
          s.detector = detector;
          post({ type: 'result', id: request.id, executionProvider: detector.executionProvider });
        },
        (err: unknown) => {
          streams.delete(request.stream);
          post({ type: 'result', id: request.id, error: failure(err) });
        },
      );
      return;
    }
    case 'detect':
      onStream(request.stream, async (s) => {
        if (!s.detector) {
          post({ type: 'result', id: request.id, error: { code: 'DETECTOR_FAILED', message: 'the detector is closed' } });
          return;
        }
        try {
          const { frame } = request;
          const result = await s.detector.detect({ ...frame, data: Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength) });
          post({ type: 'result', id: request.id, result });
        } catch (err) {
          post({ type: 'result', id: request.id, error: failure(err) });
        }
      });
      if (!streams.has(request.stream)) {
        post({ type: 'result', id: request.id, error: { code: 'DETECTOR_FAILED', message: `no open detector stream ${request.stream}` } });
      }
      return;
    case 'stats':
      post({ type: 'result', id: request.id, stats: shared?.stats() ?? {} });
      return;
    case 'close-stream':
      onStream(request.stream, async (s) => {
        await s.detector?.close().catch(() => undefined);
        s.detector = undefined;
        streams.delete(request.stream);
      });
      return;
    case 'close':
      void closeAll();
      return;
  }
});
