import { createPublicKey } from 'node:crypto';
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { LivemaskError } from '../core/index.js';
import { describeS3Location, parseS3Url, type StoreConfig } from '../storage/index.js';

/**
 * The configuration of `livemask serve`, read once at start from command-line
 * flags and `LIVEMASK_*` environment variables (a flag wins over its
 * variable). Defaults live here and nowhere else; every error names the flag
 * or variable it came from and never echoes a secret.
 */

/** The command-line flags of `livemask serve`, as parsed (strings, or true for a boolean flag). */
export interface ServeFlags {
  port?: string | undefined;
  host?: string | undefined;
  data?: string | undefined;
  demo?: boolean | undefined;
  publicUrl?: string | undefined;
  redis?: string | undefined;
}

/** The environment variable behind each field, and the flag that overrides it. */
const SOURCES = {
  port: { env: 'LIVEMASK_PORT', flag: '--port' },
  host: { env: 'LIVEMASK_HOST', flag: '--host' },
  dataDir: { env: 'LIVEMASK_DATA', flag: '--data' },
  demo: { env: 'LIVEMASK_DEMO', flag: '--demo' },
  tokenSecret: { env: 'LIVEMASK_TOKEN_SECRET', flag: undefined },
  tokenPublicKey: { env: 'LIVEMASK_TOKEN_PUBLIC_KEY', flag: undefined },
  maxBodyBytes: { env: 'LIVEMASK_MAX_BODY_BYTES', flag: undefined },
  drainMs: { env: 'LIVEMASK_DRAIN_MS', flag: undefined },
  redisUrl: { env: 'LIVEMASK_REDIS_URL', flag: '--redis' },
  capacity: { env: 'LIVEMASK_CAPACITY', flag: undefined },
  publicUrl: { env: 'LIVEMASK_PUBLIC_URL', flag: '--public-url' },
  maxSessions: { env: 'LIVEMASK_MAX_SESSIONS', flag: undefined },
  maxMasked: { env: 'LIVEMASK_MAX_MASKED', flag: undefined },
  evidence: { env: 'LIVEMASK_EVIDENCE', flag: undefined },
  segmentSeconds: { env: 'LIVEMASK_SEGMENT_SECONDS', flag: undefined },
  lookahead: { env: 'LIVEMASK_LOOKAHEAD', flag: undefined },
  maskStyle: { env: 'LIVEMASK_MASK_STYLE', flag: undefined },
  detector: { env: 'LIVEMASK_DETECTOR', flag: undefined },
  ep: { env: 'LIVEMASK_EP', flag: undefined },
  detectorThreads: { env: 'LIVEMASK_DETECTOR_THREADS', flag: undefined },
  detectBatch: { env: 'LIVEMASK_DETECT_BATCH', flag: undefined },
  detectBatchWaitMs: { env: 'LIVEMASK_DETECT_BATCH_WAIT_MS', flag: undefined },
  store: { env: 'LIVEMASK_STORE', flag: undefined },
  s3Url: { env: 'LIVEMASK_S3_URL', flag: undefined },
  s3LockMode: { env: 'LIVEMASK_S3_LOCK_MODE', flag: undefined },
  retentionDays: { env: 'LIVEMASK_RETENTION_DAYS', flag: '--retention-days' },
  sweepEveryHours: { env: 'LIVEMASK_SWEEP_EVERY_HOURS', flag: undefined },
  exportRetentionDays: { env: 'LIVEMASK_EXPORT_RETENTION_DAYS', flag: undefined },
} as const;

type Field = keyof typeof SOURCES;

/** The smallest HS256 secret accepted, in bytes (RFC 7518 3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32;

/** Days a sealed evidence session is kept before `livemask evidence sweep` deletes it (unless its room is held). */
export const DEFAULT_RETENTION_DAYS = 90;
/** Days an export bundle is kept (LIVEMASK_EXPORT_RETENTION_DAYS). */
export const DEFAULT_EXPORT_RETENTION_DAYS = 30;

/** Hours between two retention sweep jobs of an evidence node in the fleet. */
export const DEFAULT_SWEEP_EVERY_HOURS = 24;

function integer(min: number, max: number, fallback: number): z.ZodType<number, string | undefined> {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }))
    .optional()
    .transform((v) => v ?? fallback);
}

