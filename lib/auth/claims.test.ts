import { describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  CLAIM_HEADERS,
  SIGNATURE_MAX_AGE_MS,
  signClaims,
  verifyClaims,
  type Claims,
} from './claims.js';

const secret = 'a'.repeat(40);
const alice: Claims = {
  userId: '6f1c1c0e-8c50-4a3e-9a57-2b3c4d5e6f70',
  role: 'USER',
  username: 'alice',
};

describe('signed claims', () => {
  it('round-trips the claims of a user and of an anonymous caller', () => {
    expect(verifyClaims(signClaims(alice, secret), secret)).toEqual(alice);
    expect(verifyClaims(signClaims(ANONYMOUS, secret), secret)).toEqual(ANONYMOUS);
  });

  it('refuses claims that were changed after signing', () => {
    const headers = signClaims(alice, secret);
    expect(verifyClaims({ ...headers, [CLAIM_HEADERS.role]: 'ADMIN' }, secret)).toBeNull();
    expect(verifyClaims({ ...headers, [CLAIM_HEADERS.userId]: 'someone-else' }, secret)).toBeNull();
    expect(verifyClaims({ ...headers, [CLAIM_HEADERS.username]: 'mallory' }, secret)).toBeNull();
  });

  it('refuses a signature made with another secret', () => {
    expect(verifyClaims(signClaims(alice, 'b'.repeat(40)), secret)).toBeNull();
  });

  it('refuses unsigned and partial headers', () => {
    expect(
      verifyClaims(
        { [CLAIM_HEADERS.userId]: alice.userId!, [CLAIM_HEADERS.role]: 'ADMIN' },
        secret,
      ),
    ).toBeNull();
    const { [CLAIM_HEADERS.signature]: _drop, ...unsigned } = signClaims(alice, secret);
    expect(verifyClaims(unsigned, secret)).toBeNull();
  });

  it('accepts a signature for 60 seconds and no longer', () => {
    const now = 1_800_000_000_000;
    const headers = signClaims(alice, secret, now);
    expect(verifyClaims(headers, secret, now + SIGNATURE_MAX_AGE_MS)).toEqual(alice);
    expect(verifyClaims(headers, secret, now + SIGNATURE_MAX_AGE_MS + 1)).toBeNull();
    expect(verifyClaims(headers, secret, now - SIGNATURE_MAX_AGE_MS - 1)).toBeNull();
  });

  it('refuses an unknown role even when signed', () => {
    const headers = signClaims({ ...alice, role: 'ROOT' as 'USER' }, secret);
    expect(verifyClaims(headers, secret)).toBeNull();
  });
});
