import type { KeyObject } from 'node:crypto';
import { errors as joseErrors, importSPKI, jwtVerify, SignJWT, type CryptoKey, type JWTHeaderParameters } from 'jose';
import { z } from 'zod';
import { AuthError } from '../core/index.js';

/**
 * Bearer tokens: JWTs signed HS256 with a shared secret or EdDSA (Ed25519)
 * with a private key whose public half we hold, verified with jose. Which
 * rendition a subscriber gets is decided here from the token's role, never
 * from anything else the client sends.
 */

export const ROLES = ['streamer', 'cohost', 'guest', 'recruiter', 'applicant', 'audience', 'control', 'ops'] as const;
export type Role = (typeof ROLES)[number];

/** The hiring side: they see a masked applicant's face unmasked. */
export const HIRING_ROLES: ReadonlySet<Role> = new Set<Role>(['streamer', 'cohost', 'guest', 'recruiter']);

export type Rendition = 'original' | 'masked';

/**
 * The rendition of a participant's video that a subscriber with `role` gets:
 * the hiring side always gets the original; everyone else gets the masked
 * rendition while the participant is masked. Any role not on the hiring side
 * is treated as the audience (fail closed).
 */
export function renditionFor(role: Role, participantMasked: boolean): Rendition {
  if (HIRING_ROLES.has(role)) {
    return 'original';
  }
  return participantMasked ? 'masked' : 'original';
}

export const TokenClaimsSchema = z.object({
  room: z.string().min(1),
  sub: z.string().min(1),
  role: z.enum(ROLES),
  exp: z.number(),
  masked: z.boolean().optional(),
});

export type TokenClaims = z.infer<typeof TokenClaimsSchema>;

export type TokenAlgorithm = 'HS256' | 'EdDSA';

export interface TokenVerifierOptions {
  /** HS256 secret (UTF-8 text or bytes). */
  secret?: string | Uint8Array;
  /** Ed25519 public key, PEM SPKI, for EdDSA. */
  publicKeyPem?: string;
  /** Clock skew allowed on `exp` and `nbf`, in seconds. Default 5. */
  clockToleranceSec?: number;
}

/** What an endpoint asks of a token. */
export interface TokenRequirement {
  room: string;
  roles: ReadonlySet<Role>;
}

export class TokenVerifier {
  readonly #secret: Uint8Array | undefined;
  readonly #publicKey: CryptoKey | undefined;
  readonly #tolerance: number;

  private constructor(secret: Uint8Array | undefined, publicKey: CryptoKey | undefined, tolerance: number) {
    this.#secret = secret;
    this.#publicKey = publicKey;
    this.#tolerance = tolerance;
  }

  static async create(options: TokenVerifierOptions): Promise<TokenVerifier> {
    const secret = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
    const publicKey = options.publicKeyPem !== undefined ? await importSPKI(options.publicKeyPem, 'EdDSA') : undefined;
    if (!secret && !publicKey) {
      throw new TypeError('TokenVerifier needs a secret, a public key, or both');
    }
    return new TokenVerifier(secret, publicKey, options.clockToleranceSec ?? 5);
  }

  /** The algorithms a token may be signed with: those whose key is configured. */
  get algorithms(): TokenAlgorithm[] {
    return [...(this.#secret ? (['HS256'] as const) : []), ...(this.#publicKey ? (['EdDSA'] as const) : [])];
  }

  /** Verifies a compact JWT and its claims. Throws AuthError UNAUTHORIZED with the reason. */
  async verify(token: string): Promise<TokenClaims> {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.#keyFor(header), {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: this.#tolerance,
      }));
    } catch (err) {
      throw new AuthError('UNAUTHORIZED', reasonFor(err));
    }
    const claims = TokenClaimsSchema.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0];
      throw new AuthError('UNAUTHORIZED', `token claim '${issue?.path.join('.') ?? '?'}' is invalid: ${issue?.message ?? ''}`);
    }
    return claims.data;
  }

  /**
   * Checks an Authorization header for an endpoint: 401 when the token is
   * missing or does not verify, 403 when it is for another room or a role the
   * endpoint does not take.
   */
  async authorize(authorization: string | undefined, need: TokenRequirement): Promise<TokenClaims> {
    const claims = await this.verify(bearerToken(authorization));
    if (claims.room !== need.room) {
      throw new AuthError('FORBIDDEN', 'token is for another room');
    }
    if (!need.roles.has(claims.role)) {
      throw new AuthError('FORBIDDEN', `role '${claims.role}' may not use this endpoint`);
    }
    return claims;
  }

  #keyFor(header: JWTHeaderParameters): Uint8Array | CryptoKey {
    // jose has already checked header.alg against `algorithms`, so the key
    // for it is configured; a secret is never used for EdDSA or the reverse.
    const key = header.alg === 'HS256' ? this.#secret : header.alg === 'EdDSA' ? this.#publicKey : undefined;
    if (!key) {
      throw new joseErrors.JOSEAlgNotAllowed('algorithm not accepted');
    }
    return key;
  }
}

/** The token of an `Authorization: Bearer <token>` header. Throws AuthError UNAUTHORIZED. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw new AuthError('UNAUTHORIZED', 'missing bearer token');
  }
  const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization);
  if (!match?.[1]) {
    throw new AuthError('UNAUTHORIZED', 'malformed authorization header: expected "Bearer <jwt>"');
  }
  return match[1];
}

function reasonFor(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) {
    return 'token expired';
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return 'token signature invalid';
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return 'token algorithm not accepted';
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    // `claim` names the claim (exp missing, nbf in the future); the payload is not echoed.
    return `token claim '${err.claim}' is invalid: ${err.reason}`;
  }
  if (err instanceof joseErrors.JOSEError) {
    return 'token malformed';
  }
  return 'token could not be verified';
}

/** The key to sign a token with: HS256 with a secret, or EdDSA with an Ed25519 private key. */
export type SigningKey =
  | { alg: 'HS256'; secret: string | Uint8Array }
  | { alg: 'EdDSA'; privateKey: KeyObject | CryptoKey };

export interface MintOptions {
  /** Lifetime in seconds from now; a negative value mints an expired token (tests). Default 3600. */
  expiresInSec?: number;
}

/** Signs a token with the given claims (demo mode and tests). */
export async function mintToken(
  key: SigningKey,
  claims: { room: string; sub: string; role: Role; masked?: boolean },
  options: MintOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ room: claims.room, role: claims.role, ...(claims.masked !== undefined ? { masked: claims.masked } : {}) })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSec ?? 3600));
  return key.alg === 'HS256'
    ? jwt.sign(typeof key.secret === 'string' ? new TextEncoder().encode(key.secret) : key.secret)
    : jwt.sign(key.privateKey);
}
