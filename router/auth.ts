import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ANONYMOUS, type Claims } from '#lib/auth/claims.js';
import {
  bearerToken,
  InvalidTokenError,
  jwtSecretKey,
  verifyAccessToken,
  type JwtOptions,
} from '#lib/auth/jwt.js';
import { unauthenticated } from '#lib/errors.js';

/** What verifying an access token needs; the router takes the secret as a key made once (`jwtSecretKey`). */
export type TokenVerification = Omit<JwtOptions, 'accessTokenTtl' | 'secret'> & {
  secret: KeyObject;
};

/** The verification options of the configured JWT settings, the secret made into a key once. */
export const tokenVerification = (jwt: {
  secret: string;
  issuer: string;
  audience: string;
}): TokenVerification => ({
  issuer: jwt.issuer,
  audience: jwt.audience,
  secret: jwtSecretKey(jwt.secret),
});

/** Who the caller is and until when: anonymous callers never expire. */
export interface Viewer {
  claims: Claims;
  expiresAt: number | null;
}

/**
 * The viewer of an `Authorization` header value: anonymous without one; a malformed,
 * tampered, expired or foreign token is refused with 401 UNAUTHENTICATED.
 */
function authenticate(authorization: string | undefined, jwt: TokenVerification): Viewer {
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

/** Turns an `Authorization` header value into the viewer, or throws 401 UNAUTHENTICATED. */
export type Authenticator = (authorization: string | undefined) => Viewer;

/**
 * `authenticate`, remembering the tokens it has verified until they expire. Verifying an
 * HS256 token costs jsonwebtoken a key import (a failed `createPublicKey`, then a secret key)
 * and an HMAC on every request, about a tenth of the router's CPU under load; a client
 * sends the same token for up to 15 minutes. The answer for a given token is fixed until its
 * `exp` (the secret, issuer and audience do not change while the router runs), and the
 * expiry is checked on every hit, so a cached token expires exactly when a verified one
 * would. Refused tokens are never cached. At most `maxEntries` tokens, the least recently used out.
 */
export function createAuthenticator(
  jwt: TokenVerification,
  options: { cache: boolean; maxEntries?: number },
): Authenticator {
  if (!options.cache) return authorization => authenticate(authorization, jwt);
  const verified = new LRUCache<string, Viewer>({ max: options.maxEntries ?? 10_000 });
  return authorization => {
    if (authorization === undefined) return authenticate(authorization, jwt);
    // The expiry is checked here against the clock, to the millisecond; the cache's ttl only
    // lets expired entries go.
    const hit = verified.get(authorization);
    if (hit?.expiresAt != null && hit.expiresAt > Date.now()) return hit;
    const viewer = authenticate(authorization, jwt);
    if (viewer.expiresAt !== null)
      verified.set(authorization, viewer, { ttl: Math.max(1, viewer.expiresAt - Date.now()) });
    return viewer;
  };
}
