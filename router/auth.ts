import { ANONYMOUS, type Claims } from '#lib/auth/claims.js';
import {
  bearerToken,
  InvalidTokenError,
  verifyAccessToken,
  type JwtOptions,
} from '#lib/auth/jwt.js';
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
 * would. Refused tokens are never cached. At most `maxEntries` tokens, oldest first out.
 */
export function createAuthenticator(
  jwt: TokenVerification,
  options: { cache: boolean; maxEntries?: number },
): Authenticator {
  if (!options.cache) return authorization => authenticate(authorization, jwt);
  const maxEntries = options.maxEntries ?? 10_000;
  const verified = new Map<string, Viewer>();
  return authorization => {
    if (authorization === undefined) return authenticate(authorization, jwt);
    const hit = verified.get(authorization);
    if (hit?.expiresAt != null && hit.expiresAt > Date.now()) return hit;
    if (hit) verified.delete(authorization);
    const viewer = authenticate(authorization, jwt);
    if (viewer.expiresAt !== null) {
      if (verified.size >= maxEntries) {
        const oldest = verified.keys().next();
        if (!oldest.done) verified.delete(oldest.value);
      }
      verified.set(authorization, viewer);
    }
    return viewer;
  };
}
