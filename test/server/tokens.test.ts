import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../src/core/index.js';
import {
  bearerToken,
  HIRING_ROLES,
  mintToken,
  renditionFor,
  ROLES,
  TokenVerifier,
  type Role,
} from '../../src/server/index.js';

const SECRET = 'tokens-test-secret-0123456789abcdef';
const ed = generateKeyPairSync('ed25519');
const PUBLIC_PEM = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const CONTROL = new Set<Role>(['control']);

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected an AuthError');
}

const hs = (claims: Parameters<typeof mintToken>[1], expiresInSec?: number): Promise<string> =>
  mintToken({ alg: 'HS256', secret: SECRET }, claims, expiresInSec !== undefined ? { expiresInSec } : {});

describe('TokenVerifier', () => {
  it('accepts a valid HS256 token and returns its claims', async () => {
    const v = await TokenVerifier.create({ secret: SECRET });
    expect(v.algorithms).toEqual(['HS256']);
    const t = await hs({ room: 'r1', sub: 'ls-1', role: 'control' });
    const claims = await v.authorize(`Bearer ${t}`, { room: 'r1', roles: CONTROL });
    expect(claims).toMatchObject({ room: 'r1', sub: 'ls-1', role: 'control' });
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000 + 3500);
  });

  it('accepts a valid EdDSA token from a generated Ed25519 key pair, with its masked claim', async () => {
    const v = await TokenVerifier.create({ publicKeyPem: PUBLIC_PEM });
    expect(v.algorithms).toEqual(['EdDSA']);
    const t = await mintToken({ alg: 'EdDSA', privateKey: ed.privateKey }, { room: 'r1', sub: 'a-7', role: 'applicant', masked: true });
    await expect(v.verify(t)).resolves.toMatchObject({ role: 'applicant', sub: 'a-7', masked: true });
  });

  it('accepts either algorithm when both keys are configured', async () => {
    const v = await TokenVerifier.create({ secret: SECRET, publicKeyPem: PUBLIC_PEM });
    expect(v.algorithms).toEqual(['HS256', 'EdDSA']);
    await expect(v.verify(await hs({ room: 'r', sub: 's', role: 'audience' }))).resolves.toMatchObject({ role: 'audience' });
    const e = await mintToken({ alg: 'EdDSA', privateKey: ed.privateKey }, { room: 'r', sub: 's', role: 'guest' });
    await expect(v.verify(e)).resolves.toMatchObject({ role: 'guest' });
  });

  it('refuses a forged signature (another secret, or the payload changed)', async () => {
    const v = await TokenVerifier.create({ secret: SECRET });
    const other = await mintToken({ alg: 'HS256', secret: 'another-secret-0123456789abcdef0123' }, { room: 'r1', sub: 's', role: 'control' });
    expect((await refusal(v.verify(other))).message).toBe('token signature invalid');
    const [h, , s] = (await hs({ room: 'r1', sub: 's', role: 'audience' })).split('.');
    const payload = Buffer.from(JSON.stringify({ room: 'r1', sub: 's', role: 'control', exp: 9_999_999_999 })).toString('base64url');
    const err = await refusal(v.verify(`${h}.${payload}.${s}`));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.status).toBe(401);
    expect(err.message).toBe('token signature invalid');
  });

  it('says an expired token is expired', async () => {
    const v = await TokenVerifier.create({ secret: SECRET });
    const err = await refusal(v.verify(await hs({ room: 'r1', sub: 's', role: 'control' }, -60)));
    expect(err.status).toBe(401);
    expect(err.message).toBe('token expired');
  });

  it('refuses alg none, an algorithm whose key is not configured, and HS256 signed with the public key', async () => {
    const both = await TokenVerifier.create({ secret: SECRET, publicKeyPem: PUBLIC_PEM });
    const claims = Buffer.from(JSON.stringify({ room: 'r1', sub: 's', role: 'control', exp: 9_999_999_999 })).toString('base64url');
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${claims}.`;
    expect((await refusal(both.verify(none))).message).toBe('token algorithm not accepted');

    const edOnly = await TokenVerifier.create({ publicKeyPem: PUBLIC_PEM });
    const hsToken = await hs({ room: 'r1', sub: 's', role: 'control' });
    expect((await refusal(edOnly.verify(hsToken))).message).toBe('token algorithm not accepted');

    // The classic key confusion: an HS256 token whose "secret" is the public key text.
    const confused = await new SignJWT({ room: 'r1', role: 'control' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('s')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(PUBLIC_PEM));
    expect((await refusal(both.verify(confused))).message).toBe('token signature invalid');
    expect((await refusal(edOnly.verify(confused))).message).toBe('token algorithm not accepted');
  });

  it('refuses tokens with bad claims, naming the claim', async () => {
    const v = await TokenVerifier.create({ secret: SECRET });
    const key = new TextEncoder().encode(SECRET);
    const noExp = await new SignJWT({ room: 'r1', role: 'control' }).setProtectedHeader({ alg: 'HS256' }).setSubject('s').sign(key);
    expect((await refusal(v.verify(noExp))).message).toMatch(/^token claim 'exp' is invalid/);
    const badRole = await new SignJWT({ room: 'r1', role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('s')
      .setExpirationTime('1h')
      .sign(key);
    expect((await refusal(v.verify(badRole))).message).toMatch(/^token claim 'role' is invalid/);
    const noSub = await new SignJWT({ room: 'r1', role: 'control' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);
    expect((await refusal(v.verify(noSub))).message).toMatch(/^token claim 'sub' is invalid/);
    const maskedText = await new SignJWT({ room: 'r1', role: 'applicant', masked: 'yes' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('s')
      .setExpirationTime('1h')
      .sign(key);
    expect((await refusal(v.verify(maskedText))).message).toMatch(/^token claim 'masked' is invalid/);
  });

  it('answers 403 for a valid token of another room or of a role the endpoint does not take', async () => {
    const v = await TokenVerifier.create({ secret: SECRET });
    const otherRoom = await refusal(v.authorize(`Bearer ${await hs({ room: 'r2', sub: 's', role: 'control' })}`, { room: 'r1', roles: CONTROL }));
    expect(otherRoom.code).toBe('FORBIDDEN');
    expect(otherRoom.status).toBe(403);
    expect(otherRoom.message).toBe('token is for another room');
    expect(otherRoom.message).not.toContain('r2');
    const streamer = await refusal(v.authorize(`Bearer ${await hs({ room: 'r1', sub: 's', role: 'streamer' })}`, { room: 'r1', roles: CONTROL }));
    expect(streamer.status).toBe(403);
    expect(streamer.message).toBe("role 'streamer' may not use this endpoint");
  });

  it('refuses a missing or malformed Authorization header with 401', async () => {
    const v = await TokenVerifier.create({ secret: SECRET });
    for (const header of [undefined, '', '   ']) {
      const err = await refusal(v.authorize(header, { room: 'r1', roles: CONTROL }));
      expect(err.status).toBe(401);
      expect(err.message).toBe('missing bearer token');
    }
    const t = await hs({ room: 'r1', sub: 's', role: 'control' });
    for (const header of [t, `Basic ${t}`, 'Bearer', 'Bearer not-a-jwt', `Bearer ${t} extra`, 'Bearer a.b']) {
      const err = await refusal(v.authorize(header, { room: 'r1', roles: CONTROL }));
      expect(err.status, header).toBe(401);
      expect(err.message).toMatch(/^malformed authorization header/);
    }
    // Three base64url parts that are not a JWS.
    expect((await refusal(v.authorize('Bearer aaa.bbb.ccc', { room: 'r1', roles: CONTROL }))).message).toBe('token malformed');
    // The scheme is case-insensitive (RFC 6750).
    await expect(v.authorize(`bearer ${t}`, { room: 'r1', roles: CONTROL })).resolves.toMatchObject({ role: 'control' });
  });

  it('bearerToken extracts the compact JWT', () => {
    expect(bearerToken('Bearer a.b.c')).toBe('a.b.c');
  });
});

describe('renditionFor', () => {
  it('gives the hiring side the original and everyone else the masked rendition of a masked participant', () => {
    const table: [Role, boolean, 'original' | 'masked'][] = [
      ['streamer', true, 'original'],
      ['cohost', true, 'original'],
      ['guest', true, 'original'],
      ['recruiter', true, 'original'],
      ['applicant', true, 'masked'],
      ['audience', true, 'masked'],
      ['control', true, 'masked'],
      ['ops', true, 'masked'],
    ];
    for (const [role, masked, expected] of table) {
      expect(renditionFor(role, masked), role).toBe(expected);
    }
    for (const role of ROLES) {
      expect(renditionFor(role, false), `${role} unmasked`).toBe('original');
    }
  });

  it('HIRING_ROLES is exactly the hiring side', () => {
    expect([...HIRING_ROLES].sort()).toEqual(['cohost', 'guest', 'recruiter', 'streamer']);
  });
});
