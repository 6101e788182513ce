import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export type UserRole = 'USER' | 'ADMIN';

/**
 * Who is asking, as the router established it from the access token. An anonymous
 * request has `userId: null`; subgraphs never see a claim that the router did not sign.
 */
export interface Claims {
  userId: string | null;
  role: UserRole | null;
  username: string | null;
}

export const ANONYMOUS: Claims = Object.freeze({ userId: null, role: null, username: null });

/** Headers the router sets towards subgraphs and strips from anything a client sends. */
export const CLAIM_HEADERS = {
  userId: 'x-user-id',
  role: 'x-user-role',
  username: 'x-user-name',
  timestamp: 'x-router-timestamp',
  signature: 'x-router-signature',
} as const;
/** Where a graphql-ws `subscribe` message carries the viewer's signed claims (the headers of HTTP). */
export const CLAIMS_EXTENSION = 'claims';

export const FORWARDED_HEADER_NAMES: readonly string[] = Object.values(CLAIM_HEADERS);

/** How long a signature is accepted after it was made (and how far a clock may run ahead). */
export const SIGNATURE_MAX_AGE_MS = 60_000;

function mac(secret: string, timestamp: string, claims: Claims): Buffer {
  // Fields are joined with a newline, which none of them may contain (ids are uuids,
  // usernames are [a-z0-9_.-]), so two different claim sets never sign the same bytes.
  const payload = [timestamp, claims.userId ?? '', claims.role ?? '', claims.username ?? ''].join(
    '\n',
  );
  return createHmac('sha256', secret).update(payload).digest();
}

/** The headers carrying `claims`, signed with HMAC-SHA256 over the claims and a timestamp. */
export function signClaims(
  claims: Claims,
  secret: string,
  now = Date.now(),
): Record<string, string> {
  const timestamp = String(now);
  return {
    [CLAIM_HEADERS.userId]: claims.userId ?? '',
    [CLAIM_HEADERS.role]: claims.role ?? '',
    [CLAIM_HEADERS.username]: claims.username ?? '',
    [CLAIM_HEADERS.timestamp]: timestamp,
    [CLAIM_HEADERS.signature]: mac(secret, timestamp, claims).toString('base64url'),
  };
}

export type HeaderSource =
  IncomingHttpHeaders | Record<string, string | undefined> | Map<string, string>;

function header(headers: HeaderSource, name: string): string | undefined {
  const value = headers instanceof Map ? headers.get(name) : headers[name];
  return Array.isArray(value) ? undefined : value;
}

/**
 * The claims in `headers` if their signature is valid and fresh, else `null`.
 * A header given twice, a bad role, a stale or future timestamp all fail.
 */
export function verifyClaims(
  headers: HeaderSource,
  secret: string,
  now = Date.now(),
): Claims | null {
  const timestamp = header(headers, CLAIM_HEADERS.timestamp);
  const signature = header(headers, CLAIM_HEADERS.signature);
  const userId = header(headers, CLAIM_HEADERS.userId);
  const role = header(headers, CLAIM_HEADERS.role);
  const username = header(headers, CLAIM_HEADERS.username);
  if (
    !timestamp ||
    !signature ||
    userId === undefined ||
    role === undefined ||
    username === undefined
  )
    return null;
  if (!/^\d{1,15}$/.test(timestamp)) return null;
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_MAX_AGE_MS) return null;
  if (role !== '' && role !== 'USER' && role !== 'ADMIN') return null;
  const claims: Claims = {
    userId: userId || null,
    role: role || null,
    username: username || null,
  };
  if ((claims.userId === null) !== (claims.role === null)) return null;
  const expected = mac(secret, timestamp, claims);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return claims;
}
