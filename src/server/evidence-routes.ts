import { randomBytes, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, preHandlerHookHandler } from 'fastify';
import { z } from 'zod';
import { AuthError, EvidenceError, LivemaskError, type Logger } from '../core/index.js';
import {
  appendAudit,
  EVENT,
  exportEvidence,
  FILES,
  holdRoom,
  listSessions,
  parseLog,
  readAudit,
  releaseRoom,
  replayMedia,
  replayTracks,
  sweep,
  verify,
  verifyAudit,
  type AuditAction,
  type ChainEntry,
  type Manifest,
  type SessionRef,
} from '../evidence/index.js';
import { IdSchema } from './room-auth.js';
import { bearerToken, type TokenClaims, type TokenVerifier } from './tokens.js';

/**
 * The ops interface to the evidence, under `/v1/evidence/...`, for tokens
 * with role `ops` only (any other role gets 403). An ops token's `room`
 * claim is the room it may access, or `*` for every room (needed for the
 * routes that span rooms). Every access needs a reason, in the
 * `X-Livemask-Reason` header (URL-encoded), the `reason` query parameter or
 * a JSON body's `reason` (400 without one), and appends to the room's
 * audit log with the token's `sub` as the actor, before anything is
 * returned.
 */

export interface EvidenceRoutesContext {
  verifier: TokenVerifier;
  /** The evidence root, `<data>/evidence`. */
  root: string;
  /** Verifies what is served; from configuration, never from the evidence itself. */
  publicKey: KeyObject;
  /** Signs the audit log's heads, when this server records evidence. */
  signingKey: KeyObject | undefined;
  /** Derived files (the replay page's remuxed media), e.g. `<data>/replay-cache`. */
  cacheDir: string;
  /** Where exported bundles are kept for download, e.g. `<data>/exports`. */
  exportsDir: string;
  /** The retention the sweep applies (LIVEMASK_RETENTION_DAYS). */
  retentionDays: number;
  /** How long the sweep keeps export bundles (LIVEMASK_EXPORT_RETENTION_DAYS). */
  exportRetentionDays: number;
  logger: Logger;
}

/** The token and reason a request was admitted with. */
export interface OpsAccess {
  claims: TokenClaims;
  actor: string;
  reason: string;
}

export const ALL_ROOMS = '*';
const MAX_REASON = 500;

const access = new WeakMap<FastifyRequest, OpsAccess>();

const RoomParams = z.object({ room: IdSchema });
const SessionParams = RoomParams.extend({ session: IdSchema });
const ReasonSchema = z.string().trim().min(1).max(MAX_REASON);

export function opsAccess(request: FastifyRequest): OpsAccess {
  const a = access.get(request);
  if (!a) {
    throw new Error('opsAccess: the route has no ops hooks');
  }
  return a;
}

/** `onRequest`: a valid `ops` token for the URL's room, or for `*`. Checked before any body is read. */
export function requireOps(verifier: TokenVerifier): onRequestAsyncHookHandler {
  return async (request) => {
    const claims = await verifier.verify(bearerToken(request.headers.authorization));
    if (claims.role !== 'ops') {
      throw new AuthError('FORBIDDEN', `role '${claims.role}' may not use the evidence routes`);
    }
    const room = (request.params as { room?: unknown }).room;
    const scope = typeof room === 'string' ? room : ALL_ROOMS;
    if (claims.room !== ALL_ROOMS && claims.room !== scope) {
      throw new AuthError('FORBIDDEN', scope === ALL_ROOMS ? 'this route needs an ops token for every room (room "*")' : 'token is for another room');
    }
    access.set(request, { claims, actor: claims.sub, reason: '' });
  };
}

/** `preHandler`: the reason for the access (the body is parsed by now). */
export const requireReason: preHandlerHookHandler = (request, _reply, done) => {
  const parsed = ReasonSchema.safeParse(reasonOf(request));
  if (!parsed.success) {
    done(new LivemaskError('BAD_REQUEST', `an evidence access needs a reason (X-Livemask-Reason header, reason query parameter or body field; 1-${MAX_REASON} characters)`));
    return;
  }
  opsAccess(request).reason = parsed.data;
  done();
};

