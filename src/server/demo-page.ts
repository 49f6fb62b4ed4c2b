import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { LivemaskError } from '../core/index.js';

/**
 * The two pages the server serves, plain HTML and JavaScript read once when
 * the routes are registered: in demo mode only, `GET /` serves the demo page
 * (`src/server/demo/index.html`; outside demo mode the route does not exist);
 * always, `GET /ops/rooms/{room}` serves the evidence replay page
 * (`src/server/ops/replay.html`), which holds no data itself: it asks the
 * `/v1/evidence` routes with the ops token and reason the user gives it.
 */

/** Where a page is: next to this module when run from src/, or in src/ when run from dist/src/server/. */
function pagePath(relative: string): string {
  const candidates = [`./${relative}`, `../../../src/server/${relative}`].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new LivemaskError('CONFIG_INVALID', `a page of the server is missing (looked for ${candidates.join(', ')})`);
  }
  return found;
}

function demoPagePath(): string {
  return pagePath('demo/index.html');
}

function sendPage(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(html);
}

export function registerDemoPage(app: FastifyInstance): void {
  const html = readFileSync(demoPagePath(), 'utf8');
  app.get('/', async (_request, reply) => sendPage(reply, html));
}

export function registerReplayPage(app: FastifyInstance): void {
  const html = readFileSync(pagePath('ops/replay.html'), 'utf8');
  app.get('/ops/rooms/:room', async (_request, reply) => sendPage(reply, html));
}
