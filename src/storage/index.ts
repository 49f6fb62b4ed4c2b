/**
 * storage: where SEALED evidence lives. One interface, `EvidenceStore`, with
 * a filesystem back end (`FsStore`, the default: the evidence root itself)
 * and an S3-compatible one (`S3Store`, Object Lock retention where the bucket
 * has it). The live recorder keeps writing open segments to local disk;
 * `EvidenceMirror` copies each sealed session to the configured store and
 * checks every object read back; `fetchSessions` brings a room back from the
 * store into a directory that `verify` reads.
 */
export { checkKey, checkPrefix, isKey, type EvidenceStore, type PutOptions, type StoreCallOptions, type StoreEntry } from './evidence-store.js';
export { FsStore, type FsStoreOptions } from './fs-store.js';
export { S3Store, type ObjectLockMode, type S3StoreOptions } from './s3-store.js';
export { describeS3Location, parseS3Url, S3_URL_FORM, type S3Location } from './s3-url.js';
export { EvidenceMirror, type EvidenceMirrorEvents, type EvidenceMirrorOptions, type MirrorResult } from './evidence-mirror.js';
export { fetchSessions, type FetchOptions, type FetchResult } from './fetch-sessions.js';
export { openStore, type StoreConfig } from './open-store.js';