function booleanWith(fallback: boolean): z.ZodType<boolean, string | undefined> {
  return z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ['', '0', '1', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(v), {
      error: 'must be one of 1, 0, true, false, yes, no, on, off',
    })
    .transform((v) => (v === '' ? fallback : ['1', 'true', 'yes', 'on'].includes(v)))
    .optional()
    .transform((v) => v ?? fallback);
}

const booleanText = booleanWith(false);

const host = z
  .string()
  .trim()
  .refine((v) => isIP(v) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v), {
    error: 'must be an IP address or a host name',
  });

const secret = z
  .string()
  .refine((v) => Buffer.byteLength(v, 'utf8') >= MIN_SECRET_BYTES, {
    // The length only: the secret itself never appears in an error.
    error: (issue) => `must be at least ${MIN_SECRET_BYTES} bytes (got ${Buffer.byteLength(String(issue.input), 'utf8')})`,
  });

/** PEM text from an environment variable, where line breaks are often written as `\n`. */
const publicKeyPem = z
  .string()
  .transform((v) => v.replace(/\\n/g, '\n').trim())
  .superRefine((pem, ctx) => {
    const problem = ed25519Problem(pem);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

const redisUrl = z.string().refine(
  (v) => {
    try {
      return ['redis:', 'rediss:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  // The URL may carry a password, so it is never echoed.
  { error: 'must be a redis:// or rediss:// URL' },
);

/** The WHIP/WHEP base URL a fleet worker advertises: http(s), no credentials, query or fragment; kept without a trailing slash. */
const publicUrl = z
  .string()
  .trim()
  .transform((v, ctx) => {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
      return z.NEVER;
    }
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
      ctx.addIssue({ code: 'custom', message: 'must not hold credentials, a query or a fragment' });
      return z.NEVER;
    }
    return url.href.replace(/\/+$/, '');
  });

/** LIVEMASK_S3_URL, parsed; the URL may carry a secret, so no message echoes it. */
const s3Url = z.string().transform((v, ctx) => {
  const parsed = parseS3Url(v);
  if ('problem' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  }
  return parsed.location;
});

/** Where sealed evidence is stored (src/storage/): shared by `serve` and `livemask evidence fetch`. */
const storeFields = {
  store: z.enum(['fs', 's3'], { error: 'must be fs or s3' }).optional().transform((v) => v ?? 'fs'),
  s3Url: s3Url.optional(),
  s3LockMode: z
    .string()
    .trim()
    .toUpperCase()
    .pipe(z.enum(['GOVERNANCE', 'COMPLIANCE'], { error: 'must be GOVERNANCE or COMPLIANCE' }))
    .optional()
    .transform((v) => v ?? 'GOVERNANCE'),
};

function refineStore(c: { store: 'fs' | 's3'; s3Url?: unknown }, ctx: z.RefinementCtx): void {
  if (c.store === 's3' && c.s3Url === undefined) {
    ctx.addIssue({ code: 'custom', path: ['s3Url'], message: 'must be set when LIVEMASK_STORE=s3' });
  }
}

type StoreFields = z.output<z.ZodObject<typeof storeFields>>;

/** Objects copied to S3 are locked (where the bucket has Object Lock) for the retention the sweep applies, LIVEMASK_RETENTION_DAYS. */
function toStoreConfig(c: StoreFields, env: NodeJS.ProcessEnv): StoreConfig {
  return c.store === 's3' && c.s3Url !== undefined
    ? { kind: 's3', location: c.s3Url, lockMode: c.s3LockMode, retainDays: parseRetentionConfig({}, env).retentionDays }
    : { kind: 'fs' };
}

const StoreConfigSchema = z.object(storeFields).superRefine(refineStore);

const ServerConfigSchema = z
  .object({
    ...storeFields,
    port: integer(0, 65_535, 8080),
    host: host.optional().transform((v) => v ?? '127.0.0.1'),
    dataDir: z
      .string()
      .trim()
      .min(1, { error: 'must not be empty' })
      .optional()
      .transform((v) => resolve(v ?? './data')),
    demo: booleanText,
    tokenSecret: secret.optional(),
    tokenPublicKey: publicKeyPem.optional(),
    maxBodyBytes: integer(1024, 16 * 1024 * 1024, 64 * 1024),
    drainMs: integer(0, 60_000, 0),
    redisUrl: redisUrl.optional(),
    capacity: integer(1, 256, 4),
    publicUrl: publicUrl.optional(),
    maxSessions: integer(1, 100_000, 200),
    maxMasked: integer(0, 256, 4),
    evidence: booleanWith(true),
    segmentSeconds: integer(1, 600, 10),
    retentionDays: integer(1, 36_500, DEFAULT_RETENTION_DAYS),
    sweepEveryHours: integer(1, 8760, DEFAULT_SWEEP_EVERY_HOURS),
    exportRetentionDays: integer(1, 36_500, DEFAULT_EXPORT_RETENTION_DAYS),
    lookahead: integer(0, 30, 2),
    maskStyle: z.enum(['pixelate', 'blur', 'solid'], { error: 'must be pixelate, blur or solid' }).optional().transform((v) => v ?? 'pixelate'),
    detector: z.enum(['front', 'back', 'both'], { error: 'must be front, back or both' }).optional().transform((v) => v ?? 'back'),
    ep: z.enum(['cpu', 'cuda'], { error: 'must be cpu or cuda' }).optional().transform((v) => v ?? 'cpu'),
    detectorThreads: integer(1, 64, 1), // LIVE_MASK_DEFAULTS.intraOpThreads
    detectBatch: integer(1, 64, 1),
    detectBatchWaitMs: integer(0, 50, 2),
  })
  .superRefine((c, ctx) => {
    if (!c.demo && c.tokenSecret === undefined && c.tokenPublicKey === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenSecret'],
        message: `no token key: set ${SOURCES.tokenSecret.env} or ${SOURCES.tokenPublicKey.env} (or run with --demo)`,
      });
    }
  })
  .superRefine(refineStore);

/** The validated configuration of `livemask serve`. Holds secrets: never log it whole (see {@link describeServerConfig}). */
export interface ServerConfig {
  port: number;
  host: string;
  /** Absolute path; evidence recordings will live here. */
  dataDir: string;
  /** Demo mode: a random HS256 secret and the demo token route. */
  demo: boolean;
  /** HS256 secret, at least {@link MIN_SECRET_BYTES} bytes. */
  tokenSecret?: string;
  /** Ed25519 public key, PEM SPKI, for EdDSA tokens. */
  tokenPublicKey?: string;
  /** Largest request body accepted; more gets 413. */
  maxBodyBytes: number;
  /** On stop, how long /readyz answers 503 before connections are closed. */
  drainMs: number;
  /** When set, the worker joins the fleet (rooms as BullMQ jobs on this Redis); otherwise it runs standalone. */
  redisUrl?: string;
  /** Fleet rooms held at once; set only with redisUrl. */
  capacity?: number;
  /** The WHIP/WHEP base URL the worker advertises to the fleet; default the URL it listens on. */
  publicUrl?: string;
  /** WHIP and WHEP sessions open at once; more get 503 with Retry-After. */
  maxSessions: number;
  /** Masked renditions (decode, detect, encode) running at once; a masked publisher beyond gets 503. */
  maxMasked: number;
  /** Record every publisher's original media and the room events as evidence under `<dataDir>/evidence`. */
  evidence: boolean;
  /** Length of an evidence segment; each opens on a keyframe. */
  segmentSeconds: number;
  /** Days a sealed session is kept before the sweep (POST /v1/evidence/sweep) may delete it, unless held. */
  retentionDays: number;
  /** In the fleet, how often each evidence node's retention sweep job runs (LIVEMASK_SWEEP_EVERY_HOURS, 1-8760, default 24). */
  sweepEveryHours: number;
  /** Days an export bundle is kept under `<data>/exports` before the sweep deletes it (LIVEMASK_EXPORT_RETENTION_DAYS). */
  exportRetentionDays: number;
  /** The masked rendition: look-ahead in frames (latency), mask style, detector models. */
  lookahead: number;
  maskStyle: 'pixelate' | 'blur' | 'solid';
  detector: 'front' | 'back' | 'both';
  /** onnxruntime execution provider of the detector; cuda falls back to the CPU, with a warning, where the provider does not load. */
  ep: 'cpu' | 'cuda';
  /** onnxruntime intra-op threads of each rendition's detector sessions. */
  detectorThreads: number;
  /** 1: a detector thread per masked rendition; N > 1: one shared thread, up to N streams' frames per inference call. */
  detectBatch: number;
  /** With detectBatch > 1: how long a detection may wait for others to join its inference call. */
  detectBatchWaitMs: number;
  /** Where sealed evidence is stored: the evidence root itself (`fs`), or mirrored to an S3 bucket. */
  store: StoreConfig;
}

/**
 * Reads the configuration from flags and the environment. Throws a
 * LivemaskError with code CONFIG_INVALID whose message names the flag or
 * variable, e.g. `LIVEMASK_PORT: must be a whole number from 0 to 65535`.
 */
export function parseServerConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const fromFlag = new Set<Field>();
  const raw: Partial<Record<Field, string>> = {};
  for (const field of Object.keys(SOURCES) as Field[]) {
    const value = env[SOURCES[field].env];
    if (value !== undefined) {
      raw[field] = value;
    }
  }
  const flagValues: Partial<Record<Field, string | undefined>> = {
    port: flags.port,
    host: flags.host,
    dataDir: flags.data,
    demo: flags.demo === true ? 'true' : undefined,
    publicUrl: flags.publicUrl,
    redisUrl: flags.redis,
  };
  for (const [field, value] of Object.entries(flagValues) as [Field, string | undefined][]) {
    if (value !== undefined) {
      raw[field] = value;
      fromFlag.add(field);
    }
  }
  const result = ServerConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = (issue?.path[0] ?? 'tokenSecret') as Field;
    const message = issue?.message ?? 'invalid';
    // The "no token key" issue names both variables itself.
    const name = message.startsWith('no token key') ? '' : `${sourceName(field, fromFlag.has(field))}: `;
    throw new LivemaskError('CONFIG_INVALID', `${name}${message}`);
  }
  const c = result.data;
  return {
    port: c.port,
    host: c.host,
    dataDir: c.dataDir,
    demo: c.demo,
    maxBodyBytes: c.maxBodyBytes,
    drainMs: c.drainMs,
    maxSessions: c.maxSessions,
    maxMasked: c.maxMasked,
    evidence: c.evidence,
    segmentSeconds: c.segmentSeconds,
    retentionDays: c.retentionDays,
    sweepEveryHours: c.sweepEveryHours,
    exportRetentionDays: c.exportRetentionDays,
    lookahead: c.lookahead,
    maskStyle: c.maskStyle,
    detector: c.detector,
    ep: c.ep,
    detectorThreads: c.detectorThreads,
    detectBatch: c.detectBatch,
    detectBatchWaitMs: c.detectBatchWaitMs,
    store: toStoreConfig(c, env),
    ...(c.tokenSecret !== undefined ? { tokenSecret: c.tokenSecret } : {}),
    ...(c.tokenPublicKey !== undefined ? { tokenPublicKey: c.tokenPublicKey } : {}),
    ...(c.redisUrl !== undefined ? { redisUrl: c.redisUrl, capacity: c.capacity } : {}),
    ...(c.publicUrl !== undefined ? { publicUrl: c.publicUrl } : {}),
  };
}

