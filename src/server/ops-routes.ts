import type { FastifyInstance } from 'fastify';
import { sendError } from './http-errors.js';
import type { ServerMetrics } from './metrics.js';

/** Liveness, readiness and Prometheus metrics: unauthenticated, and free of personal data. */

export interface OpsRoutesContext {
  metrics: ServerMetrics;
  /** Listening and not stopping. */
  ready: () => boolean;
}

export function registerOpsRoutes(app: FastifyInstance, ctx: OpsRoutesContext): void {
  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (!ctx.ready()) {
      return sendError(reply, 503, 'UNAVAILABLE', 'not ready');
    }
    return reply.header('cache-control', 'no-store').send({ status: 'ready' });
  });

  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', ctx.metrics.contentType).header('cache-control', 'no-store').send(await ctx.metrics.render()),
  );
}
