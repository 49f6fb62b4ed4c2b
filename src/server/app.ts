import { randomBytes, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { LivemaskError, type Logger } from '../core/index.js';
import { loadEvidenceKeys, recover } from '../evidence/index.js';
import { parseMaskConfig } from '../config/index.js';
import { LIVE_MASK_DEFAULTS, LiveSessions, registerLiveRoutes, type LiveSessionsOptions } from '../live/index.js';
import { sharedDetectorStats } from '../pipeline/worker-detector.js';
import { EvidenceMirror, openStore } from '../storage/index.js';
import { describeServerConfig, type ServerConfig } from './config.js';
import { registerDemoPage, registerReplayPage } from './demo-page.js';
import { registerEvidenceRoutes } from './evidence-routes.js';
import type { RoomGate } from './room-gate.js';
import { registerDemoRoutes } from './demo-routes.js';
import type { EventStream } from './event-stream.js';
import { handleError, handleNotFound } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerRoomRoutes } from './room-routes.js';
import { RoomRegistry } from './rooms.js';
import { TokenVerifier, type SigningKey } from './tokens.js';

/**
 * The HTTP control plane of `livemask serve`: health, readiness, metrics,
 * the mask switch and room events (and, in demo mode, demo tokens and the
 * demo page at `/`), plus the media plane's WHIP/WHEP routes (`src/live/`),
 * fed by `rooms` and feeding `metrics`.
 */

export interface LivemaskServerOptions {
  /** Heartbeat period of event streams. Default 15 000 ms. */
  heartbeatMs?: number;
  /** Default: a new registry, closed with the server. */
  rooms?: RoomRegistry;
  /** Collect prom-client's process metrics. Default true. */
  defaultMetrics?: boolean;
  /**
   * On stop, how long requests still in flight may take to finish before
   * every connection is closed. Default 5000 ms. Connections with no request
   * in flight (keep-alive, or opened and never used) are closed at once.
   */
  closeGraceMs?: number;
}

type State = 'created' | 'listening' | 'stopping' | 'stopped';

export class LivemaskServer {
  readonly config: ServerConfig;
  readonly rooms: RoomRegistry;
  readonly metrics: ServerMetrics;
  readonly verifier: TokenVerifier;
  /** WHIP publishers and WHEP subscribers (the media plane). */
  readonly live: LiveSessions;
  /** The key demo tokens are signed with; set in demo mode only. */
  readonly demoKey: SigningKey | undefined;
  readonly #app: FastifyInstance;
  /** The server's own log lines; requests log through Fastify's child of the same root. */
  readonly #logger: Logger;
  readonly #ownsRooms: boolean;
  /** Copies sealed sessions to the S3 store, when one is configured. */
  readonly #mirror: EvidenceMirror | undefined;
  readonly #streams = new Set<EventStream>();
  readonly #closeGraceMs: number;
  /** Requests whose response has not closed yet (event streams included). */
  #inflight = 0;
  #onIdle: (() => void)[] = [];
  #state: State = 'created';
  #roomGate: RoomGate | undefined;
  #joining = false;
  #stopping: Promise<void> | undefined;
  #url: string | undefined;

