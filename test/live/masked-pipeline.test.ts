import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RtpPacket } from 'werift';
import { parseMaskConfig } from '../../src/config/index.js';
import { createLogger, DetectorError } from '../../src/core/index.js';
import { FaceDetector } from '../../src/detect/index.js';
import { LIVE_MASK_DEFAULTS } from '../../src/live/sessions.js';
import { MaskedPipeline, type MaskedPipelineEvent } from '../../src/live/masked-pipeline.js';
import type { FrameDetector } from '../../src/pipeline/index.js';
import { sharedDetectorStats } from '../../src/pipeline/worker-detector.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { createYunet, hasYunet, type Yunet } from '../support/yunet.js';
import { decodeVideo, streamClipRtp, waitFor, type DecodedFrame } from './peers.js';

/**
 * The masked rendition on its own, fed real VP8 (or H.264) RTP by ffmpeg from a real
 * face clip, with its real ffmpeg stages and BlazeFace. What it sends is
 * decoded and audited by YuNet, an independent detector.
 */

const CLIP = clipPath('clm_franck_talking_face');
const config = parseMaskConfig(LIVE_MASK_DEFAULTS);
const logger = createLogger({ level: 'silent' });

interface Run {
  pipeline: MaskedPipeline;
  out: { packet: RtpPacket; at: number }[];
  events: MaskedPipelineEvent[];
}

function run(createDetector?: (c: typeof config) => Promise<FrameDetector>, cfg = config, codec: 'vp8' | 'h264' = 'vp8'): Run {
  const pipeline = new MaskedPipeline({ config: cfg, logger, codec, ...(createDetector ? { createDetector } : {}) });
  const r: Run = { pipeline, out: [], events: [] };
  pipeline.on('rtp', ({ packet }) => r.out.push({ packet, at: Date.now() }));
  pipeline.on('event', (e) => r.events.push(e));
  return r;
}

/** Frames whose luma is flat: masked whole (the fail-safe fills the frame grey). */
function isFlat(frame: DecodedFrame): boolean {
  const n = frame.width * frame.height;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < n; i += 1) {
    const v = frame.data[i] ?? 0;
    sum += v;
    sq += v * v;
  }
  const mean = sum / n;
  return Math.sqrt(sq / n - mean * mean) < 4;
}

async function facesIn(yunet: Yunet, frames: readonly DecodedFrame[], samples: number): Promise<number[]> {
  const picked = new Set(Array.from({ length: Math.min(samples, frames.length) }, (_, i) => Math.floor((i * frames.length) / Math.min(samples, frames.length))));
  const hits: number[] = [];
  for (const f of frames) {
    if (picked.has(f.index) && (await yunet.detect(f)).length > 0) {
      hits.push(f.index);
    }
  }
  return hits;
}

