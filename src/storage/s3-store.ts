import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { AbortedError, LivemaskError, StoreError, type Logger } from '../core/index.js';
import { checkKey, checkPrefix, checkSignal, isKey, sha256Hex, type EvidenceStore, type PutOptions, type StoreCallOptions, type StoreEntry } from './evidence-store.js';
import { describeS3Location, type S3Location } from './s3-url.js';

export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

export interface S3StoreOptions {
  location: S3Location;
  /** Object Lock mode of retained objects, when the bucket has Object Lock. Default GOVERNANCE. */
  lockMode?: ObjectLockMode;
  /** Keys per ListObjectsV2 page (1-1000). Default 1000. */
  pageSize?: number;
  logger?: Logger;
}

/** Our own record of an object's SHA-256 (hex), as user metadata: `x-amz-meta-sha256`. */
const SHA256_META = 'sha256';

/**
 * The S3-compatible back end of {@link EvidenceStore}, through
 * `@aws-sdk/client-s3`, path-style.
 *
 * - PutObject sends the object's SHA-256 (`ChecksumSHA256`), which S3 checks
 *   on arrival, and keeps it as metadata for the no-replace check. The SDK's
 *   own default checksum (a CRC32 trailer in aws-chunked encoding) is turned
 *   off: not every S3-compatible server understands it.
 * - With `retainUntil`, the object gets `ObjectLockMode` and
 *   `ObjectLockRetainUntilDate` when the bucket has Object Lock enabled
 *   (asked once with GetObjectLockConfiguration). When it has not, or the
 *   server does not implement it, objects are stored without retention and
 *   one warning says so.
 * - Replacing is refused by a HeadObject before the put: the store has one
 *   writer per key (the worker that recorded the session).
 * - ListObjectsV2 is followed page by page.
 */
export class S3Store implements EvidenceStore {
  readonly kind = 's3' as const;
  readonly id: string;
  readonly #location: S3Location;
  readonly #client: S3Client;
  readonly #lockMode: ObjectLockMode;
  readonly #pageSize: number;
  readonly #logger: Logger | undefined;
  #lock: Promise<boolean> | undefined;
  #closed = false;

