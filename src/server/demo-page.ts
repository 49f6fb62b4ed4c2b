import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { LivemaskError } from '../core/index.js';

/**
 * Demo mode only: `GET /` serves the demo page (`src/server/demo/index.html`,
 * plain HTML and JavaScript). It is read once, when the routes are
 * registered. Outside demo mode the route does not exist (404).
 */

/** Where the page is: next to this module when run from src/, or in src/ when run from dist/src/server/. */
const PAGE_CANDIDATES = ['./demo/index.html', '../../../src/server/demo/index.html'].map((p) =>
  fileURLToPath(new URL(p, import.meta.url)),
);

export function demoPagePath(): string {
  const found = PAGE_CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) {
    throw new LivemaskError('CONFIG_INVALID', `demo mode: the demo page is missing (looked for ${PAGE_CANDIDATES.join(', ')})`);
  }
  return found;
}

export function registerDemoPage(app: FastifyInstance): void {
  const html = readFileSync(demoPagePath(), 'utf8');
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(html),
  );
}