describe.skipIf(!hasTestData || !hasYunet)(`masked rendition pipeline${hasTestData && hasYunet ? '' : ` — skipped: ${noDataReason} (and the YuNet model)`}`, () => {
  let yunet: Yunet;
  beforeAll(async () => {
    yunet = await createYunet();
  });
  afterAll(async () => {
    await yunet.close();
  });

  // VP8 (RFC 7741) as sent by libvpx, and H.264 (RFC 6184 FU-A) as sent by libx264, into the same VP8 rendition.
  it.each(['vp8', 'h264'] as const)('%s in: carries on through a resolution change mid-stream, scaled to the first size, with no face visible', async (codec) => {
    const r = run(undefined, config, codec);
    try {
      await streamClipRtp(CLIP, { width: 320, seconds: 2, codec }, (p) => r.pipeline.pushRtp(p));
      const before = r.pipeline.framesOut;
      expect(before).toBeGreaterThan(20);
      // A second encoder at another size: new SSRC, sequence and clock, as a browser that changes resolution may send.
      await streamClipRtp(CLIP, { width: 480, seconds: 2, startSec: 2, codec }, (p) => r.pipeline.pushRtp(p));
      await waitFor(() => r.pipeline.framesOut >= before + 20, 5000, 'masked frames after the resolution change');
      expect(r.pipeline.size).toEqual({ width: 320, height: 256 });
      const frames = await decodeVideo(r.out);
      expect(frames.length).toBeGreaterThan(before + 10);
      expect(frames[0]?.width).toBe(320);
      expect(await facesIn(yunet, frames, 30)).toEqual([]);
      expect(r.events.filter((e) => e.type === 'error' || e.type === 'pipeline-restarted')).toEqual([]);
    } finally {
      await r.pipeline.close();
    }
  });

  it('two renditions on the shared batched detector (LIVEMASK_DETECT_BATCH): both masked from the first frame, no face visible', async () => {
    const batched = parseMaskConfig({ ...LIVE_MASK_DEFAULTS, detectBatch: 2 });
    const before = (await sharedDetectorStats()).back256?.frames ?? 0;
    const runs = [run(undefined, batched), run(undefined, batched, 'h264')];
    const whole = runs.map(() => [] as boolean[]);
    runs.forEach((r, k) => r.pipeline.on('frame', (f) => whole[k]?.push(f.fullFrame)));
    try {
      await Promise.all([
        streamClipRtp(CLIP, { width: 320, seconds: 3 }, (p) => runs[0]?.pipeline.pushRtp(p)),
        streamClipRtp(CLIP, { width: 480, seconds: 3, startSec: 3, codec: 'h264' }, (p) => runs[1]?.pipeline.pushRtp(p)),
      ]);
      for (const r of runs) {
        await waitFor(() => r.pipeline.framesOut > 60, 5000, 'masked frames from both renditions');
        const frames = await decodeVideo(r.out);
        expect(frames.length).toBeGreaterThan(60);
        expect(await facesIn(yunet, frames, 30)).toEqual([]);
        expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
      }
      // The detections came back: nearly every frame is masked by its face boxes, not whole by the fail-safe.
      for (const flags of whole) {
        expect(flags.filter((f) => !f).length).toBeGreaterThan(0.8 * flags.length);
      }
      // And they came from the shared batching thread: at least a detection per frame sent went through it.
      const sent = runs.reduce((n, r) => n + r.pipeline.framesOut, 0);
      expect(((await sharedDetectorStats()).back256?.frames ?? 0) - before).toBeGreaterThanOrEqual(sent);
    } finally {
      await Promise.all(runs.map((r) => r.pipeline.close()));
    }
  });

  it('engages the fail-safe when the detector stalls: the frames meanwhile are masked whole, then it clears', async () => {
    // Mock, for a fault a real model cannot be made to show on demand: BlazeFace that stops answering for a while.
    let calls = 0;
    const stalling = async (c: typeof config): Promise<FrameDetector> => {
      const real = await FaceDetector.create({ mode: c.detector, ep: 'cpu', logger, tileEvery: c.tileEvery });
      return {
        executionProvider: real.executionProvider,
        close: () => real.close(),
        detect: (frame, options) => {
          calls += 1;
          if (calls > 20 && calls <= 30) {
            return new Promise((_, reject) => options?.signal?.addEventListener('abort', () => reject(new DetectorError('DETECTOR_FAILED', 'stalled'))));
          }
          return real.detect(frame, options);
        },
      };
    };
    // A 200 ms deadline: ten stalled frames take 2 s.
    const r = run(stalling, parseMaskConfig({ ...LIVE_MASK_DEFAULTS, detectTimeoutMs: 200 }));
    const flags: boolean[] = [];
    r.pipeline.on('frame', (f) => flags.push(f.fullFrame));
    try {
      await streamClipRtp(CLIP, { width: 320, seconds: 6 }, (p) => r.pipeline.pushRtp(p));
      await waitFor(() => r.events.some((e) => e.type === 'failsafe-cleared'), 10_000, 'the fail-safe to clear');
      expect(r.events.find((e) => e.type === 'failsafe-engaged')).toMatchObject({ reason: 'detector-error' });
      // Frames before the stall are masked by boxes, not whole.
      expect(r.events.find((e) => e.type === 'failsafe-engaged')).toMatchObject({ reason: 'detector-error' });
      // The ten stalled detections give a run of at least ten frames masked whole; the stream ends masked by boxes again.
      expect(flags.map((f) => (f ? '1' : '0')).join('')).toMatch(/1{10}/);
      expect(flags.slice(-10)).toEqual(Array(10).fill(false));
      const frames = await decodeVideo(r.out);
      const whole = flags.flatMap((f, i) => (f ? [i] : []));
      expect(whole.length).toBeGreaterThan(0);
      // What was sent for those frames really is masked whole.
      for (const i of whole) {
        const frame = frames[i];
        if (frame) {
          expect(isFlat(frame)).toBe(true);
        }
      }
      expect(await facesIn(yunet, frames, 30)).toEqual([]);
    } finally {
      await r.pipeline.close();
    }
  });

  it('restarts an ffmpeg stage that dies, sends nothing raw meanwhile, and gives up after too many restarts', async () => {
    const r = run();
    const streaming = streamClipRtp(CLIP, { width: 320, seconds: 8 }, (p) => r.pipeline.pushRtp(p));
    try {
      await waitFor(() => r.pipeline.framesOut >= 20, 10_000, 'masked frames');
      process.kill(r.pipeline.pids.decoder ?? 0, 'SIGKILL');
      await waitFor(() => r.events.some((e) => e.type === 'pipeline-restarted'), 5000, 'the decoder restart');
      const afterDecoder = r.pipeline.framesOut;
      await waitFor(() => r.pipeline.framesOut >= afterDecoder + 15, 5000, 'masked frames after the decoder restart');
      process.kill(r.pipeline.pids.encoder ?? 0, 'SIGKILL');
      await waitFor(() => r.events.filter((e) => e.type === 'pipeline-restarted').length >= 2, 5000, 'the encoder restart');
      const afterEncoder = r.pipeline.framesOut;
      await waitFor(() => r.pipeline.framesOut >= afterEncoder + 15, 5000, 'masked frames after the encoder restart');
      expect(r.events.filter((e) => e.type === 'pipeline-restarted').map((e) => ('reason' in e ? e.reason : ''))).toEqual([
        'decoder killed by SIGKILL',
        'encoder killed by SIGKILL',
      ]);
      const frames = await decodeVideo(r.out);
      expect(await facesIn(yunet, frames, 30)).toEqual([]);
      // A stage that keeps dying: the pipeline stops (its subscribers get no video) and says why.
      for (let i = 0; i < 6 && !r.pipeline.closed; i += 1) {
        const pid = r.pipeline.pids.encoder;
        if (pid !== undefined) {
          process.kill(pid, 'SIGKILL');
        }
        await new Promise((res) => setTimeout(res, 300));
      }
      await waitFor(() => r.pipeline.closed, 5000, 'the pipeline to give up');
      const last = r.events.at(-1);
      expect(last?.type).toBe('error');
      expect(last && 'reason' in last ? last.reason : '').toContain('PIPELINE_FAILED');
    } finally {
      await r.pipeline.close();
      await streaming;
    }
  });
});
