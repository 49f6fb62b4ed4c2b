import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { describeServerConfig, parseServerConfig, parseStoreConfig } from '../../src/server/index.js';
import { describeS3Location, parseS3Url, S3Store } from '../../src/storage/index.js';
import { memoryLogger } from '../server/helpers.js';
import { noS3Reason, removeAll, S3_URL, uniqueS3Location } from './helpers.js';

const SECRET = 'Sup3r/Secret+Key=';
const URL_WITH_SECRET = `http://AKIDEXAMPLE:${encodeURIComponent(SECRET)}@127.0.0.1:4569/evidence-bucket/live/mask?region=eu-west-1`;

function configError(env: Record<string, string>): LivemaskError {
  try {
    parseStoreConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(LivemaskError);
    expect((err as LivemaskError).code).toBe('CONFIG_INVALID');
    return err as LivemaskError;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('LIVEMASK_S3_URL', () => {
  it('parses endpoint, bucket, key prefix, region and percent-encoded credentials; the description has no credentials', () => {
    const parsed = parseS3Url(URL_WITH_SECRET);
    expect(parsed).toEqual({
      location: {
        endpoint: 'http://127.0.0.1:4569',
        bucket: 'evidence-bucket',
        prefix: 'live/mask/',
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET },
      },
    });
    if ('location' in parsed) {
      expect(describeS3Location(parsed.location)).toBe('s3://127.0.0.1:4569/evidence-bucket/live/mask/');
    }
    expect(parseS3Url('https://s3.example.com/b-1')).toEqual({
      location: { endpoint: 'https://s3.example.com', bucket: 'b-1', prefix: '', region: 'us-east-1' },
    });
  });

  it('names the problem of a bad URL without echoing it', () => {
    const bad = [
      `ftp://k:${SECRET}@host/bucket`,
      `http://k:${SECRET}@host/`,
      `http://k:${SECRET}@host/Bad_Bucket`,
      `http://k:${SECRET}@host/bucket/../x`,
      `http://k:${SECRET}@host/bucket/.hidden`,
      `http://k:${SECRET}@host/bucket?acl=1`,
      'http://onlykey@host/bucket',
      `not a url ${SECRET}`,
    ];
    for (const text of bad) {
      const parsed = parseS3Url(text);
      expect('problem' in parsed, text).toBe(true);
      expect(JSON.stringify(parsed)).not.toContain('Secret');
    }
  });
});

describe('store configuration', () => {
  it('defaults to the filesystem store (the evidence root itself)', () => {
    expect(parseStoreConfig({})).toEqual({ kind: 'fs' });
    expect(parseStoreConfig({ LIVEMASK_STORE: 'fs', LIVEMASK_S3_URL: URL_WITH_SECRET })).toEqual({ kind: 'fs' });
  });

  it('reads s3 with its lock mode, and locks for the sweep\'s retention: defaults GOVERNANCE and 90 days', () => {
    expect(parseStoreConfig({ LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: URL_WITH_SECRET })).toMatchObject({ kind: 's3', lockMode: 'GOVERNANCE', retainDays: 90 });
    expect(parseStoreConfig({ LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: URL_WITH_SECRET, LIVEMASK_S3_LOCK_MODE: 'compliance', LIVEMASK_RETENTION_DAYS: '30' }))
      .toMatchObject({ kind: 's3', lockMode: 'COMPLIANCE', retainDays: 30 });
  });

  it('errors name the variable and never hold the secret', () => {
    expect(configError({ LIVEMASK_STORE: 'gcs' }).message).toBe('LIVEMASK_STORE: must be fs or s3');
    expect(configError({ LIVEMASK_STORE: 's3' }).message).toBe('LIVEMASK_S3_URL: must be set when LIVEMASK_STORE=s3');
    const bad = configError({ LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: `ftp://k:${encodeURIComponent(SECRET)}@h/b-1` });
    expect(bad.message).toMatch(/^LIVEMASK_S3_URL: must start with http:\/\/ or https:\/\//);
    expect(bad.message).not.toContain('Secret');
    expect(configError({ LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: URL_WITH_SECRET, LIVEMASK_S3_LOCK_MODE: 'forever' }).message)
      .toBe('LIVEMASK_S3_LOCK_MODE: must be GOVERNANCE or COMPLIANCE');
    expect(configError({ LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: URL_WITH_SECRET, LIVEMASK_RETENTION_DAYS: 'ten' }).message).toMatch(/^LIVEMASK_RETENTION_DAYS: must be a whole number/);
  });

  it('livemask serve validates it too, and describes it without the credentials', () => {
    const config = parseServerConfig({ demo: true }, { LIVEMASK_STORE: 's3', LIVEMASK_S3_URL: URL_WITH_SECRET });
    expect(config.store.kind).toBe('s3');
    const described = JSON.stringify(describeServerConfig(config));
    expect(described).toContain('s3://127.0.0.1:4569/evidence-bucket/live/mask/');
    expect(described).not.toContain('Secret');
    expect(described).not.toContain('AKIDEXAMPLE');
    expect(() => parseServerConfig({ demo: true }, { LIVEMASK_STORE: 's3' })).toThrow('LIVEMASK_S3_URL: must be set when LIVEMASK_STORE=s3');
  });
});

describe.skipIf(S3_URL === undefined)(`S3Store on a bucket without Object Lock${S3_URL === undefined ? ` — ${noS3Reason}` : ''}`, () => {
  it('stores with retainUntil anyway, says once that it has no retention, and never logs the credentials', async () => {
    const { logger, lines } = memoryLogger('info');
    const location = uniqueS3Location();
    const store = new S3Store({ location, logger });
    try {
      const retainUntil = new Date(Date.now() + 86_400_000);
      await store.put('lock/s-1/events.jsonl', randomBytes(10), { retainUntil });
      await store.put('lock/s-1/manifest.json', randomBytes(10), { retainUntil });
      const warnings = lines().filter((l) => l.includes('Object Lock'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0] ?? '{}')).toMatchObject({ level: 40, reason: 'NotImplemented', status: 501, store: store.id });
      const secret = location.credentials?.secretAccessKey ?? '';
      for (const line of lines()) {
        expect(secret === '' || !line.includes(`:${secret}@`)).toBe(true);
      }
    } finally {
      await removeAll(store);
      await store.close();
    }
  });
});