export function registerEvidenceRoutes(app: FastifyInstance, ctx: EvidenceRoutesContext): void {
  const hooks = { onRequest: requireOps(ctx.verifier), preHandler: requireReason };
  const audit = (request: FastifyRequest, room: string, action: AuditAction, extra: { session?: string; detail?: Record<string, unknown> } = {}): Promise<unknown> => {
    const { actor, reason } = opsAccess(request);
    // The reason is free text that may name people: it goes to the audit log only, never to the log.
    ctx.logger.info({ room, action, session: extra.session, reqId: request.id }, 'evidence accessed');
    return appendAudit(ctx.root, room, { actor, action, reason, ...extra }, ctx.signingKey);
  };

  app.get('/v1/evidence/rooms', hooks, async (request, reply) => {
    const byRoom = new Map<string, string[]>();
    for (const s of await listSessions(ctx.root)) {
      byRoom.set(s.room, [...(byRoom.get(s.room) ?? []), s.sessionId]);
    }
    for (const room of byRoom.keys()) {
      await audit(request, room, 'list');
    }
    return reply.header('cache-control', 'no-store').send({ rooms: [...byRoom].map(([room, sessions]) => ({ room, sessions })) });
  });

  app.get('/v1/evidence/rooms/:room', hooks, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const sessions = await describeSessions(ctx.root, room);
    await audit(request, room, 'list');
    return reply.header('cache-control', 'no-store').send({ room, sessions });
  });

  app.get('/v1/evidence/rooms/:room/verify', hooks, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const { session } = parse(z.object({ session: IdSchema.optional() }).passthrough(), request.query);
    const result = await verify(ctx.root, room, ctx.publicKey, session);
    await audit(request, room, 'verify', { ...(session !== undefined ? { session } : {}), detail: { intact: result.ok } });
    return reply.header('cache-control', 'no-store').send(result.ok ? { intact: true, counts: result.counts, ...(result.continuity ? { continuity: result.continuity } : {}) } : { intact: false, problem: result.problem, counts: result.counts });
  });

  app.get('/v1/evidence/rooms/:room/sessions/:session/timeline', hooks, async (request, reply) => {
    const { room, session } = parse(SessionParams, request.params);
    const timeline = await sessionTimeline(ctx, room, session);
    await audit(request, room, 'replay', { session });
    return reply.header('cache-control', 'no-store').send(timeline);
  });

  app.get('/v1/evidence/rooms/:room/sessions/:session/media/:participant', hooks, async (request, reply) => {
    const { room, session, participant } = parse(SessionParams.extend({ participant: IdSchema }), request.params);
    const { ref, manifest, entries } = await sealedSession(ctx.root, room, session);
    const path = await replayMedia({ ref, manifest, entries, participant, cacheDir: ctx.cacheDir });
    await audit(request, room, 'media', { session, detail: { participant } });
    return sendFile(reply, path, path.endsWith('.mkv') ? 'video/x-matroska' : 'video/webm');
  });

  app.post('/v1/evidence/rooms/:room/exports', hooks, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const { from, to } = parse(ExportBody, request.body);
    const { actor, reason } = opsAccess(request);
    const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
    const out = join(ctx.exportsDir, room, id);
    await mkdir(join(ctx.exportsDir, room), { recursive: true });
    const result = await exportEvidence({ root: ctx.root, room, from, to, out, actor, reason, publicKey: ctx.publicKey, logger: ctx.logger });
    const r = result.report;
    const sessions = r.source.sessions.map((x) => x.sessionId);
    try {
      await audit(request, room, 'export', {
        ...(sessions.length === 1 && sessions[0] !== undefined ? { session: sessions[0] } : {}),
        detail: { from: r.from, to: r.to, sessions, export: id, segments: r.bundle.counts.segments, reportSha256: result.reportSha256, bundleSha256: result.bundleSha256 },
      });
    } catch (err) {
      await rm(result.dir, { recursive: true, force: true });
      throw err;
    }
    return reply.code(201).header('location', `/v1/evidence/rooms/${room}/exports/${id}`).header('cache-control', 'no-store').send({
      id, from: r.from, to: r.to, sessions, counts: r.bundle.counts, files: await bundleFiles(result.dir), reportSha256: result.reportSha256,
    });
  });

  app.get('/v1/evidence/rooms/:room/exports/:id/*', hooks, async (request, reply) => {
    const { room, id } = parse(RoomParams.extend({ id: IdSchema }), request.params);
    const file = (request.params as { '*'?: string })['*'] ?? '';
    const dir = join(ctx.exportsDir, room, id);
    const files = await bundleFiles(dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new EvidenceError('EVIDENCE_NOT_FOUND', `no export ${id} of room ${room}`);
      }
      throw err;
    });
    if (!files.includes(file)) {
      throw new EvidenceError('EVIDENCE_NOT_FOUND', `export ${id} has no file ${JSON.stringify(file)}`);
    }
    await audit(request, room, 'export', { detail: { export: id, download: file } });
    const type = file.endsWith('.webm') ? 'video/webm' : file.endsWith('.mkv') ? 'video/x-matroska' : file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    return sendFile(reply.header('content-disposition', `attachment; filename="${file.split('/').pop() ?? 'file'}"`), join(dir, file), type);
  });

  // Holds and releases audit themselves (the hold changes only with its audit entry).
  app.post('/v1/evidence/rooms/:room/hold', hooks, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const { actor, reason } = opsAccess(request);
    const result = await holdRoom(ctx.root, room, { actor, reason }, ctx.signingKey);
    ctx.logger.info({ room, action: 'hold', reqId: request.id }, 'evidence held');
    return reply.header('cache-control', 'no-store').send({ room, ...result.state, alreadyHeld: result.alreadyHeld });
  });

  app.post('/v1/evidence/rooms/:room/release', hooks, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const { actor, reason } = opsAccess(request);
    const result = await releaseRoom(ctx.root, room, { actor, reason }, ctx.signingKey);
    ctx.logger.info({ room, action: 'release', reqId: request.id }, 'evidence released');
    return reply.header('cache-control', 'no-store').send({ room, ...result.state });
  });

  // Each deletion is audited in its room by the sweep, with this token's sub as the actor.
  app.post('/v1/evidence/sweep', hooks, async (request, reply) => {
    const { dryRun } = parse(z.object({ dryRun: z.boolean().optional() }).passthrough(), request.body ?? {});
    const { actor } = opsAccess(request);
    const result = await sweep(ctx.root, {
      retentionDays: ctx.retentionDays, actor, dryRun: dryRun === true, logger: ctx.logger, ...(ctx.signingKey ? { signingKey: ctx.signingKey } : {}),
      derived: { exports: { dir: ctx.exportsDir, retentionDays: ctx.exportRetentionDays }, cacheDir: ctx.cacheDir },
    });
    return reply.header('cache-control', 'no-store').send(result);
  });

  app.get('/v1/evidence/rooms/:room/audit', hooks, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const entries = await readAudit(ctx.root, room);
    const check = await verifyAudit(ctx.root, room, ctx.publicKey);
    await audit(request, room, 'audit');
    return reply.header('cache-control', 'no-store').send({
      room,
      intact: check.ok,
      ...(check.ok ? {} : { problem: check }),
      entries: entries.map((e) => ({ seq: e.seq, at: e.at, action: e.type, ...e.data })),
    });
  });
}

