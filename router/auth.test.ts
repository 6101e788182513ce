import jsonwebtoken from 'jsonwebtoken';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueAccessToken, jwtSecretKey } from '#lib/auth/jwt.js';
import { createAuthenticator } from './auth.js';

const jwt = { secret: jwtSecretKey('a'.repeat(40)), issuer: 'supergraph', audience: 'supergraph' };
const SESSION = '0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e';
const token = (ttl = 60) =>
  issueAccessToken(
    { id: '6f1c2b8e-1d3a-4a55-9a5e-0d6f6a1b2c3d', role: 'USER', username: 'alice' },
    SESSION,
    { ...jwt, accessTokenTtl: ttl },
  ).token;

afterEach(() => {
  vi.useRealTimers();
});

describe('createAuthenticator', () => {
  it('answers the viewer of a token until it expires, then 401 UNAUTHENTICATED', () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const authenticate = createAuthenticator(jwt);
    const header = `Bearer ${token(60)}`;
    const alice = {
      userId: '6f1c2b8e-1d3a-4a55-9a5e-0d6f6a1b2c3d',
      role: 'USER',
      username: 'alice',
      sessionId: SESSION,
      clientAddress: '192.0.2.7',
      emailVerified: false,
    };
    expect(authenticate(header, '192.0.2.7')).toEqual({
      claims: alice,
      issuedAt: Date.parse('2026-01-01T00:00:00Z'),
      expiresAt: Date.parse('2026-01-01T00:01:00Z'),
    });
    vi.setSystemTime(new Date('2026-01-01T00:00:59.999Z'));
    expect(authenticate(header, '192.0.2.7').claims).toEqual(alice);
    vi.setSystemTime(new Date('2026-01-01T00:01:00Z')); // exactly at exp
    expect(() => authenticate(header, '192.0.2.7')).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/expired/i),
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      }),
    );
  });

  it('never remembers a refused token, and anonymous stays anonymous', () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const authenticate = createAuthenticator(jwt);
    // Refused now (not valid before 30 s from now), accepted later: a remembered refusal
    // would still refuse it then.
    const notYetValid = `Bearer ${jsonwebtoken.sign(
      { role: 'USER', username: 'alice', sid: SESSION, iat_ms: Date.now() },
      jwt.secret,
      {
        algorithm: 'HS256',
        subject: '6f1c2b8e-1d3a-4a55-9a5e-0d6f6a1b2c3d',
        issuer: jwt.issuer,
        audience: jwt.audience,
        notBefore: 30,
        expiresIn: 60,
      },
    )}`;
    expect(() => authenticate(notYetValid, null)).toThrow(/invalid access token/i);
    vi.setSystemTime(new Date('2026-01-01T00:00:31Z'));
    expect(authenticate(notYetValid, null).claims.username).toBe('alice');
    expect(authenticate(undefined, '192.0.2.7').claims).toMatchObject({
      userId: null,
      clientAddress: '192.0.2.7',
    });
  });
});
