import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FlowProducer, Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { EvidenceError, LivemaskError, type Logger } from '../src/core/index.js';
import {
  appendAudit, exportEvidence, FILES, listSessions, readSessionWriter, recover, sweep, verify, writerAlive,
  type SessionWriter, type SweepResult, type VerifyResult,
} from '../src/evidence/index.js';
import { connectRedis, FLEET_DEFAULTS, RoomIdSchema } from '../src/fleet/index.js';

/**
 * The evidence jobs of a fleet worker: retention sweeps (a BullMQ job
 * scheduler), exports, and finalising a room's evidence when the room ends
 * (a FlowProducer flow: one `verify` child per session, then the `finalise`
 * parent that audits the outcome).
 *
 * Routing. Evidence lives on the local disk of the worker that recorded it,
 * so a shared queue would hand a job to a worker without the files. Each
 * evidence *node* (a data directory; by default one per host, `hostname()`)
 * has a queue of its own, `evidence.<node>`, and only the workers of that
 * node consume it. Workers of one node share its evidence root, so a sweep
 * tick of the node's scheduler runs on exactly one of them (BullMQ hands each
 * job to one worker). A job whose room has no evidence under the local root
 * fails with UnrecoverableError naming the node (a mis-routed job, or a
 * room that never recorded), rather than retrying. A room that failed over
 * between nodes has evidence on each: each node finalises its own part.
 *
 * Finalise: the room's sessions still open (no manifest) get `sealWaitMs`
 * to be sealed by the recorder closing them; a session still open after
 * that, whose event log did not change meanwhile, was left by a killed
 * process and is sealed by `recover` (scoped to the room). Then each
 * session is verified, and the parent appends one `verify` audit entry
 * (actor `system`, reason `room ended`). The flow is worth it here: the
 * children are independent per-session checks that can run on any of the
 * node's workers, and BullMQ runs the parent only when all are done.
 */

export const SWEEP_SCHEDULER = 'sweep';
export const DEFAULT_SWEEP_EVERY_HOURS = 24;
const NodeSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1-64 of A-Z a-z 0-9 . _ -' });

