import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';

// The demo page's route; the page itself runs in Chromium in test/browser/.

const running: TestServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.server.stop()));
});

async function serve(demo: boolean): Promise<string> {
  const s = await startServer({}, {}, { demo });
  running.push(s);
  return s.url;
}

describe('demo page', () => {
  it('is served at / in demo mode, as HTML that is not cached', async () => {
    const res = await fetch(`${await serve(true)}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('<title>livemask demo</title>');
    for (const pane of ['id="applicant"', 'id="streamer"', 'id="audience"', '/v1/demo/token', '/whip', '/whep/']) {
      expect(html).toContain(pane);
    }
  });

  it('does not exist outside demo mode', async () => {
    const res = await fetch(`${await serve(false)}/`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe('NOT_FOUND');
  });
});