/** The sessions of a room, newest last, with what their signed manifests say. 404 when there are none. */
async function describeSessions(root: string, room: string): Promise<Record<string, unknown>[]> {
  const refs = await listSessions(root, room);
  if (refs.length === 0) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no evidence for room ${room}`);
  }
  const out: Record<string, unknown>[] = [];
  for (const ref of refs) {
    const manifest = await readManifest(ref.dir);
    out.push(
      manifest
        ? {
            sessionId: ref.sessionId,
            state: manifest.recovered ? 'recovered' : 'sealed',
            startedAt: manifest.startedAt,
            endedAt: manifest.endedAt,
            participants: manifest.participants,
            tracks: manifest.tracks,
            segments: manifest.segments.length,
          }
        : { sessionId: ref.sessionId, state: 'open' },
    );
  }
  return out;
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, FILES.manifest), 'utf8')) as Manifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
}

/**
 * What the replay page needs: the session's verification, its events with
 * their offsets from the session start, and each participant's tracks.
 */
async function sealedSession(root: string, room: string, session: string): Promise<{ ref: SessionRef; manifest: Manifest; entries: ChainEntry[] }> {
  const ref = (await listSessions(root, room)).find((s) => s.sessionId === session);
  if (!ref) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no evidence for room ${room} session ${session}`);
  }
  const manifest = await readManifest(ref.dir);
  if (!manifest) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `session ${session} of room ${room} is still open`);
  }
  const { entries } = parseLog(await readFile(join(ref.dir, FILES.events), 'utf8'));
  return { ref, manifest, entries };
}

async function sessionTimeline(ctx: EvidenceRoutesContext, room: string, session: string): Promise<Record<string, unknown>> {
  const { manifest, entries } = await sealedSession(ctx.root, room, session);
  const result = await verify(ctx.root, room, ctx.publicKey, session);
  const t0 = Date.parse(manifest.startedAt ?? entries[0]?.at ?? new Date(0).toISOString());
  return {
    room,
    sessionId: session,
    startedAt: manifest.startedAt,
    endedAt: manifest.endedAt,
    durationMs: manifest.endedAt !== undefined ? Date.parse(manifest.endedAt) - t0 : undefined,
    verification: result.ok ? { intact: true, counts: result.counts } : { intact: false, problem: result.problem },
    participants: manifest.participants,
    tracks: manifest.tracks,
    media: replayTracks(manifest, entries),
    events: entries
      .filter((e) => e.type !== EVENT.segmentSealed)
      .map((e) => ({ seq: e.seq, at: e.at, offsetMs: Date.parse(e.at) - t0, type: e.type, data: e.data })),
  };
}

/** Streams a file (a recording may be large: never read whole into memory). */
async function sendFile(reply: FastifyReply, path: string, type: string): Promise<FastifyReply> {
  const { size } = await stat(path);
  return reply.type(type).header('cache-control', 'no-store').header('content-length', size).send(createReadStream(path));
}

const ExportBody = z.object({ from: z.string().min(1), to: z.string().min(1) }).passthrough();

/** Every file of a bundle, relative to it, sorted (what may be downloaded). */
async function bundleFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

function reasonOf(request: FastifyRequest): unknown {
  const header = request.headers['x-livemask-reason'];
  if (typeof header === 'string') {
    try {
      return decodeURIComponent(header);
    } catch {
      return header;
    }
  }
  const query = (request.query as { reason?: unknown } | undefined)?.reason;
  if (query !== undefined) {
    return query;
  }
  const body = request.body;
  return body !== null && typeof body === 'object' ? (body as { reason?: unknown }).reason : undefined;
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new LivemaskError('BAD_REQUEST', `${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