/** What of the configuration may be logged: no secrets, no Redis URL (it may hold a password). */
export function describeServerConfig(c: ServerConfig): Record<string, unknown> {
  return {
    port: c.port,
    host: c.host,
    dataDir: c.dataDir,
    demo: c.demo,
    maxBodyBytes: c.maxBodyBytes,
    drainMs: c.drainMs,
    maxSessions: c.maxSessions,
    maxMasked: c.maxMasked,
    evidence: c.evidence,
    segmentSeconds: c.segmentSeconds,
    retentionDays: c.retentionDays,
    sweepEveryHours: c.sweepEveryHours,
    exportRetentionDays: c.exportRetentionDays,
    lookahead: c.lookahead,
    maskStyle: c.maskStyle,
    detector: c.detector,
    ep: c.ep,
    detectorThreads: c.detectorThreads,
    detectBatch: c.detectBatch,
    redis: c.redisUrl !== undefined ? 'configured' : 'none',
    store: c.store.kind === 's3' ? describeS3Location(c.store.location) : 'fs',
    ...(c.store.kind === 's3' ? { s3LockMode: c.store.lockMode, s3RetainDays: c.store.retainDays } : {}),
    ...(c.capacity !== undefined ? { capacity: c.capacity } : {}),
    ...(c.publicUrl !== undefined ? { publicUrl: c.publicUrl } : {}),
  };
}

