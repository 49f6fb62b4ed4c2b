import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { parseServerConfig } from '../../src/server/index.js';

/** `--public-url` / LIVEMASK_PUBLIC_URL: the WHIP/WHEP base URL a fleet worker advertises. */

const BASE = { LIVEMASK_DEMO: '1', LIVEMASK_REDIS_URL: 'redis://127.0.0.1:6379' };

function problem(flags: { publicUrl?: string; redis?: string }, env: NodeJS.ProcessEnv): string {
  try {
    parseServerConfig(flags, { ...BASE, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(LivemaskError);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('the advertised public URL', () => {
  it('is unset by default, read from LIVEMASK_PUBLIC_URL, and the flag wins; a trailing slash is dropped', () => {
    expect(parseServerConfig({}, BASE).publicUrl).toBeUndefined();
    expect(parseServerConfig({}, { ...BASE, LIVEMASK_PUBLIC_URL: 'https://w1.example.net/' }).publicUrl).toBe('https://w1.example.net');
    expect(parseServerConfig({ publicUrl: 'http://10.0.0.7:8080/lm/' }, { ...BASE, LIVEMASK_PUBLIC_URL: 'https://w1.example.net' }).publicUrl).toBe(
      'http://10.0.0.7:8080/lm',
    );
  });

  it('refuses what is not an http(s) URL, or holds credentials, naming the flag or variable and never echoing it', () => {
    expect(problem({}, { LIVEMASK_PUBLIC_URL: 'w1:8080' })).toBe('LIVEMASK_PUBLIC_URL: must be an http:// or https:// URL');
    expect(problem({ publicUrl: 'ftp://w1' }, {})).toBe('--public-url: must be an http:// or https:// URL');
    const message = problem({ publicUrl: 'https://user:hunter2@w1' }, {});
    expect(message).toBe('--public-url: must not hold credentials, a query or a fragment');
    expect(message).not.toContain('hunter2');
  });
});

describe('--redis', () => {
  it('joins the fleet like LIVEMASK_REDIS_URL, and wins over it', () => {
    expect(parseServerConfig({ redis: 'redis://10.0.0.9:6380/2' }, { LIVEMASK_DEMO: '1' })).toMatchObject({ redisUrl: 'redis://10.0.0.9:6380/2', capacity: 4 });
    expect(parseServerConfig({ redis: 'redis://10.0.0.9:6380/2' }, BASE).redisUrl).toBe('redis://10.0.0.9:6380/2');
  });

  it('names the flag and never echoes a password', () => {
    const message = problem({ redis: 'http://u:hunter2@cache' }, {});
    expect(message).toMatch(/^--redis: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(message).not.toContain('hunter2');
  });
});
