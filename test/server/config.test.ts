import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { describeServerConfig, parseServerConfig, prepareDataDir, type ServeFlags } from '../../src/server/index.js';

const SECRET = 'a'.repeat(32);
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** The CONFIG_INVALID error that parsing throws. */
function configError(env: NodeJS.ProcessEnv, flags: ServeFlags = {}): LivemaskError {
  try {
    parseServerConfig(flags, env);
  } catch (err) {
    expect(err).toBeInstanceOf(LivemaskError);
    expect((err as LivemaskError).code).toBe('CONFIG_INVALID');
    return err as LivemaskError;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

describe('server configuration', () => {
  it('has documented defaults', () => {
    const c = parseServerConfig({}, { LIVEMASK_TOKEN_SECRET: SECRET });
    expect(c).toEqual({
      port: 8080,
      host: '127.0.0.1',
      dataDir: resolve('./data'),
      demo: false,
      maxBodyBytes: 65_536,
      drainMs: 0,
      maxSessions: 200,
      maxMasked: 4,
      evidence: true,
      segmentSeconds: 10,
      retentionDays: 90,
      sweepEveryHours: 24,
      exportRetentionDays: 30,
      lookahead: 2,
      maskStyle: 'pixelate',
      detector: 'back',
      ep: 'cpu',
      detectorThreads: 1,
      detectBatch: 1,
      detectBatchWaitMs: 2,
      store: { kind: 'fs' },
      tokenSecret: SECRET,
    });
  });

  it('reads every LIVEMASK_* variable, and flags win over variables', () => {
    const env = {
      LIVEMASK_PORT: '9000',
      LIVEMASK_HOST: '0.0.0.0',
      LIVEMASK_DATA: '/var/lib/livemask',
      LIVEMASK_TOKEN_SECRET: SECRET,
      LIVEMASK_TOKEN_PUBLIC_KEY: PUBLIC_PEM.replace(/\n/g, '\\n'),
      LIVEMASK_DEMO: 'yes',
      LIVEMASK_MAX_BODY_BYTES: '2048',
      LIVEMASK_DRAIN_MS: '500',
      LIVEMASK_REDIS_URL: 'redis://:pw@redis:6379/0',
    };
    const c = parseServerConfig({}, env);
    expect(c).toMatchObject({ port: 9000, host: '0.0.0.0', dataDir: '/var/lib/livemask', demo: true, maxBodyBytes: 2048, drainMs: 500 });
    expect(c.tokenPublicKey).toBe(PUBLIC_PEM.trim());
    expect(c.redisUrl).toBe('redis://:pw@redis:6379/0');
    expect(parseServerConfig({}, { ...env, LIVEMASK_EP: 'cuda' }).ep).toBe('cuda');
    expect(parseServerConfig({}, { ...env, LIVEMASK_DETECTOR_THREADS: '4' }).detectorThreads).toBe(4);
    expect(parseServerConfig({}, { ...env, LIVEMASK_DETECT_BATCH: '16', LIVEMASK_DETECT_BATCH_WAIT_MS: '0' })).toMatchObject({ detectBatch: 16, detectBatchWaitMs: 0 });
    expect(() => parseServerConfig({}, { ...env, LIVEMASK_DETECT_BATCH: '0' })).toThrow(/LIVEMASK_DETECT_BATCH/);
    const flagged = parseServerConfig({ port: '0', host: 'localhost', data: 'd' }, env);
    expect(flagged).toMatchObject({ port: 0, host: 'localhost', dataDir: resolve('d') });
  });

  it('needs a token key unless in demo mode, naming both variables', () => {
    const err = configError({});
    expect(err.message).toContain('LIVEMASK_TOKEN_SECRET');
    expect(err.message).toContain('LIVEMASK_TOKEN_PUBLIC_KEY');
    expect(parseServerConfig({ demo: true }, {}).demo).toBe(true);
    expect(parseServerConfig({}, { LIVEMASK_DEMO: '1' }).demo).toBe(true);
    expect(parseServerConfig({}, { LIVEMASK_TOKEN_PUBLIC_KEY: PUBLIC_PEM }).tokenSecret).toBeUndefined();
  });

  it.each([
    ['LIVEMASK_PORT', 'eighty', /whole number/],
    ['LIVEMASK_PORT', '70000', /at most 65535/],
    ['LIVEMASK_HOST', 'not a host!', /IP address or a host name/],
    ['LIVEMASK_DATA', '  ', /must not be empty/],
    ['LIVEMASK_DEMO', 'maybe', /one of 1, 0/],
    ['LIVEMASK_MAX_BODY_BYTES', '10', /at least 1024/],
    ['LIVEMASK_MAX_SESSIONS', '0', /at least 1/],
    ['LIVEMASK_MAX_MASKED', 'four', /whole number/],
    ['LIVEMASK_EVIDENCE', 'maybe', /one of 1, 0/],
    ['LIVEMASK_LOOKAHEAD', '99', /at most 30/],
    ['LIVEMASK_SEGMENT_SECONDS', '0', /at least 1/],
    ['LIVEMASK_MASK_STYLE', 'emoji', /pixelate, blur or solid/],
    ['LIVEMASK_DETECTOR', 'yunet', /front, back or both/],
    ['LIVEMASK_EP', 'gpu', /cpu or cuda/],
    ['LIVEMASK_DETECTOR_THREADS', '0', /at least 1/],
    ['LIVEMASK_MAX_BODY_BYTES', '64k', /whole number/],
    ['LIVEMASK_DRAIN_MS', '-1', /whole number/],
    ['LIVEMASK_REDIS_URL', 'http://user:hunter2@cache', /redis:\/\//],
    ['LIVEMASK_CAPACITY', '0', /at least 1/],
    ['LIVEMASK_SWEEP_EVERY_HOURS', '0', /at least 1/],
    ['LIVEMASK_SWEEP_EVERY_HOURS', '1.5', /whole number/],
    ['LIVEMASK_TOKEN_PUBLIC_KEY', 'not a key', /Ed25519 public key in PEM/],
  ])('names %s when it is %j', (name, value, reason) => {
    const err = configError({ LIVEMASK_TOKEN_SECRET: SECRET, [name]: value });
    expect(err.message.startsWith(`${name}: `), err.message).toBe(true);
    expect(err.message).toMatch(reason);
  });

  it('names the flag when the bad value came from a flag', () => {
    expect(configError({ LIVEMASK_TOKEN_SECRET: SECRET }, { port: 'x' }).message).toMatch(/^--port: /);
    expect(configError({ LIVEMASK_TOKEN_SECRET: SECRET }, { host: '-bad-' }).message).toMatch(/^--host: /);
  });

  it('rejects a short secret without echoing it', () => {
    const err = configError({ LIVEMASK_TOKEN_SECRET: 'hunter2-short' });
    expect(err.message).toBe('LIVEMASK_TOKEN_SECRET: must be at least 32 bytes (got 13)');
  });

  it('rejects a private key, an RSA key, and keeps a Redis password out of errors', () => {
    const priv = configError({ LIVEMASK_TOKEN_PUBLIC_KEY: PRIVATE_PEM });
    expect(priv.message).toMatch(/^LIVEMASK_TOKEN_PUBLIC_KEY: holds a private key/);
    expect(priv.message).not.toContain(PRIVATE_PEM.split('\n')[1]);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(configError({ LIVEMASK_TOKEN_PUBLIC_KEY: rsa }).message).toMatch(/must be an Ed25519 public key \(got rsa\)/);
    expect(configError({ LIVEMASK_TOKEN_SECRET: SECRET, LIVEMASK_REDIS_URL: 'http://u:hunter2@x' }).message).not.toContain('hunter2');
  });

  it('describes itself for the log without secrets or the Redis URL', () => {
    const c = parseServerConfig({}, { LIVEMASK_TOKEN_SECRET: SECRET, LIVEMASK_REDIS_URL: 'redis://:hunter2@r:6379' });
    const text = JSON.stringify(describeServerConfig(c));
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('hunter2');
    expect(text).toContain('"redis":"configured"');
    expect(text).toContain('"capacity":4');
  });
});

describe('data directory', () => {
  const work = mkdtempSync(join(tmpdir(), 'livemask-config-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('is created when missing', async () => {
    await prepareDataDir(join(work, 'a', 'b'), false);
    await expect(prepareDataDir(join(work, 'a', 'b'), false)).resolves.toBeUndefined();
  });

  it('fails with CONFIG_INVALID naming the variable or the flag when it cannot be created', async () => {
    const file = join(work, 'file');
    writeFileSync(file, 'x');
    await expect(prepareDataDir(join(file, 'sub'), false)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^LIVEMASK_DATA: cannot create or write .*\(ENOTDIR\)$/) as unknown,
    });
    await expect(prepareDataDir(join(file, 'sub'), true)).rejects.toMatchObject({ message: expect.stringMatching(/^--data: /) as unknown });
    await expect(prepareDataDir(file, false)).rejects.toMatchObject({
      message: expect.stringMatching(/^LIVEMASK_DATA: cannot create or write .* \(ENOTDIR\)$/) as unknown,
    });
  });

  it.skipIf(!existsSync('/proc/self'))('fails instead of hanging where mkdir -p loops (under /proc)', async () => {
    await expect(prepareDataDir('/proc/livemask-no/data', false)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
