import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Claims, UserRole } from './claims.js';

export interface JwtOptions {
  /**
   * The HS256 secret, best as a key made once with `jwtSecretKey`: given a string,
   * jsonwebtoken imports it anew on every sign and verify, first trying (and failing) to read
   * it as a PEM public or private key, which costs about 40 times the verification itself.
   */
  secret: KeyObject | string;
  issuer: string;
  audience: string;
  /** Lifetime of an access token, in seconds. */
  accessTokenTtl: number;
}

/** The HS256 key of a `JWT_SECRET`, made once where the options are built (see `JwtOptions`). */
export const jwtSecretKey = (secret: string): KeyObject => createSecretKey(secret, 'utf8');

/** A verified access token: whose it is (no client address: that is the request's) and when. */
export interface VerifiedToken {
  claims: Omit<Claims, 'clientAddress'>;
  /** When it was issued, in ms since the epoch: revocations before this time spare it. */
  issuedAt: number;
  /** When the token stops being valid, in ms since the epoch. */
  expiresAt: number;
}

/**
 * An access token of `user` in `sessionId` (the refresh-token family it was issued with):
 * `sub`, `role`, `username`, `sid`, `ev` (whether the email is verified), `iat`, and `iat_ms` — the issue time in milliseconds, which
 * revocation compares (`iat` has whole seconds only, too coarse to tell a token issued just
 * after a password change from one issued just before).
 */
export function issueAccessToken(
  user: { id: string; role: UserRole; username: string; emailVerified?: boolean },
  sessionId: string,
  options: JwtOptions,
  now = Date.now(),
): { token: string; expiresIn: number } {
  const token = jwt.sign(
    {
      role: user.role,
      username: user.username,
      sid: sessionId,
      ev: user.emailVerified === true,
      iat: Math.floor(now / 1000),
      iat_ms: now,
    },
    options.secret,
    {
      algorithm: 'HS256',
      subject: user.id,
      issuer: options.issuer,
      audience: options.audience,
      expiresIn: options.accessTokenTtl,
    },
  );
  return { token, expiresIn: options.accessTokenTtl };
}

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/**
 * Verifies an access token: HS256 only (so `alg: none` and key-confusion tricks fail),
 * our issuer and audience, not expired, and claims of the right shape.
 */
export function verifyAccessToken(
  token: string,
  options: Omit<JwtOptions, 'accessTokenTtl'>,
): VerifiedToken {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, options.secret, {
      algorithms: ['HS256'],
      issuer: options.issuer,
      audience: options.audience,
    });
  } catch (err) {
    const reason =
      err instanceof jwt.TokenExpiredError ? 'Access token expired' : 'Invalid access token';
    throw new InvalidTokenError(reason);
  }
  if (typeof payload === 'string') throw new InvalidTokenError('Invalid access token');
  const { sub, role, username, sid, ev, iat_ms, exp } = payload as Record<string, unknown>;
  if (
    typeof sub !== 'string' ||
    sub === '' ||
    typeof username !== 'string' ||
    typeof sid !== 'string' ||
    sid === '' ||
    typeof iat_ms !== 'number' ||
    typeof exp !== 'number'
  ) {
    throw new InvalidTokenError('Invalid access token');
  }
  if (role !== 'USER' && role !== 'ADMIN') throw new InvalidTokenError('Invalid access token');
  return {
    // A token issued before `ev` existed counts as unverified: a refresh issues one with it.
    claims: { userId: sub, role, username, sessionId: sid, emailVerified: ev === true },
    issuedAt: iat_ms,
    expiresAt: exp * 1000,
  };
}

/** The token of an `Authorization: Bearer …` value; `null` when absent, throws when malformed. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.trim() === '') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw new InvalidTokenError('Authorization must be "Bearer <token>"');
  return match[1];
}
