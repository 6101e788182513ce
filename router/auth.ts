import type { IncomingMessage } from 'node:http';
import { ANONYMOUS, type Claims } from '#lib/auth/claims.js';
import { bearerToken, InvalidTokenError, verifyAccessToken, type JwtOptions } from '#lib/auth/jwt.js';
import { unauthenticated } from '#lib/errors.js';

export type TokenVerification = Omit<JwtOptions, 'accessTokenTtl'>;

/** Who the caller is and until when: anonymous callers never expire. */
export interface Viewer {
  claims: Claims;
  expiresAt: number | null;
}

/**
 * The viewer of an `Authorization` header value: anonymous without one; a malformed,
 * tampered, expired or foreign token is refused with 401 UNAUTHENTICATED.
 */
export function authenticate(authorization: string | undefined, jwt: TokenVerification): Viewer {
  try {
    const token = bearerToken(authorization);
    if (token === null) return { claims: ANONYMOUS, expiresAt: null };
    const verified = verifyAccessToken(token, jwt);
    return { claims: verified.claims, expiresAt: verified.expiresAt };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw unauthenticated(err.message, 401);
    throw err;
  }
}

export function authenticateRequest(req: IncomingMessage, jwt: TokenVerification): Viewer {
  return authenticate(req.headers.authorization, jwt);
}
