import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { LivemaskError } from '../core/index.js';
import { sendError } from '../server/http-errors.js';
import { refusedByGate, type RoomGate } from '../server/room-gate.js';
import { claimsOf, IdSchema, requireRoomToken } from '../server/room-auth.js';
import { ROLES, type Role, type TokenVerifier } from '../server/tokens.js';
import type { LiveSessions } from './sessions.js';
import { checkPublishOffer, checkSubscribeOffer, withoutH264Mode0 } from './sdp-checks.js';

/**
 * WHIP (RFC 9725) and WHEP endpoints. Any room role except `control` and `ops` may
 * publish or subscribe; the rendition is chosen by the server only.
 */

export interface LiveRoutesContext {
  sessions: LiveSessions;
  verifier: TokenVerifier;
  /** True once stop has begun: no new sessions then. */
  stopping: () => boolean;
  /** In a fleet: refuses new sessions for rooms this worker does not hold. */
  gate?: RoomGate;
}

const SDP = 'application/sdp';
const SDPFRAG = 'application/trickle-ice-sdpfrag';
const MEDIA_ROLES: readonly Role[] = ROLES.filter((r) => r !== 'control' && r !== 'ops');

const SessionParams = z.object({ room: IdSchema, session: z.uuid() });
const RoomParams = z.object({ room: IdSchema });
const WhepParams = RoomParams.extend({ participant: IdSchema });

export function registerLiveRoutes(app: FastifyInstance, ctx: LiveRoutesContext): void {
  app.addContentTypeParser([SDP, SDPFRAG], { parseAs: 'string' }, (_request, body, done) => done(null, body));
  const media = requireRoomToken(ctx.verifier, MEDIA_ROLES);

  app.post('/v1/rooms/:room/whip', { onRequest: media }, async (request, reply) => {
    const { room } = parse(RoomParams, request.params);
    const offer = sdpBody(request, SDP);
    if (offer === undefined) {
      return unsupportedType(reply, SDP);
    }
    if (ctx.stopping()) {
      return sendError(reply.header('retry-after', '1'), 503, 'UNAVAILABLE', 'server is stopping');
    }
    const usable = withoutH264Mode0(offer, checkPublishOffer(offer));
    const claims = claimsOf(request);
    if (await refusedByGate(reply, ctx.gate, room)) {
      return reply;
    }
    const full = ctx.sessions.refusal('whip', claims.masked === true);
    if (full !== undefined) {
      return sendError(reply.header('retry-after', '5'), 503, 'UNAVAILABLE', full);
    }
    const { id, answer } = await ctx.sessions.publish(room, claims.sub, claims.role, claims.masked === true, usable);
    return reply.code(201).header('location', `/v1/rooms/${room}/whip/${id}`).type(SDP).send(answer);
  });

  app.post('/v1/rooms/:room/whep/:participant', { onRequest: media }, async (request, reply) => {
    const { room, participant } = parse(WhepParams, request.params);
    const offer = sdpBody(request, SDP);
    if (offer === undefined) {
      return unsupportedType(reply, SDP);
    }
    if (ctx.stopping()) {
      return sendError(reply.header('retry-after', '1'), 503, 'UNAVAILABLE', 'server is stopping');
    }
    const usable = withoutH264Mode0(offer, checkSubscribeOffer(offer));
    const claims = claimsOf(request);
    if (await refusedByGate(reply, ctx.gate, room)) {
      return reply;
    }
    const full = ctx.sessions.refusal('whep');
    if (full !== undefined) {
      return sendError(reply.header('retry-after', '5'), 503, 'UNAVAILABLE', full);
    }
    const { id, answer } = await ctx.sessions.subscribe(room, claims.sub, participant, claims.role, usable);
    return reply.code(201).header('location', `/v1/rooms/${room}/whep/${participant}/${id}`).type(SDP).send(answer);
  });

  const patch = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { room, session } = parse(SessionParams, request.params);
    const frag = sdpBody(request, SDPFRAG);
    if (frag === undefined) {
      return unsupportedType(reply, SDPFRAG);
    }
    if (!owned(ctx, request, room, session)) {
      return sendError(reply, 404, 'NOT_FOUND', 'no such session');
    }
    await ctx.sessions.trickle(session, candidatesOf(frag));
    return reply.code(204).send();
  };
  const remove = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const { room, session } = parse(SessionParams, request.params);
    if (!owned(ctx, request, room, session)) {
      return sendError(reply, 404, 'NOT_FOUND', 'no such session');
    }
    ctx.sessions.end(session);
    return reply.code(200).send();
  };
  app.patch('/v1/rooms/:room/whip/:session', { onRequest: media }, patch);
  app.patch('/v1/rooms/:room/whep/:participant/:session', { onRequest: media }, patch);
  app.delete('/v1/rooms/:room/whip/:session', { onRequest: media }, remove);
  app.delete('/v1/rooms/:room/whep/:participant/:session', { onRequest: media }, remove);
}

/** True when `session` is in `room` and was opened by the token's subject (others get 404, not a hint that it exists). */
function owned(ctx: LiveRoutesContext, request: FastifyRequest, room: string, session: string): boolean {
  const info = ctx.sessions.session(session);
  return info !== undefined && info.room === room && info.owner === claimsOf(request).sub;
}

function parse<T>(schema: z.ZodType<T>, params: unknown): T {
  const result = schema.safeParse(params);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new LivemaskError('BAD_REQUEST', `${issue?.path.join('.') || 'path'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** The body when the request's content type is `type`; undefined otherwise. */
function sdpBody(request: FastifyRequest, type: string): string | undefined {
  const header = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (header !== type) {
    return undefined;
  }
  return typeof request.body === 'string' ? request.body : '';
}

function unsupportedType(reply: FastifyReply, type: string): FastifyReply {
  return sendError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', `content type must be ${type}`);
}

/** The candidates of a trickle-ice-sdpfrag body (RFC 8840), with the mid each follows. */
export function candidatesOf(frag: string): { candidate: string; sdpMid: string | undefined }[] {
  const out: { candidate: string; sdpMid: string | undefined }[] = [];
  let mid: string | undefined;
  for (const line of frag.split(/\r?\n/)) {
    if (line.startsWith('a=mid:')) {
      mid = line.slice('a=mid:'.length).trim();
    } else if (line.startsWith('a=candidate:')) {
      out.push({ candidate: line.slice(2).trim(), sdpMid: mid });
    }
  }
  return out;
}