/** The queue of one evidence node. */
export function evidenceQueueName(node: string): string {
  const parsed = NodeSchema.safeParse(node);
  if (!parsed.success) {
    throw new LivemaskError('CONFIG_INVALID', `evidence node: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return `evidence.${parsed.data}`;
}

const IsoTime = z.string().min(1).max(64);
export const ExportJobSchema = z.object({
  room: RoomIdSchema,
  from: IsoTime,
  to: IsoTime,
  actor: z.string().trim().min(1).max(200),
  reason: z.string().trim().min(1).max(500),
});
export type ExportJobData = z.infer<typeof ExportJobSchema>;
const FinaliseSchema = z.object({ room: RoomIdSchema });
const VerifySessionSchema = z.object({ room: RoomIdSchema, session: z.string().min(1).max(128) });

export interface ExportJobResult {
  id: string;
  reportSha256: string;
  sessions: string[];
}

export interface SessionCheck {
  session: string;
  recovered: boolean;
  intact: boolean;
  problem?: string;
}

export interface FinaliseResult {
  room: string;
  sessions: SessionCheck[];
  intact: boolean;
}

export interface EvidenceWorkerOptions {
  redisUrl: string;
  /** BullMQ key prefix; the fleet's. Default `livemask`. */
  prefix?: string;
  /** This worker's evidence node (see the file header). */
  node: string;
  /** The evidence root, `<data>/evidence`. */
  root: string;
  /** Where export bundles go, `<data>/exports`. */
  exportsDir: string;
  /** The replay page's cache, `<data>/replay-cache`: the sweep deletes the media of sessions that are gone. */
  cacheDir?: string;
  /** Days the sweep keeps export bundles. Default: exports are not swept. */
  exportRetentionDays?: number;
  publicKey: KeyObject;
  signingKey?: KeyObject;
  retentionDays: number;
  /** How often the node's sweep runs. Default {@link DEFAULT_SWEEP_EVERY_HOURS} hours. */
  sweepEveryMs?: number;
  /** How long finalise waits for an open session to be sealed by its recorder. Default 15 s. */
  sealWaitMs?: number;
  connectTimeoutMs?: number;
  logger: Logger;
}

type Data = Record<string, unknown>;

/** Parses job data; what a retry cannot fix fails the job for good, with the field named. */
function parseData<T>(schema: z.ZodType<T>, job: Job<Data>): T {
  const parsed = schema.safeParse(job.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UnrecoverableError(`invalid ${job.name} job data: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export class EvidenceWorker {
  readonly node: string;
  readonly queueName: string;
  readonly #o: EvidenceWorkerOptions;
  readonly #redis: Redis;
  readonly #queue: Queue<Data>;
  readonly #flows: FlowProducer;
  readonly #worker: Worker<Data>;
  readonly #logger: Logger;
  #closing: Promise<void> | undefined;

  private constructor(o: EvidenceWorkerOptions, redis: Redis) {
    this.#o = o;
    this.node = o.node;
    this.queueName = evidenceQueueName(o.node);
    this.#redis = redis;
    this.#logger = o.logger.child({ module: 'evidence-jobs', node: o.node });
    const prefix = o.prefix ?? FLEET_DEFAULTS.prefix;
    this.#queue = new Queue<Data>(this.queueName, { connection: redis, prefix });
    this.#flows = new FlowProducer({ connection: redis, prefix });
    this.#worker = new Worker<Data>(this.queueName, (job, _token, signal) => this.#process(job, signal), { connection: redis, prefix, concurrency: 2 });
    this.#worker.on('failed', (job, err) => {
      this.#logger.warn({ job: job?.id, kind: job?.name, error: err.message }, 'evidence job failed');
    });
    this.#worker.on('error', (err) => {
      this.#logger.warn({ error: err.message }, 'evidence worker error');
    });
  }

  static async start(o: EvidenceWorkerOptions): Promise<EvidenceWorker> {
    evidenceQueueName(o.node);
    const redis = await connectRedis(o.redisUrl, {
      timeoutMs: o.connectTimeoutMs ?? FLEET_DEFAULTS.connectTimeoutMs,
      connectionName: `livemask:evidence:${o.node}`,
      logger: o.logger,
      maxRetriesPerRequest: null,
    });
    const w = new EvidenceWorker(o, redis);
    try {
      // Idempotent: every worker of the node upserts the same scheduler; BullMQ keeps one.
      await w.#queue.upsertJobScheduler(
        SWEEP_SCHEDULER,
        { every: o.sweepEveryMs ?? DEFAULT_SWEEP_EVERY_HOURS * 3_600_000 },
        { name: 'sweep', data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
      );
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  /**
   * Adds the finalise flow of a room that ended: one verify child per session
   * of the room under the local root. Resolves with the parent's job id, or
   * undefined when the room recorded nothing here.
   */
  async finaliseRoom(room: string): Promise<string | undefined> {
    const sessions = await listSessions(this.#o.root, room);
    if (sessions.length === 0) {
      return undefined;
    }
    const node = await this.#flows.add({
      name: 'finalise',
      queueName: this.queueName,
      data: { room },
      opts: { removeOnComplete: 100, removeOnFail: 100 },
      children: sessions.map((s) => ({
        name: 'verify-session',
        queueName: this.queueName,
        data: { room, session: s.sessionId },
        opts: { failParentOnFailure: true, removeOnComplete: 100, removeOnFail: 100 },
      })),
    });
    return node.job.id;
  }

  /** Stops taking jobs, waits for the running ones, closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const failures: unknown[] = [];
      for (const step of [() => this.#worker.close(), () => this.#flows.close(), () => this.#queue.close()]) {
        try {
          await step();
        } catch (err) {
          failures.push(err);
        }
      }
      this.#redis.disconnect();
      if (failures.length > 0) {
        throw new AggregateError(failures, 'evidence worker close failed');
      }
    })();
    return this.#closing;
  }

  async #process(job: Job<Data>, signal: AbortSignal | undefined): Promise<unknown> {
    switch (job.name) {
      case 'sweep':
        return this.#sweep();
      case 'export':
        return this.#export(parseData(ExportJobSchema, job), signal);
      case 'verify-session':
        return this.#verifySession(parseData(VerifySessionSchema, job), signal);
      case 'finalise':
        return this.#finalise(parseData(FinaliseSchema, job).room, job);
      default:
        throw new UnrecoverableError(`unknown evidence job kind ${JSON.stringify(job.name)}`);
    }
  }

  async #sweep(): Promise<SweepResult> {
    const o = this.#o;
    const derived = {
      ...(o.exportRetentionDays !== undefined ? { exports: { dir: o.exportsDir, retentionDays: o.exportRetentionDays } } : {}),
      ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    };
    const result = await sweep(o.root, { retentionDays: o.retentionDays, actor: 'system', logger: this.#logger, derived, ...(o.signingKey ? { signingKey: o.signingKey } : {}) });
    this.#logger.info({ deleted: result.deleted.length, kept: result.kept.length, failed: result.failed.length }, 'evidence sweep done');
    return result;
  }

  /** Fails for good when the room has no evidence on this node: the job was routed to the wrong node. */
  async #requireLocal(room: string, session?: string): Promise<void> {
    const sessions = await listSessions(this.#o.root, room);
    if (!sessions.some((s) => session === undefined || s.sessionId === session)) {
      throw new UnrecoverableError(`EVIDENCE_NOT_FOUND: no evidence of room ${room}${session !== undefined ? ` session ${session}` : ''} on evidence node ${this.node}`);
    }
  }

  async #export(data: ExportJobData, signal: AbortSignal | undefined): Promise<ExportJobResult> {
    const o = this.#o;
    await this.#requireLocal(data.room);
    const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
    await mkdir(join(o.exportsDir, data.room), { recursive: true });
    let result;
    try {
      result = await exportEvidence({
        root: o.root, room: data.room, from: data.from, to: data.to, out: join(o.exportsDir, data.room, id), actor: data.actor, reason: data.reason,
        publicKey: o.publicKey, logger: this.#logger, ...(signal ? { signal } : {}),
      });
    } catch (err) {
      // A bad range or an empty one will not get better with a retry.
      if (err instanceof LivemaskError && (err.code === 'BAD_REQUEST' || err.code === 'EVIDENCE_NOT_FOUND')) {
        throw new UnrecoverableError(`${err.code}: ${err.message}`);
      }
      throw err;
    }
    const r = result.report;
    const sessions = r.source.sessions.map((x) => x.sessionId);
    try {
      // The reason goes to the audit log only, never to the log.
      await appendAudit(o.root, data.room, {
        actor: data.actor, action: 'export', reason: data.reason,
        ...(sessions.length === 1 && sessions[0] !== undefined ? { session: sessions[0] } : {}),
        detail: { from: r.from, to: r.to, sessions, export: id, segments: r.bundle.counts.segments, reportSha256: result.reportSha256, bundleSha256: result.bundleSha256, via: 'job' },
      }, o.signingKey);
    } catch (err) {
      await rm(result.dir, { recursive: true, force: true });
      throw err;
    }
    this.#logger.info({ room: data.room, export: id }, 'evidence exported');
    return { id, reportSha256: result.reportSha256, sessions };
  }

  async #verifySession(data: z.infer<typeof VerifySessionSchema>, signal: AbortSignal | undefined): Promise<SessionCheck> {
    await this.#requireLocal(data.room, data.session);
    const recovered = await this.#sealOrRecover(data.room, data.session, signal);
    const result: VerifyResult = await verify(this.#o.root, data.room, this.#o.publicKey, data.session);
    return { session: data.session, recovered, intact: result.ok, ...(result.ok ? {} : { problem: `${result.problem.kind}: ${result.problem.message}` }) };
  }

  /**
   * Waits for the recorder to seal an open session. Recovers it at once when
   * its writer was a process of this host that is gone (killed), or when its
   * log stayed still for the wait (a writer on another host, or of an older
   * version that did not name itself).
   */
  async #sealOrRecover(room: string, session: string, signal: AbortSignal | undefined): Promise<boolean> {
    const dir = join(this.#o.root, room, session);
    // Sealed once the signature is there: the recorder writes manifest.json, then manifest.sig. Checking the
    // manifest alone let a verify run between the two and report the session open (seen once in CI).
    const sealed = async (): Promise<boolean> => (await stat(join(dir, FILES.signature)).catch(missing)) !== undefined;
    const logTime = async (): Promise<number | undefined> => (await stat(join(dir, FILES.events)).catch(missing))?.mtimeMs;
    const before = await logTime();
    const deadline = Date.now() + (this.#o.sealWaitMs ?? 15_000);
    // Written by a process of this host that is gone (killed): nothing will seal it, so recover at once.
    const writer = await readSessionWriter(dir).catch((): SessionWriter => ({}));
    const writerGone = writer.host === hostname() && writer.pid !== undefined && writer.pid !== process.pid && !writerAlive(writer);
    while (!(await sealed())) {
      if (signal?.aborted === true) {
        throw new LivemaskError('ABORTED', `finalise of ${room}/${session} aborted`);
      }
      if (writerGone || Date.now() >= deadline) {
        if (!writerGone && (await logTime()) !== before) {
          throw new EvidenceError('EVIDENCE_IO', `session ${room}/${session} is still being written; finalise retries`);
        }
        const signingKey = this.#o.signingKey;
        if (!signingKey) {
          throw new UnrecoverableError(`CONFIG_INVALID: session ${room}/${session} is open and this worker has no evidence signing key`);
        }
        const recovered = await recover(this.#o.root, { signingKey, logger: this.#logger, room });
        if (!recovered.some((r) => r.sessionId === session) && !(await sealed())) {
          throw new EvidenceError('EVIDENCE_IO', `session ${room}/${session} is open and its writer is alive; finalise retries`);
        }
        return true;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return false;
  }

  async #finalise(room: string, job: Job<Data>): Promise<FinaliseResult> {
    const checks = Object.values(await job.getChildrenValues<SessionCheck>()).sort((a, b) => a.session.localeCompare(b.session));
    const intact = checks.length > 0 && checks.every((c) => c.intact);
    await appendAudit(this.#o.root, room, {
      actor: 'system', action: 'verify', reason: 'room ended',
      detail: { intact, sessions: checks.map((c) => c.session), recovered: checks.filter((c) => c.recovered).map((c) => c.session), problems: checks.filter((c) => !c.intact).map((c) => `${c.session}: ${c.problem ?? ''}`) },
    }, this.#o.signingKey);
    this.#logger.info({ room, sessions: checks.length, intact }, 'room evidence finalised');
    return { room, sessions: checks, intact };
  }
}

function missing(err: unknown): undefined {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return undefined;
  }
  throw err;
}

/** A pending export: its job id, and its result once a worker of the node ran it. */
export interface RequestedExport {
  jobId: string;
  result(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<ExportJobResult>;
}

/**
 * The control plane's side of the evidence jobs: queues an export on the
 * evidence node that holds the room (the node a worker reports; by default
 * its host name). Data is validated here too, so a bad request fails before
 * it reaches the queue.
 */
export class EvidenceJobs {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #queues = new Map<string, { queue: Queue<Data>; events: QueueEvents }>();
  #closing: Promise<void> | undefined;

  private constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  static async connect(o: { redisUrl: string; prefix?: string; logger: Logger; connectTimeoutMs?: number }): Promise<EvidenceJobs> {
    const redis = await connectRedis(o.redisUrl, { timeoutMs: o.connectTimeoutMs ?? FLEET_DEFAULTS.connectTimeoutMs, connectionName: 'livemask:evidence:client', logger: o.logger, maxRetriesPerRequest: null });
    return new EvidenceJobs(redis, o.prefix ?? FLEET_DEFAULTS.prefix);
  }

  async requestExport(node: string, data: ExportJobData): Promise<RequestedExport> {
    const parsed = ExportJobSchema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new LivemaskError('BAD_REQUEST', `export ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    }
    const { queue, events } = await this.#queue(node);
    const job = await queue.add('export', parsed.data, { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 100, removeOnFail: 100 });
    const jobId = job.id ?? '';
    return {
      jobId,
      result: async ({ timeoutMs, signal } = {}) => {
        signal?.throwIfAborted();
        const done = job.waitUntilFinished(events, timeoutMs) as Promise<ExportJobResult>;
        if (!signal) {
          return done;
        }
        return new Promise<ExportJobResult>((resolve, reject) => {
          const onAbort = (): void => reject(new LivemaskError('ABORTED', `waiting for export job ${jobId} aborted`, { cause: signal.reason }));
          signal.addEventListener('abort', onAbort, { once: true });
          done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
        });
      },
    };
  }

  async #queue(node: string): Promise<{ queue: Queue<Data>; events: QueueEvents }> {
    const name = evidenceQueueName(node);
    let q = this.#queues.get(name);
    if (!q) {
      q = { queue: new Queue<Data>(name, { connection: this.#redis, prefix: this.#prefix }), events: new QueueEvents(name, { connection: this.#redis, prefix: this.#prefix }) };
      this.#queues.set(name, q);
      await q.events.waitUntilReady();
    }
    return q;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const failures: unknown[] = [];
      for (const { queue, events } of this.#queues.values()) {
        for (const c of [events, queue]) {
          try {
            await c.close();
          } catch (err) {
            failures.push(err);
          }
        }
      }
      this.#redis.disconnect();
      if (failures.length > 0) {
        throw new AggregateError(failures, 'evidence jobs close failed');
      }
    })();
    return this.#closing;
  }
}
