import type { Logger } from '../core/index.js';
import type { EvidenceStore } from './evidence-store.js';
import { FsStore } from './fs-store.js';
import { S3Store, type ObjectLockMode } from './s3-store.js';
import type { S3Location } from './s3-url.js';

/**
 * The validated store configuration (`LIVEMASK_STORE`, the `LIVEMASK_S3_*`
 * variables, and `LIVEMASK_RETENTION_DAYS` for Object Lock; see src/server/config.ts).
 */
export type StoreConfig =
  | { kind: 'fs' }
  | { kind: 's3'; location: S3Location; lockMode: ObjectLockMode; retainDays: number };

/** The configured store: for `fs`, the evidence root itself; for `s3`, the bucket. */
export function openStore(config: StoreConfig, evidenceRoot: string, logger?: Logger): EvidenceStore {
  if (config.kind === 'fs') {
    return new FsStore({ dir: evidenceRoot });
  }
  return new S3Store({ location: config.location, lockMode: config.lockMode, ...(logger ? { logger } : {}) });
}