/**
 * The store configuration alone, from `LIVEMASK_STORE` and the `LIVEMASK_S3_*`
 * variables (for commands that need no server configuration, such as
 * `livemask evidence fetch`). Throws CONFIG_INVALID naming the variable.
 */
export function parseStoreConfig(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const fields = ['store', 's3Url', 's3LockMode'] as const;
  const raw: Partial<Record<(typeof fields)[number], string>> = {};
  for (const field of fields) {
    const value = env[SOURCES[field].env];
    if (value !== undefined) {
      raw[field] = value;
    }
  }
  const result = StoreConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = (issue?.path[0] ?? 'store') as Field;
    throw new LivemaskError('CONFIG_INVALID', `${sourceName(field, false)}: ${issue?.message ?? 'invalid'}`);
  }
  return toStoreConfig(result.data, env);
}



const RetentionConfigSchema = z.object({ retentionDays: integer(1, 36_500, DEFAULT_RETENTION_DAYS) });
const ExportRetentionSchema = z.object({ exportRetentionDays: integer(1, 36_500, DEFAULT_EXPORT_RETENTION_DAYS) });

/**
 * The retention of `livemask evidence sweep`: `--retention-days`, else
 * `LIVEMASK_RETENTION_DAYS`, else {@link DEFAULT_RETENTION_DAYS}. Throws
 * CONFIG_INVALID naming the flag or variable, e.g.
 * `--retention-days: must be a whole number from 1 to 36500`.
 */
