import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { LivemaskError } from '../core/index.js';
import type { Role, TokenClaims, TokenVerifier } from './tokens.js';

/**
 * The `onRequest` hook of the room endpoints: it checks the bearer token
 * against the `:room` of the URL and the roles the endpoint takes, before the
 * body is read, so that an unauthenticated client cannot make us parse one.
 */

/** A room or participant id: URL-safe, 1 to 128 characters. */
export const IdSchema = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, { error: 'must be 1-128 of A-Z a-z 0-9 . _ ~ -' });

const RoomParams = z.object({ room: IdSchema });
const ParticipantParams = RoomParams.extend({ participant: IdSchema });

const verified = new WeakMap<FastifyRequest, TokenClaims>();

export function requireRoomToken(verifier: TokenVerifier, roles: readonly Role[]): onRequestAsyncHookHandler {
  const allowed = new Set(roles);
  return async (request) => {
    const { room } = roomParams(request);
    verified.set(request, await verifier.authorize(request.headers.authorization, { room, roles: allowed }));
  };
}

/** The claims the hook verified for this request. */
export function claimsOf(request: FastifyRequest): TokenClaims {
  const claims = verified.get(request);
  if (!claims) {
    throw new Error('claimsOf: the route has no requireRoomToken hook');
  }
  return claims;
}

export function roomParams(request: FastifyRequest): { room: string } {
  return parseParams(RoomParams, request.params);
}

export function participantParams(request: FastifyRequest): { room: string; participant: string } {
  return parseParams(ParticipantParams, request.params);
}

function parseParams<T>(schema: z.ZodType<T>, params: unknown): T {
  const result = schema.safeParse(params);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new LivemaskError('BAD_REQUEST', `${issue?.path.join('.') || 'path'} id ${issue?.message ?? 'is invalid'}`);
  }
  return result.data;
}
