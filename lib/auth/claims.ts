import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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
  /** The session (refresh-token family) the access token belongs to; null when anonymous. */
  sessionId: string | null;
  /** The client's address as the router saw it (TRUSTED_PROXIES); null when unknown. */
  clientAddress: string | null;
  /**
   * Whether the viewer's email was verified when their access token was issued (its `ev`
   * claim; a token without one counts as unverified). The router's `EMAIL_VERIFICATION=required`
   * check reads it (router/pipeline.ts); it is not forwarded to subgraphs. Absent when anonymous.
   */
  emailVerified?: boolean;
}

export const ANONYMOUS: Claims = Object.freeze({
  userId: null,
  role: null,
  username: null,
  sessionId: null,
  clientAddress: null,
});

/** Headers the router sets towards subgraphs and strips from anything a client sends. */
export const CLAIM_HEADERS = {
  userId: 'x-user-id',
  role: 'x-user-role',
  username: 'x-user-name',
  sessionId: 'x-user-session',
  clientAddress: 'x-client-address',
  timestamp: 'x-router-timestamp',
  expires: 'x-router-expires',
  /** Random per signing: two identical requests in one millisecond still sign differently. */
  nonce: 'x-router-nonce',
  /**
   * The key a mutation request is recorded under at the subgraph (the client's Idempotency-Key,
   * numbered: router/idempotency.ts); empty when none. Signed, so nobody between router and
   * subgraph can add, change or move it.
   */
  idempotencyKey: 'x-router-idempotency-key',
  signature: 'x-router-signature',
} as const;

/** Where a graphql-ws `subscribe` message carries the viewer's signed claims (the headers of HTTP). */
export const CLAIMS_EXTENSION = 'claims';

export const FORWARDED_HEADER_NAMES: readonly string[] = Object.values(CLAIM_HEADERS);

/**
 * How old a signature may be when it arrives (and how far a clock may run ahead): a captured
 * request can be replayed for no longer than this, and only with the same body to the same
 * subgraph (see `SignatureScope`).
 */
export const SIGNATURE_MAX_AGE_MS = 30_000;

/** The longest life claims may be signed for: a subscription's, renewed before it ends. */
export const MAX_CLAIMS_LIFETIME_MS = 10 * 60_000;

/**
 * What a signature is bound to, besides the claims: the subgraph it is for, and the exact
 * message it travels with (an HTTP body; a `subscribe` message's operation), as a SHA-256
 * digest. Headers captured from one request are worthless for another body or subgraph.
 */
export interface SignatureScope {
  /** The subgraph's name in the supergraph. */
  audience: string;
  /** The request body (or, for a subscription, `subscriptionScope`'s text). */
  body: string;
}

/** The text a subscription's claims are bound to: its operation and variables. */
export const subscriptionScope = (payload: {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}): string =>
  JSON.stringify([payload.query, payload.operationName ?? null, payload.variables ?? {}]);

/** The text a graphql-ws connection's claims are bound to. */
export const CONNECTION_SCOPE = 'graphql-ws connection_init';

const digest = (body: string) => createHash('sha256').update(body).digest('base64url');

function mac(secret: string, fields: readonly string[]): Buffer {
  // Fields are joined with a newline, which none of them may contain (`sign` checks), so two
  // different sets of fields never sign the same bytes.
  return createHmac('sha256', secret).update(fields.join('\n')).digest();
}

/** When a signature was made and ends, and its nonce: the fields besides scope and claims. */
interface Stamp {
  timestamp: string;
  expires: string;
  nonce: string;
}

/**
 * Everything a signature covers, in order; `v3` names this layout (v2 had no idempotency key).
 * A new layout gets a new name, so signatures of two layouts never verify as each other.
 */
const signedFields = (
  stamp: Stamp,
  scope: SignatureScope,
  claims: Claims,
  idempotencyKey: string | null,
) => [
  'v3',
  stamp.timestamp,
  stamp.expires,
  stamp.nonce,
  scope.audience,
  digest(scope.body),
  claims.userId ?? '',
  claims.role ?? '',
  claims.username ?? '',
  claims.sessionId ?? '',
  claims.clientAddress ?? '',
  idempotencyKey ?? '',
];

/**
 * The headers carrying `claims`, signed with HMAC-SHA256 over the claims, the scope (subgraph
 * and body digest) and the time they are valid: from `now` for `lifetimeMs` (default the
 * replay window; a subscription's claims live longer and are renewed). `idempotencyKey`, for
 * a mutation request the client gave a key for, travels signed with them.
 */