export function parseRetentionConfig(
  flags: { retentionDays?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): { retentionDays: number; exportRetentionDays: number } {
  const fromFlag = flags.retentionDays !== undefined;
  const value = fromFlag ? flags.retentionDays : env[SOURCES.retentionDays.env];
  const result = RetentionConfigSchema.safeParse(value !== undefined ? { retentionDays: value } : {});
  if (!result.success) {
    throw new LivemaskError('CONFIG_INVALID', `${sourceName('retentionDays', fromFlag)}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  }
  const exportValue = env[SOURCES.exportRetentionDays.env];
  const exports = ExportRetentionSchema.safeParse(exportValue !== undefined ? { exportRetentionDays: exportValue } : {});
  if (!exports.success) {
    throw new LivemaskError('CONFIG_INVALID', `${SOURCES.exportRetentionDays.env}: ${exports.error.issues[0]?.message ?? 'invalid'}`);
  }
  return { ...result.data, ...exports.data };
}

/** The flag or variable to name in an error about `field`. */
function sourceName(field: Field, fromFlag: boolean): string {
  const source = SOURCES[field];
  return fromFlag && source.flag !== undefined ? source.flag : source.env;
}

function ed25519Problem(pem: string): string | undefined {
  if (/PRIVATE KEY/.test(pem)) {
    return 'holds a private key: give the public key only (PEM SPKI, "-----BEGIN PUBLIC KEY-----")';
  }
  if (!pem.startsWith('-----BEGIN PUBLIC KEY-----')) {
    return 'must be an Ed25519 public key in PEM (SPKI, "-----BEGIN PUBLIC KEY-----")';
  }
  try {
    const key = createPublicKey({ key: pem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') {
      return `must be an Ed25519 public key (got ${key.asymmetricKeyType ?? 'a symmetric key'})`;
    }
    return undefined;
  } catch {
    return 'must be an Ed25519 public key in PEM (SPKI, "-----BEGIN PUBLIC KEY-----")';
  }
}

/**
 * Creates the data directory when missing and checks that it is a writable
 * directory. Throws CONFIG_INVALID naming `--data` when the flag gave it,
 * else LIVEMASK_DATA.
 */
export async function prepareDataDir(dir: string, fromFlag: boolean): Promise<void> {
  try {
    await makeDir(dir);
    if (!(await stat(dir)).isDirectory()) {
      throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    }
    await access(dir, constants.W_OK);
  } catch (err) {
    throw new LivemaskError('CONFIG_INVALID', `${sourceName('dataDir', fromFlag)}: cannot create or write ${dir} (${errorCode(err)})`, {
      cause: err,
    });
  }
}

/**
 * `mkdir -p`, one level at a time. Node's `mkdir(..., { recursive: true })`
 * never returns on some paths (under /proc it loops on ENOENT), which would
 * hang the start instead of failing it.
 */
async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'EEXIST') {
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) {
      throw err;
    }
    await makeDir(parent);
    await mkdir(dir);
  }
}

function errorCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'not usable';
}
