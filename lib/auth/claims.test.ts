import { describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  CLAIM_HEADERS,
  MAX_CLAIMS_LIFETIME_MS,
  SIGNATURE_MAX_AGE_MS,
  signClaims,
  subscriptionScope,
  verifyClaims,
  type Claims,
  type SignatureScope,
} from './claims.js';

const secret = 'a'.repeat(40);
const alice: Claims = {
  userId: '6f1c1c0e-8c50-4a3e-9a57-2b3c4d5e6f70',
  role: 'USER',
  username: 'alice',
  sessionId: '0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e',
  clientAddress: '192.0.2.7',
};
const scope: SignatureScope = { audience: 'tasks', body: '{"query":"{ me { id } }"}' };
const claimsOf = (headers: Record<string, string | undefined>, at?: number, s = scope) =>
  verifyClaims(headers, secret, s, at)?.claims ?? null;

describe('signed claims', () => {
  it('round-trips the claims of a user and of an anonymous caller', () => {
    expect(claimsOf(signClaims(alice, secret, scope))).toEqual(alice);
    expect(claimsOf(signClaims(ANONYMOUS, secret, scope))).toEqual(ANONYMOUS);
  });

  it('refuses claims that were changed after signing', () => {
    const headers = signClaims(alice, secret, scope);
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.role]: 'ADMIN' })).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.userId]: 'someone-else' })).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.username]: 'mallory' })).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.sessionId]: 'another-session' })).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.clientAddress]: '198.51.100.1' })).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.nonce]: 'another-nonce' })).toBeNull();
  });

  it('binds a signature to its subgraph and its exact body', () => {
    const headers = signClaims(alice, secret, scope);
    expect(claimsOf(headers, undefined, { ...scope, audience: 'users' })).toBeNull();
    expect(claimsOf(headers, undefined, { ...scope, body: `${scope.body} ` })).toBeNull();
    expect(
      claimsOf(headers, undefined, { ...scope, body: '{"query":"mutation { deleteUser }"}' }),
    ).toBeNull();
  });

  it('binds a subscription to its operation and variables', () => {
    const payload = { query: 'subscription($id: ID!) { taskUpdated(id: $id) { id } }' };
    const mine = {
      audience: 'tasks',
      body: subscriptionScope({ ...payload, variables: { id: '1' } }),
    };
    const theirs = {
      audience: 'tasks',
      body: subscriptionScope({ ...payload, variables: { id: '2' } }),
    };
    const headers = signClaims(alice, secret, mine);
    expect(claimsOf(headers, undefined, mine)).toEqual(alice);
    expect(claimsOf(headers, undefined, theirs)).toBeNull();
  });

  it('signs two identical requests differently', () => {
    const now = 1_800_000_000_000;
    const a = signClaims(alice, secret, scope, { now });
    const b = signClaims(alice, secret, scope, { now });
    expect(a[CLAIM_HEADERS.signature]).not.toBe(b[CLAIM_HEADERS.signature]);
    expect(verifyClaims(a, secret, scope, now)?.signature).toBe(a[CLAIM_HEADERS.signature]);
  });

  it('refuses a signature made with another secret', () => {
    expect(claimsOf(signClaims(alice, 'b'.repeat(40), scope))).toBeNull();
  });

  it('refuses unsigned, partial and doubled headers', () => {
    expect(
      claimsOf({ [CLAIM_HEADERS.userId]: alice.userId!, [CLAIM_HEADERS.role]: 'ADMIN' }),
    ).toBeNull();
    const { [CLAIM_HEADERS.signature]: _drop, ...unsigned } = signClaims(alice, secret, scope);
    expect(claimsOf(unsigned)).toBeNull();
    const headers = signClaims(alice, secret, scope);
    const doubled = { ...headers, [CLAIM_HEADERS.role]: ['USER', 'ADMIN'] };
    expect(verifyClaims(doubled, secret, scope)).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.timestamp]: '1e12' })).toBeNull();
    expect(claimsOf({ ...headers, [CLAIM_HEADERS.signature]: '' })).toBeNull();
  });

  it('accepts a request signature for 30 seconds and no longer, nor from the future', () => {
    const now = 1_800_000_000_000;
    const headers = signClaims(alice, secret, scope, { now });
    expect(claimsOf(headers, now + SIGNATURE_MAX_AGE_MS)).toEqual(alice);
    expect(claimsOf(headers, now + SIGNATURE_MAX_AGE_MS + 1)).toBeNull();
    expect(claimsOf(headers, now - SIGNATURE_MAX_AGE_MS - 1)).toBeNull();
  });

  it('reports when longer-lived claims end, and caps their life', () => {
    const now = 1_800_000_000_000;
    const headers = signClaims(alice, secret, scope, { now, lifetimeMs: 120_000 });
    expect(verifyClaims(headers, secret, scope, now)?.expiresAt).toBe(now + 120_000);
    const capped = signClaims(alice, secret, scope, { now, lifetimeMs: 86_400_000 });
    expect(verifyClaims(capped, secret, scope, now)?.expiresAt).toBe(now + MAX_CLAIMS_LIFETIME_MS);
  });

  it('refuses an unknown role, or a user without one, even when signed', () => {
    expect(claimsOf(signClaims({ ...alice, role: 'ROOT' as 'USER' }, secret, scope))).toBeNull();
    expect(claimsOf(signClaims({ ...alice, role: null }, secret, scope))).toBeNull();
  });

  it('refuses to sign a claim that holds a newline', () => {
    expect(() => signClaims({ ...alice, username: 'alice\nADMIN' }, secret, scope)).toThrow();
    expect(() => signClaims(alice, secret, scope, { idempotencyKey: '1:a\nb' })).toThrow();
  });

  it('carries an idempotency key under the signature: none can be added, changed or dropped', () => {
    const keyed = signClaims(alice, secret, scope, { idempotencyKey: '1:retry-me' });
    expect(verifyClaims(keyed, secret, scope)).toMatchObject({
      claims: alice,
      idempotencyKey: '1:retry-me',
    });
    const unkeyed = signClaims(alice, secret, scope);
    expect(verifyClaims(unkeyed, secret, scope)?.idempotencyKey).toBeNull();
    const key = CLAIM_HEADERS.idempotencyKey;
    expect(claimsOf({ ...unkeyed, [key]: '1:added' })).toBeNull();
    expect(claimsOf({ ...keyed, [key]: '2:retry-me' })).toBeNull();
    expect(claimsOf({ ...keyed, [key]: '' })).toBeNull();
    const { [key]: _dropped, ...without } = keyed;
    expect(claimsOf(without)).toBeNull();
  });
});