  constructor(options: S3StoreOptions) {
    const { location } = options;
    this.#location = location;
    this.id = describeS3Location(location);
    this.#lockMode = options.lockMode ?? 'GOVERNANCE';
    this.#pageSize = Math.max(1, Math.min(1000, options.pageSize ?? 1000));
    this.#logger = options.logger?.child({ module: 'storage', store: this.id });
    this.#client = new S3Client({
      endpoint: location.endpoint,
      region: location.region,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      // A server that stops answering fails the call instead of hanging it (uploads that move are not cut).
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000 },
      ...(location.credentials ? { credentials: location.credentials } : {}),
    });
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<StoreEntry> {
    this.#ready(key, options.signal);
    const hex = sha256Hex(bytes);
    const existing = await this.#head(key, options.signal);
    if (existing) {
      const same = existing.sha256 !== undefined ? existing.sha256 === hex : sha256Hex(await this.get(key, options)) === hex;
      if (!same) {
        throw new StoreError('STORE_CONFLICT', `store key ${key} holds other bytes; sealed evidence is never replaced`);
      }
      return { key, bytes: bytes.length };
    }
    const retain = options.retainUntil !== undefined && (await this.#lockEnabled(options.signal));
    const command = new PutObjectCommand({
      Bucket: this.#location.bucket,
      Key: this.#location.prefix + key,
      Body: bytes,
      ContentLength: bytes.length,
      ContentType: 'application/octet-stream',
      ChecksumSHA256: createHash('sha256').update(bytes).digest('base64'),
      Metadata: { [SHA256_META]: hex },
      ...(retain && options.retainUntil ? { ObjectLockMode: this.#lockMode, ObjectLockRetainUntilDate: options.retainUntil } : {}),
    });
    await this.#send('put', key, () => this.#client.send(command, signalOption(options.signal)));
    return { key, bytes: bytes.length };
  }

  async get(key: string, options: StoreCallOptions = {}): Promise<Uint8Array> {
    this.#ready(key, options.signal);
    const command = new GetObjectCommand({ Bucket: this.#location.bucket, Key: this.#location.prefix + key });
    return this.#send('get', key, async () => {
      const res = await this.#client.send(command, signalOption(options.signal));
      if (!res.Body) {
        throw new StoreError('STORE_IO', `S3 get ${key} answered no body`);
      }
      return res.Body.transformToByteArray();
    });
  }

  async head(key: string, options: StoreCallOptions = {}): Promise<StoreEntry | undefined> {
    this.#ready(key, options.signal);
    const found = await this.#head(key, options.signal);
    return found ? { key, bytes: found.bytes } : undefined;
  }

  async list(prefix: string, options: StoreCallOptions = {}): Promise<StoreEntry[]> {
    this.#ready(undefined, options.signal);
    checkPrefix(prefix);
    const out: StoreEntry[] = [];
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({
        Bucket: this.#location.bucket,
        Prefix: this.#location.prefix + prefix,
        MaxKeys: this.#pageSize,
        ...(token !== undefined ? { ContinuationToken: token } : {}),
      });
      const page = await this.#send('list', prefix, () => this.#client.send(command, signalOption(options.signal)));
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(this.#location.prefix.length);
        if (key !== undefined && isKey(key)) {
          out.push({ key, bytes: o.Size ?? 0 });
        }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string, options: StoreCallOptions = {}): Promise<void> {
    this.#ready(key, options.signal);
    const command = new DeleteObjectCommand({ Bucket: this.#location.bucket, Key: this.#location.prefix + key });
    try {
      await this.#send('delete', key, () => this.#client.send(command, signalOption(options.signal)));
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'STORE_NOT_FOUND')) {
        throw err;
      }
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#client.destroy();
    }
    return Promise.resolve();
  }

  async #head(key: string, signal: AbortSignal | undefined): Promise<{ bytes: number; sha256: string | undefined } | undefined> {
    const command = new HeadObjectCommand({ Bucket: this.#location.bucket, Key: this.#location.prefix + key });
    try {
      const res = await this.#send('head', key, () => this.#client.send(command, signalOption(signal)));
      return { bytes: res.ContentLength ?? 0, sha256: res.Metadata?.[SHA256_META] };
    } catch (err) {
      if (err instanceof StoreError && err.code === 'STORE_NOT_FOUND') {
        return undefined;
      }
      throw err;
    }
  }

  /** Whether the bucket has Object Lock enabled; asked once (a failure to ask, an abort included, is asked again next time). */
  #lockEnabled(signal: AbortSignal | undefined): Promise<boolean> {
    this.#lock ??= this.#detectLock(signal).then(undefined, (err: unknown) => {
      this.#lock = undefined;
      throw err;
    });
    return this.#lock;
  }

  async #detectLock(signal: AbortSignal | undefined): Promise<boolean> {
    try {
      const res = await this.#client.send(new GetObjectLockConfigurationCommand({ Bucket: this.#location.bucket }), signalOption(signal));
      if (res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled') {
        this.#logger?.info({ mode: this.#lockMode }, 'S3 bucket has Object Lock: evidence objects are stored with retention');
        return true;
      }
      this.#logger?.warn('S3 bucket has Object Lock disabled: evidence objects are stored without retention');
      return false;
    } catch (err) {
      const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
      // No configuration (404), not implemented (501), not allowed (403, 405), or not valid here (400).
      if (err instanceof S3ServiceException && status !== undefined && [400, 403, 404, 405, 501].includes(status)) {
        this.#logger?.warn({ reason: err.name, status }, 'S3 bucket has no usable Object Lock: evidence objects are stored without retention');
        return false;
      }
      throw s3Error('object-lock check', '', err);
    }
  }

  async #send<T>(op: string, key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw s3Error(op, key, err);
    }
  }

  #ready(key: string | undefined, signal: AbortSignal | undefined): void {
    if (this.#closed) {
      throw new StoreError('CLOSED', 'the evidence store is closed');
    }
    checkSignal(signal);
    if (key !== undefined) {
      checkKey(key);
    }
  }
}

function signalOption(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

/** Our error for an SDK failure: NOT_FOUND for 404, ABORTED for an abort, else STORE_IO naming the S3 error (no credentials). */
function s3Error(op: string, key: string, err: unknown): LivemaskError {
  if (err instanceof LivemaskError) {
    return err;
  }
  const name = err instanceof Error ? err.name : 'Error';
  if (name === 'AbortError') {
    return new AbortedError(`S3 ${op} ${key} aborted`, { cause: err });
  }
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  // A HEAD's 404 has no body, hence no name but NotFound; a missing bucket is a configuration fault, not a missing key.
  if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')) {
    return new StoreError('STORE_NOT_FOUND', `no object at store key ${key}`, { cause: err });
  }
  const what = err instanceof S3ServiceException ? `${name}${status !== undefined ? ` (HTTP ${status})` : ''}` : (err instanceof Error ? err.message : String(err));
  return new StoreError('STORE_IO', `S3 ${op} ${key} failed: ${what}`, { cause: err });
}