  private constructor(
    config: ServerConfig,
    logger: Logger,
    verifier: TokenVerifier,
    demoKey: SigningKey | undefined,
    options: LivemaskServerOptions,
    evidence: PreparedEvidence | undefined,
  ) {
    this.config = config;
    this.#logger = logger.child({ module: 'server' });
    this.verifier = verifier;
    this.demoKey = demoKey;
    this.#ownsRooms = options.rooms === undefined;
    this.#mirror = evidence?.mirror;
    this.rooms = options.rooms ?? new RoomRegistry();
    this.metrics = new ServerMetrics({
      roomCount: () => this.rooms.roomCount,
      detectorBatches: sharedDetectorStats,
      ...(options.defaultMetrics !== undefined ? { defaultMetrics: options.defaultMetrics } : {}),
    });
    // Typed as Fastify's logger so that the app is a plain FastifyInstance;
    // it is the project's pino logger, with its redaction paths.
    const httpLogger: FastifyBaseLogger = logger.child({ module: 'http' });
    this.#app = Fastify({
      loggerInstance: httpLogger,
      bodyLimit: config.maxBodyBytes,
    });
    this.#closeGraceMs = options.closeGraceMs ?? 5000;
    this.#app.addHook('onRequest', async (_request, reply) => {
      this.#inflight += 1;
      reply.raw.once('close', () => {
        this.#inflight -= 1;
        if (this.#inflight === 0) {
          this.#onIdle.splice(0).forEach((wake) => wake());
        }
      });
    });
    this.#app.setErrorHandler(handleError);
    this.#app.setNotFoundHandler(handleNotFound);
    registerOpsRoutes(this.#app, { metrics: this.metrics, ready: () => this.ready });
    registerRoomRoutes(this.#app, {
      rooms: this.rooms,
      verifier,
      logger: logger.child({ module: 'rooms' }),
      streams: this.#streams,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      stopping: () => this.#state === 'stopping' || this.#state === 'stopped',
      gate: (room) => this.#gate(room),
    });
    this.live = new LiveSessions({
      rooms: this.rooms,
      metrics: this.metrics.media,
      logger: logger.child({ module: 'live' }),
      maxSessions: config.maxSessions,
      maxMasked: config.maxMasked,
      maskConfig: parseMaskConfig({ ...LIVE_MASK_DEFAULTS, lookahead: config.lookahead, style: config.maskStyle, detector: config.detector, ep: config.ep, intraOpThreads: config.detectorThreads, detectBatch: config.detectBatch, detectBatchWaitMs: config.detectBatchWaitMs }),
      ...(evidence ? { evidence } : {}),
    });
    registerLiveRoutes(this.#app, {
      sessions: this.live,
      verifier,
      stopping: () => this.#state === 'stopping' || this.#state === 'stopped',
      gate: (room) => this.#gate(room),
    });
    if (evidence) {
      registerEvidenceRoutes(this.#app, {
        verifier,
        ...evidence,
        cacheDir: join(config.dataDir, 'replay-cache'),
        exportsDir: join(config.dataDir, 'exports'),
        retentionDays: config.retentionDays,
        exportRetentionDays: config.exportRetentionDays,
        logger: logger.child({ module: 'evidence-http' }),
      });
    }
    registerReplayPage(this.#app);
    if (demoKey) {
      registerDemoRoutes(this.#app, demoKey);
      registerDemoPage(this.#app);
    }
  }

  /**
   * Builds the server from its configuration. In demo mode tokens are signed
   * and verified with a random HS256 secret made for this process, never with
   * LIVEMASK_TOKEN_SECRET (so a demo never mints tokens valid elsewhere).
   */
  static async create(config: ServerConfig, logger: Logger, options: LivemaskServerOptions = {}): Promise<LivemaskServer> {
    let secret: string | Uint8Array | undefined = config.tokenSecret;
    let demoKey: SigningKey | undefined;
    if (config.demo) {
      if (config.tokenSecret !== undefined) {
        logger.child({ module: 'server' }).warn('demo mode: LIVEMASK_TOKEN_SECRET is ignored; HS256 tokens use a random secret made for this process');
      }
      secret = randomBytes(32);
      demoKey = { alg: 'HS256', secret };
    }
    const verifier = await TokenVerifier.create({
      ...(secret !== undefined ? { secret } : {}),
      ...(config.tokenPublicKey !== undefined ? { publicKeyPem: config.tokenPublicKey } : {}),
    });
    return new LivemaskServer(config, logger, verifier, demoKey, options, await prepareEvidence(config, logger));
  }

  /** The base URL once listening, e.g. `http://127.0.0.1:8080`. */
  /** In a fleet: which rooms this worker serves (room-gate.ts). Standalone, unset: every room. */
  setRoomGate(gate: RoomGate | undefined): void {
    this.#roomGate = gate;
  }

  get url(): string {
    if (this.#url === undefined) {
      throw new LivemaskError('CLOSED', 'the server is not listening');
    }
    return this.#url;
  }

  /** Listening, and not held back by {@link setJoining} (a fleet worker that has not joined yet). */
  get ready(): boolean {
    return this.#state === 'listening' && !this.#joining;
  }

  /** While true, /readyz answers 503 and every room is refused with 503: set by a fleet worker until it has joined. */
  setJoining(joining: boolean): void {
    this.#joining = joining;
  }

  #gate(room: string): ReturnType<RoomGate> {
    return this.#joining ? { status: 503, message: 'this worker is joining the fleet' } : this.#roomGate?.(room);
  }

  /** Starts listening on the configured host and port; resolves with the base URL. */
  async start(): Promise<string> {
    if (this.#state !== 'created') {
      throw new LivemaskError('CLOSED', `cannot start a server that is ${this.#state}`);
    }
    await this.#app.listen({ port: this.config.port, host: this.config.host });
    const address = this.#app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `http://${host}:${address.port}`;
    this.#state = 'listening';
    this.#logger.info(
      { config: describeServerConfig(this.config), tokenAlgorithms: this.verifier.algorithms, url: this.#url },
      'livemask serve listening',
    );
    if (this.demoKey) {
      this.#logger.warn('demo mode: demo tokens are enabled at GET /v1/demo/token; never run --demo in production');
    }
    return this.#url;
  }

  /**
   * Stops gracefully: /readyz answers 503 from now on; after the configured
   * drain delay the event streams are closed and the server stops accepting
   * and closes its connections. Idempotent; every step runs even when one
   * fails, and then a CLOSED error is thrown with the failures as its cause.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /**
   * Closes the listener; waits up to the grace time for requests in flight,
   * then closes every connection that is left (Node's idle-connection close
   * misses sockets that were opened and never sent a request).
   */
  async #closeHttp(): Promise<void> {
    const closed = this.#app.close();
    if (this.#inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#closeGraceMs);
        this.#onIdle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.#app.server.closeAllConnections();
    await closed;
  }

  async #stop(): Promise<void> {
    const wasListening = this.#state === 'listening';
    this.#state = 'stopping';
    this.#logger.info({ drainMs: this.config.drainMs }, 'livemask serve stopping');
    if (wasListening && this.config.drainMs > 0) {
      await sleep(this.config.drainMs);
    }
    const failures: unknown[] = [];
    const step = async (work: () => unknown): Promise<void> => {
      try {
        await work();
      } catch (err) {
        failures.push(err);
      }
    };
    for (const stream of [...this.#streams]) {
      await step(() => stream.close());
    }
    await step(() => this.live.close());
    // Sealing is done; a copy in flight is aborted and redone at the next start.
    await step(() => this.#mirror?.close());
    await step(() => this.#closeHttp());
    if (this.#ownsRooms) {
      await step(() => this.rooms.close());
    }
    this.#state = 'stopped';
    this.#logger.info('livemask serve stopped');
    if (failures.length > 0) {
      const cause = failures.length === 1 ? failures[0] : new AggregateError(failures);
      throw new LivemaskError('CLOSED', 'livemask serve did not stop cleanly', { cause });
    }
  }
}

/**
 * Evidence recording, when configured: the signing key (from
 * LIVEMASK_EVIDENCE_KEY, or the generated demo key), and the sessions a
 * killed worker left open sealed as `recovered` before anything new is
 * recorded.
 */
type PreparedEvidence = NonNullable<LiveSessionsOptions['evidence']> & { publicKey: KeyObject; mirror?: EvidenceMirror };

async function prepareEvidence(config: ServerConfig, logger: Logger): Promise<PreparedEvidence | undefined> {
  if (!config.evidence) {
    return undefined;
  }
  const log = logger.child({ module: 'evidence' });
  const keys = await loadEvidenceKeys({ dataDir: config.dataDir, needSigning: true, logger: log });
  if (!keys.signingKey) {
    throw new LivemaskError('CONFIG_INVALID', 'LIVEMASK_EVIDENCE_KEY: evidence recording needs a private key (or set LIVEMASK_EVIDENCE=off)');
  }
  const root = join(config.dataDir, 'evidence');
  const recovered = await recover(root, { signingKey: keys.signingKey, logger: log });
  if (recovered.length > 0) {
    log.warn({ sessions: recovered.map((r) => `${r.room}/${r.sessionId}`) }, 'sealed evidence sessions left open by a previous run');
  }
  // With an S3 store, each sealed session is copied there: those not copied yet (sealed before, or just
  // recovered) in the background from now, and every session sealed from now on.
  const mirror = config.store.kind === 's3'
    ? new EvidenceMirror({ root, store: openStore(config.store, root, log), retainDays: config.store.retainDays, logger: log })
    : undefined;
  mirror?.schedule();
  return {
    root,
    signingKey: keys.signingKey,
    publicKey: keys.publicKey,
    segmentSeconds: config.segmentSeconds,
    ...(mirror ? { mirror, onSealed: () => mirror.schedule() } : {}),
  };
}
