import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError, type Logger } from '../core/index.js';
import { writeFileDurable } from './durable-file.js';
import { isFile } from './layout.js';

export const KEY_ENV = { private: 'LIVEMASK_EVIDENCE_KEY', public: 'LIVEMASK_EVIDENCE_PUBLIC_KEY' } as const;

export interface EvidenceKeys {
  /** Absent when only a public key is configured (a verify-only machine). */
  signingKey?: KeyObject;
  publicKey: KeyObject;
  /** `config`: from the environment; `demo`: the generated key under `<data>/evidence-keys/`. */
  source: 'config' | 'demo';
}

export interface LoadKeysOptions {
  /** The data directory (`--data`, `LIVEMASK_DATA`, default `./data`). */
  dataDir: string;
  /** True to sign (recording, recovery): a demo key is generated when none is configured. */
  needSigning: boolean;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** Where the generated demo key pair lives: outside `<data>/evidence`, so that no room id can collide with it. */
export function demoKeyDir(dataDir: string): string {
  return join(dataDir, 'evidence-keys');
}

function pemFrom(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.replace(/\\n/g, '\n').trim();
}

function parseKey(kind: 'private' | 'public', pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (err) {
    throw new EvidenceError('EVIDENCE_KEY', `${source}: not a PEM ${kind} key`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519' || (kind === 'public' && key.type !== 'public')) {
    throw new EvidenceError('EVIDENCE_KEY', `${source}: must be an Ed25519 ${kind} key in PEM`);
  }
  return key;
}

function spki(key: KeyObject): string {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * The evidence keys: `LIVEMASK_EVIDENCE_KEY` (Ed25519 private key, PEM) signs;
 * `LIVEMASK_EVIDENCE_PUBLIC_KEY` (or, when unset, the private key's public
 * half) verifies. With neither set, a demo key pair is read from, or on first
 * signing use generated into, `<data>/evidence-keys/`, and a warning says so.
 */
export async function loadEvidenceKeys(options: LoadKeysOptions): Promise<EvidenceKeys> {
  const env = options.env ?? process.env;
  const privatePem = pemFrom(env, KEY_ENV.private);
  const publicPem = pemFrom(env, KEY_ENV.public);
  if (privatePem !== undefined) {
    const signingKey = parseKey('private', privatePem, KEY_ENV.private);
    const publicKey = publicPem !== undefined ? parseKey('public', publicPem, KEY_ENV.public) : createPublicKey(signingKey);
    if (spki(publicKey) !== spki(signingKey)) {
      throw new EvidenceError('EVIDENCE_KEY', `${KEY_ENV.public} is not the public half of ${KEY_ENV.private}`);
    }
    return { signingKey, publicKey, source: 'config' };
  }
  if (publicPem !== undefined && !options.needSigning) {
    return { publicKey: parseKey('public', publicPem, KEY_ENV.public), source: 'config' };
  }
  if (publicPem !== undefined) {
    throw new EvidenceError('EVIDENCE_KEY', `${KEY_ENV.public} is set but ${KEY_ENV.private} is not: cannot sign evidence`);
  }
  return demoKeys(options);
}

async function demoKeys(options: LoadKeysOptions): Promise<EvidenceKeys> {
  const dir = demoKeyDir(options.dataDir);
  const privatePath = join(dir, 'private.pem');
  if (await isFile(privatePath)) {
    const signingKey = parseKey('private', await readFile(privatePath, 'utf8'), privatePath);
    return { signingKey, publicKey: createPublicKey(signingKey), source: 'demo' };
  }
  if (!options.needSigning) {
    throw new EvidenceError('EVIDENCE_KEY', `no evidence public key: set ${KEY_ENV.public} (or ${KEY_ENV.private})`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurable(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  await chmod(privatePath, 0o600);
  await writeFileDurable(join(dir, 'public.pem'), spki(publicKey));
  options.logger?.warn(
    { dir },
    `demo mode: generated an evidence signing key; set ${KEY_ENV.private} and ${KEY_ENV.public} in production`,
  );
  return { signingKey: privateKey, publicKey, source: 'demo' };
}
