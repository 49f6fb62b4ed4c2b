import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { LivemaskError } from '../core/index.js';
import { IdSchema } from './room-auth.js';
import { mintToken, ROLES, type SigningKey } from './tokens.js';

/**
 * Demo mode only: `GET /v1/demo/token?room=&role=&sub=[&masked=true]` mints a
 * token signed with this process's random demo secret. Outside demo mode the
 * route does not exist (404).
 */

export const DEMO_TOKEN_TTL_SEC = 3600;

const DemoTokenQuery = z.strictObject({
  room: IdSchema,
  sub: IdSchema,
  role: z.enum(ROLES),
  masked: z.enum(['true', 'false']).optional(),
});

export function registerDemoRoutes(app: FastifyInstance, key: SigningKey): void {
  app.get('/v1/demo/token', async (request, reply) => {
    const query = DemoTokenQuery.safeParse(request.query);
    if (!query.success) {
      const issue = query.error.issues[0];
      throw new LivemaskError('BAD_REQUEST', `query ${issue?.path.join('.') || '?'}: ${issue?.message ?? 'invalid'}`);
    }
    const { room, sub, role, masked } = query.data;
    const token = await mintToken(
      key,
      { room, sub, role, ...(masked !== undefined ? { masked: masked === 'true' } : {}) },
      { expiresInSec: DEMO_TOKEN_TTL_SEC },
    );
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + DEMO_TOKEN_TTL_SEC) * 1000).toISOString();
    return reply.header('cache-control', 'no-store').send({ token, expiresAt });
  });
}
