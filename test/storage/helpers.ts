import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore, parseS3Url, S3Store, type EvidenceStore, type S3Location } from '../../src/storage/index.js';

/** The S3 suites run against LIVEMASK_S3_URL (.ci/run starts s3rver and sets it); skipped, saying so, without it. */
export const S3_URL = process.env.LIVEMASK_S3_URL;
export const noS3Reason = 'skipped: LIVEMASK_S3_URL is not set (.ci/run starts s3rver: node --openssl-legacy-provider scripts/s3-server.mjs)';

/** LIVEMASK_S3_URL with a key prefix of its own, so that concurrent runs never see each other's objects. */
export function uniqueS3Location(): S3Location {
  const parsed = parseS3Url(S3_URL ?? '');
  if ('problem' in parsed) {
    throw new Error(`LIVEMASK_S3_URL ${parsed.problem}`);
  }
  return { ...parsed.location, prefix: `${parsed.location.prefix}test-${randomUUID().slice(0, 12)}/` };
}

/** The URL form of a location (for a child process or the CLI). */
export function s3UrlOf(location: S3Location): string {
  const url = new URL(location.endpoint);
  if (location.credentials) {
    url.username = encodeURIComponent(location.credentials.accessKeyId);
    url.password = encodeURIComponent(location.credentials.secretAccessKey);
  }
  url.pathname = `/${location.bucket}/${location.prefix}`;
  url.searchParams.set('region', location.region);
  return url.toString();
}

/** One back end under test: a fresh, empty store, and how to reach the same objects from a child process. */
export interface Backend {
  name: string;
  /** Why this back end is skipped, when it is. */
  skip: string | undefined;
  open(options?: { pageSize?: number }): Promise<OpenedStore>;
}

export interface OpenedStore {
  store: EvidenceStore;
  /** Arguments for test/storage/fixtures/put-child.ts: `fs <dir>` or `s3 <url>`. */
  childArgs: string[];
  /** The temp files a killed FsStore write leaves (dot names) appear here; undefined for S3. */
  dir: string | undefined;
  dispose(): Promise<void>;
}

export const fsBackend: Backend = {
  name: 'FsStore',
  skip: undefined,
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'livemask-store-'));
    const store = new FsStore({ dir });
    return {
      store,
      childArgs: ['fs', dir],
      dir,
      dispose: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

export const s3Backend: Backend = {
  name: 'S3Store',
  skip: S3_URL === undefined ? noS3Reason : undefined,
  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for the FS back end
  async open(options = {}) {
    const location = uniqueS3Location();
    const store = new S3Store({ location, ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}) });
    return {
      store,
      childArgs: ['s3', s3UrlOf(location)],
      dir: undefined,
      dispose: async () => {
        await removeAll(store);
        await store.close();
      },
    };
  },
};

/** Deletes every object of the store (its test prefix). */
export async function removeAll(store: EvidenceStore): Promise<void> {
  for (const e of await store.list('')) {
    await store.delete(e.key);
  }
}
