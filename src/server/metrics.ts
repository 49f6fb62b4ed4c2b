import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelName } from '../core/index.js';
import type { BatchStats } from '../detect/index.js';

/**
 * The Prometheus metrics of `livemask serve`, in a registry of their own
 * (never prom-client's global one). Labels carry stage names only: no room,
 * participant or any personal field ever becomes a label.
 */

export const STAGES = ['decode', 'detect', 'mask', 'encode', 'end-to-end'] as const;
export type Stage = (typeof STAGES)[number];

/** What the media path feeds: one object, so that it never touches prom-client itself. */
export interface MediaMetrics {
  framesMasked(count?: number): void;
  failsafeFrames(count?: number): void;
  pipelineRestarted(): void;
  observeStage(stage: Stage, seconds: number): void;
  setSubscribers(count: number): void;
  /** A datagram on a media port dropped before it became media: not RTP at all, or failing SRTP. */
  mediaDropped(reason: 'not-rtp' | 'srtp-invalid' | 'other-codec'): void;
}

export interface ServerMetricsOptions {
  /** Read at each scrape for the livemask_rooms gauge. */
  roomCount: () => number;
  /** Also collect prom-client's process and Node.js metrics. Default true. */
  defaultMetrics?: boolean;
  /** Read at each scrape: the shared (batching) detectors' calls by batch size, since the process started. */
  detectorBatches?: () => Promise<Partial<Record<ModelName, BatchStats>>>;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly media: MediaMetrics;

  constructor(options: ServerMetricsOptions) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
    }
    new Gauge({
      name: 'livemask_rooms',
      help: 'Rooms this worker knows now',
      registers,
      collect() {
        this.set(options.roomCount());
      },
    });
    // prom-client collects every metric of a scrape at once: the two batching gauges share one stats read.
    const { detectorBatches } = options;
    let reading: Promise<Partial<Record<ModelName, BatchStats>>> | undefined;
    const batches = (): Promise<Partial<Record<ModelName, BatchStats>>> =>
      (reading ??= (detectorBatches?.() ?? Promise.resolve({})).finally(() => {
        reading = undefined;
      }));
    new Gauge({
      name: 'livemask_detector_batched_calls',
      help: 'Inference calls of the shared batching detector (LIVEMASK_DETECT_BATCH above 1) since the worker started, by model and batch size (frames per call)',
      labelNames: ['model', 'size'],
      registers,
      async collect() {
        for (const [model, s] of Object.entries(await batches())) {
          for (const [size, calls] of Object.entries(s.bySize)) {
            this.set({ model, size }, calls);
          }
        }
      },
    });
    new Gauge({
      name: 'livemask_detector_batched_frames',
      help: 'Frames the shared batching detector ran since the worker started, by model (divide by the calls for the mean batch)',
      labelNames: ['model'],
      registers,
      async collect() {
        for (const [model, s] of Object.entries(await batches())) {
          this.set({ model }, s.frames);
        }
      },
    });
    const subscribers = new Gauge({ name: 'livemask_subscribers', help: 'Media subscribers (WHEP sessions) now', registers });
    const masked = new Counter({ name: 'livemask_frames_masked_total', help: 'Frames sent in a masked rendition', registers });
    const failsafe = new Counter({
      name: 'livemask_failsafe_frames_total',
      help: 'Frames sent fully masked by the fail-safe',
      registers,
    });
    const restarts = new Counter({
      name: 'livemask_pipeline_restarts_total',
      help: 'Masking pipelines restarted after a failure',
      registers,
    });
    const latency = new Histogram({
      name: 'livemask_stage_latency_seconds',
      help: 'Latency each stage adds to a frame',
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28],
      registers,
    });
    const dropped = new Counter({
      name: 'livemask_media_packets_dropped_total',
      help: 'Datagrams on media ports dropped before they became media (garbage UDP, RTP failing SRTP, video in another codec than the session negotiated first)',
      labelNames: ['reason'],
      registers,
    });
    dropped.inc({ reason: 'not-rtp' }, 0);
    dropped.inc({ reason: 'srtp-invalid' }, 0);
    dropped.inc({ reason: 'other-codec' }, 0);
    // Every stage shows up from the first scrape, with zero counts.
    for (const stage of STAGES) {
      latency.zero({ stage });
    }
    this.media = {
      framesMasked: (count = 1) => masked.inc(count),
      failsafeFrames: (count = 1) => failsafe.inc(count),
      pipelineRestarted: () => restarts.inc(),
      observeStage: (stage, seconds) => latency.labels(stage).observe(seconds),
      setSubscribers: (count) => subscribers.set(count),
      mediaDropped: (reason) => dropped.inc({ reason }),
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