export function signClaims(
  claims: Claims,
  secret: string,
  scope: SignatureScope,
  options: { now?: number; lifetimeMs?: number; idempotencyKey?: string | null } = {},
): Record<string, string> {
  const now = options.now ?? Date.now();
  const timestamp = String(now);
  const expires = String(
    now + Math.min(options.lifetimeMs ?? SIGNATURE_MAX_AGE_MS, MAX_CLAIMS_LIFETIME_MS),
  );
  const nonce = randomBytes(12).toString('base64url');
  const idempotencyKey = options.idempotencyKey ?? null;
  const fields = signedFields({ timestamp, expires, nonce }, scope, claims, idempotencyKey);
  if (fields.some(field => field.includes('\n'))) throw new Error('a claim holds a newline');
  return {
    [CLAIM_HEADERS.userId]: claims.userId ?? '',
    [CLAIM_HEADERS.role]: claims.role ?? '',
    [CLAIM_HEADERS.username]: claims.username ?? '',
    [CLAIM_HEADERS.sessionId]: claims.sessionId ?? '',
    [CLAIM_HEADERS.clientAddress]: claims.clientAddress ?? '',
    [CLAIM_HEADERS.timestamp]: timestamp,
    [CLAIM_HEADERS.expires]: expires,
    [CLAIM_HEADERS.nonce]: nonce,
    [CLAIM_HEADERS.idempotencyKey]: idempotencyKey ?? '',
    [CLAIM_HEADERS.signature]: mac(secret, fields).toString('base64url'),
  };
}

export type HeaderSource =
  IncomingHttpHeaders | Record<string, string | undefined> | Map<string, string>;

function header(headers: HeaderSource, name: string): string | undefined {
  const value = headers instanceof Map ? headers.get(name) : headers[name];
  return Array.isArray(value) ? undefined : value;
}

/** Claims that verified, and until when they hold. */
export interface VerifiedClaims {
  claims: Claims;
  /** When the router's word runs out, in ms since the epoch. */
  expiresAt: number;
  /** The signature itself: unique per signing, what a replay cache remembers. */
  signature: string;
  /** The key the router gave this (mutation) request to be recorded under; null when none. */
  idempotencyKey: string | null;
}

/**
 * The claims in `headers` if their signature is valid for this `scope` (this subgraph, this
 * body), was made at most SIGNATURE_MAX_AGE_MS ago (and not in the future), and has not
 * expired; else `null`. A header given twice, a bad role, a malformed time all fail.
 */
export function verifyClaims(
  headers: HeaderSource,
  secret: string,
  scope: SignatureScope,
  now = Date.now(),
): VerifiedClaims | null {
  const get = (name: keyof typeof CLAIM_HEADERS) => header(headers, CLAIM_HEADERS[name]);
  const [timestamp, expires, nonce, signature, key] = [
    get('timestamp'),
    get('expires'),
    get('nonce'),
    get('signature'),
    get('idempotencyKey'),
  ];
  const values = [
    get('userId'),
    get('role'),
    get('username'),
    get('sessionId'),
    get('clientAddress'),
  ];
  if (
    !timestamp ||
    !expires ||
    !nonce ||
    !signature ||
    key === undefined ||
    values.some(v => v === undefined)
  )
    return null;
  if (!/^\d{1,15}$/.test(timestamp) || !/^\d{1,15}$/.test(expires)) return null;
  const [signedAt, expiresAt] = [Number(timestamp), Number(expires)];
  if (Math.abs(now - signedAt) > SIGNATURE_MAX_AGE_MS) return null;
  if (expiresAt < now || expiresAt - signedAt > MAX_CLAIMS_LIFETIME_MS) return null;
  const [userId, role, username, sessionId, clientAddress] = values as string[];
  if (role !== '' && role !== 'USER' && role !== 'ADMIN') return null;
  const claims: Claims = {
    userId: userId || null,
    role: role || null,
    username: username || null,
    sessionId: sessionId || null,
    clientAddress: clientAddress || null,
  };
  if ((claims.userId === null) !== (claims.role === null)) return null;
  const idempotencyKey = key || null;
  const expected = mac(
    secret,
    signedFields({ timestamp, expires, nonce }, scope, claims, idempotencyKey),
  );
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return { claims, expiresAt, signature, idempotencyKey };
}
