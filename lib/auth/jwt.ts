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

export interface VerifiedToken {
  claims: Claims;
  /** When the token stops being valid, in ms since the epoch. */
  expiresAt: number;
}

export function issueAccessToken(
  user: { id: string; role: UserRole; username: string },
  options: JwtOptions,
): { token: string; expiresIn: number } {
  const token = jwt.sign({ role: user.role, username: user.username }, options.secret, {
    algorithm: 'HS256',
    subject: user.id,
    issuer: options.issuer,
    audience: options.audience,
    expiresIn: options.accessTokenTtl,
  });
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
  const { sub, role, username, exp } = payload as Record<string, unknown>;
  if (
    typeof sub !== 'string' ||
    sub === '' ||
    typeof username !== 'string' ||
    typeof exp !== 'number'
  ) {
    throw new InvalidTokenError('Invalid access token');
  }
  if (role !== 'USER' && role !== 'ADMIN') throw new InvalidTokenError('Invalid access token');
  return { claims: { userId: sub, role, username }, expiresAt: exp * 1000 };
}

/** The token of an `Authorization: Bearer …` value; `null` when absent, throws when malformed. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.trim() === '') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw new InvalidTokenError('Authorization must be "Bearer <token>"');
  return match[1];
}
