import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import {
  bearerToken,
  InvalidTokenError,
  issueAccessToken,
  jwtSecretKey,
  verifyAccessToken,
} from './jwt.js';

const options = {
  secret: 's'.repeat(40),
  issuer: 'supergraph',
  audience: 'supergraph',
  accessTokenTtl: 900,
};
const user = {
  id: '6f1c1c0e-8c50-4a3e-9a57-2b3c4d5e6f70',
  role: 'ADMIN' as const,
  username: 'alice',
};
const sessionId = '0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e';

describe('access tokens', () => {
  it('carries sub, role, username, session and issue time, valid for the configured time', () => {
    const now = Date.now();
    const { token, expiresIn } = issueAccessToken(user, sessionId, options, now);
    expect(expiresIn).toBe(900);
    const verified = verifyAccessToken(token, options);
    expect(verified.claims).toEqual({
      userId: user.id,
      role: 'ADMIN',
      username: 'alice',
      sessionId,
      emailVerified: false,
    });
    expect(verified.issuedAt).toBe(now);
    expect(verified.expiresAt - Date.now()).toBeGreaterThan(890_000);
    const decoded = jwt.decode(token, { complete: true });
    expect(decoded?.header.alg).toBe('HS256');
    expect(decoded?.payload).toMatchObject({ iss: 'supergraph', aud: 'supergraph', sub: user.id });
  });

  it('carries whether the email is verified; a token without the claim counts as unverified', () => {
    const verified = issueAccessToken({ ...user, emailVerified: true }, sessionId, options).token;
    expect(verifyAccessToken(verified, options).claims.emailVerified).toBe(true);
    expect(jwt.decode(verified)).toMatchObject({ ev: true });
    const now = Date.now();
    const old = jwt.sign(
      { role: 'USER', username: 'alice', sid: sessionId, iat: Math.floor(now / 1000), iat_ms: now },
      options.secret,
      {
        algorithm: 'HS256',
        subject: user.id,
        issuer: options.issuer,
        audience: options.audience,
        expiresIn: 60,
      },
    );
    expect(verifyAccessToken(old, options).claims.emailVerified).toBe(false);
  });

  it('signs and verifies with the key of a secret as with the secret itself', () => {
    const keyed = { ...options, secret: jwtSecretKey(options.secret) };
    const byKey = issueAccessToken(user, sessionId, keyed).token;
    const bySecret = issueAccessToken(user, sessionId, options).token;
    expect(verifyAccessToken(byKey, options).claims).toEqual(
      verifyAccessToken(bySecret, keyed).claims,
    );
    expect(() =>
      verifyAccessToken(byKey, { ...keyed, secret: jwtSecretKey('x'.repeat(40)) }),
    ).toThrow(InvalidTokenError);
  });

  const refused: Array<[string, () => string]> = [
    [
      'a token signed with another secret',
      () => issueAccessToken(user, sessionId, { ...options, secret: 'x'.repeat(40) }).token,
    ],
    [
      'an expired token',
      () =>
        jwt.sign({ role: 'USER', username: 'a' }, options.secret, {
          subject: user.id,
          issuer: 'supergraph',
          audience: 'supergraph',
          expiresIn: -10,
        }),
    ],
    [
      'a wrong audience',
      () => issueAccessToken(user, sessionId, { ...options, audience: 'elsewhere' }).token,
    ],
    [
      'a wrong issuer',
      () => issueAccessToken(user, sessionId, { ...options, issuer: 'elsewhere' }).token,
    ],
    [
      'alg none',
      () =>
        jwt.sign(
          { role: 'ADMIN', username: 'a', sub: user.id, iss: 'supergraph', aud: 'supergraph' },
          '',
          { algorithm: 'none' },
        ),
    ],
    [
      'HS512',
      () =>
        jwt.sign({ role: 'ADMIN', username: 'a' }, options.secret, {
          algorithm: 'HS512',
          subject: user.id,
          issuer: 'supergraph',
          audience: 'supergraph',
          expiresIn: 60,
        }),
    ],
    [
      'a tampered payload',
      () => {
        const [h, , s] = issueAccessToken(user, sessionId, options).token.split('.');
        const payload = Buffer.from(
          JSON.stringify({
            sub: user.id,
            role: 'ADMIN',
            username: 'x',
            iss: 'supergraph',
            aud: 'supergraph',
            exp: 9e9,
          }),
        ).toString('base64url');
        return `${h}.${payload}.${s}`;
      },
    ],
    [
      'an unknown role',
      () =>
        jwt.sign({ role: 'ROOT', username: 'a' }, options.secret, {
          subject: user.id,
          issuer: 'supergraph',
          audience: 'supergraph',
          expiresIn: 60,
        }),
    ],
    [
      'a token without a session',
      () =>
        jwt.sign({ role: 'USER', username: 'a', iat_ms: Date.now() }, options.secret, {
          subject: user.id,
          issuer: 'supergraph',
          audience: 'supergraph',
          expiresIn: 60,
        }),
    ],
    [
      'a token without its issue time in ms',
      () =>
        jwt.sign({ role: 'USER', username: 'a', sid: sessionId }, options.secret, {
          subject: user.id,
          issuer: 'supergraph',
          audience: 'supergraph',
          expiresIn: 60,
        }),
    ],
    ['garbage', () => 'not.a.token'],
  ];
  it.each(refused)('refuses %s', (_name, make) => {
    expect(() => verifyAccessToken(make(), options)).toThrow(InvalidTokenError);
  });

  it('reads bearer headers', () => {
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(() => bearerToken('Basic dXNlcjpwYXNz')).toThrow(InvalidTokenError);
    expect(() => bearerToken('Bearer')).toThrow(InvalidTokenError);
  });
});
