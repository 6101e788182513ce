import { afterEach, describe, expect, it, vi } from 'vitest';
import { ANONYMOUS } from '#lib/auth/claims.js';
import { createEvent } from '#lib/events/envelope.js';
import { createLogger } from '#lib/log.js';
import type { Authenticator, Viewer } from './auth.js';
import { refusingRevoked, revocationOf, revocationView } from './revocations.js';

const log = createLogger({ level: 'silent' });
const TTL = 15 * 60_000;
const T0 = Date.parse('2026-12-01T10:00:00Z');
const alice = { userId: 'u-alice', sessionId: 's-1' };

afterEach(() => {
  vi.useRealTimers();
});

describe('the revocation view', () => {
  it('ends one session, and leaves the user’s others alone', () => {
    vi.useFakeTimers({ now: T0 });
    const view = revocationView({ tokenTtlMs: TTL, log });
    view.apply({ userId: 'u-alice', sessionId: 's-1', before: null, revokedAt: T0 });
    expect(view.revoked(alice, T0 - 1_000)).toBe(true);
    expect(view.revoked(alice, T0 + 1_000)).toBe(true); // a session, once ended, stays ended
    expect(view.revoked({ ...alice, sessionId: 's-2' }, T0 - 1_000)).toBe(false);
    expect(view.revoked({ userId: 'u-bob', sessionId: 's-3' }, T0 - 1_000)).toBe(false);
  });

  it('ends every token of a user issued before `before`, and none issued after', () => {
    vi.useFakeTimers({ now: T0 });
    const view = revocationView({ tokenTtlMs: TTL, log });
    view.apply({ userId: 'u-alice', sessionId: null, before: T0, revokedAt: T0 });
    expect(view.revoked(alice, T0 - 1)).toBe(true);
    expect(view.revoked({ ...alice, sessionId: 's-9' }, T0 - 60_000)).toBe(true);
    expect(view.revoked(alice, T0)).toBe(false);
    expect(view.revoked(alice, T0 + 5)).toBe(false);
    // An older `before` arriving late (a snapshot after the event) does not move it back.
    view.apply({ userId: 'u-alice', sessionId: null, before: T0 - 30_000, revokedAt: T0 - 30_000 });
    expect(view.revoked(alice, T0 - 10)).toBe(true);
  });

  it('forgets a revocation once no token it ends can still be valid', () => {
    vi.useFakeTimers({ now: T0 });
    const view = revocationView({ tokenTtlMs: TTL, log });
    view.apply({ userId: 'u-alice', sessionId: 's-1', before: null, revokedAt: T0 });
    view.apply({ userId: 'u-bob', sessionId: null, before: T0, revokedAt: T0 });
    expect(view.size()).toBe(2);
    vi.setSystemTime(T0 + TTL + 59_000); // within the clock-skew margin: still held
    expect(view.revoked(alice, T0 - 1)).toBe(true);
    vi.setSystemTime(T0 + TTL + 61_000);
    expect(view.revoked(alice, T0 - 1)).toBe(false);
    expect(view.size()).toBe(0);
    // One too old to matter is not taken in at all.
    view.apply({ userId: 'u-carol', sessionId: 's-7', before: null, revokedAt: T0 - TTL });
    expect(view.size()).toBe(0);
  });

  it('tells its listeners of each revocation', () => {
    const view = revocationView({ tokenTtlMs: TTL, log });
    const heard: string[] = [];
    const stop = view.onRevoked(r => heard.push(r.userId));
    view.apply({ userId: 'u-alice', sessionId: 's-1', before: null, revokedAt: Date.now() });
    stop();
    view.apply({ userId: 'u-bob', sessionId: 's-2', before: null, revokedAt: Date.now() });
    expect(heard).toEqual(['u-alice']);
  });
});

describe('revocation events', () => {
  it('read both kinds, and nothing else', () => {
    const at = new Date(T0);
    const one = createEvent(
      'user.session_revoked',
      { id: 'u-alice', sessionId: 's-1' },
      { producer: 'users', actorId: 'u-alice', occurredAt: at },
    );
    const all = createEvent(
      'user.sessions_revoked',
      { id: 'u-alice', before: '2026-12-01T09:59:59.500Z' },
      { producer: 'users', actorId: null, occurredAt: at },
    );
    expect(revocationOf(one)).toEqual({
      userId: 'u-alice',
      sessionId: 's-1',
      before: null,
      revokedAt: T0,
    });
    expect(revocationOf(all)).toEqual({
      userId: 'u-alice',
      sessionId: null,
      before: T0 - 500,
      revokedAt: T0,
    });
    const other = createEvent(
      'user.deleted',
      { id: 'u-alice' },
      { producer: 'users', actorId: null },
    );
    expect(revocationOf(other)).toBeUndefined();
  });
});

describe('refusingRevoked', () => {
  const viewer: Viewer = {
    claims: { ...ANONYMOUS, userId: 'u-alice', role: 'USER', username: 'alice', sessionId: 's-1' },
    issuedAt: T0 - 1_000,
    expiresAt: T0 + TTL,
  };
  const anonymous: Viewer = { claims: ANONYMOUS, issuedAt: null, expiresAt: null };
  const plain: Authenticator = authorization => (authorization ? viewer : anonymous);

  it('answers a revoked token with 401 and lets others through', () => {
    vi.useFakeTimers({ now: T0 });
    const view = revocationView({ tokenTtlMs: TTL, log });
    const authenticate = refusingRevoked(plain, view, () => true);
    expect(authenticate('Bearer x', null)).toBe(viewer);
    view.apply({ userId: 'u-alice', sessionId: 's-1', before: null, revokedAt: T0 });
    expect(() => authenticate('Bearer x', null)).toThrow(
      expect.objectContaining({
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      }),
    );
    expect(authenticate(undefined, null)).toBe(anonymous);
  });

  it('answers signed-in callers 503 until the view was loaded, anonymous ones at once', () => {
    const view = revocationView({ tokenTtlMs: TTL, log });
    let loaded = false;
    const authenticate = refusingRevoked(plain, view, () => loaded);
    expect(authenticate(undefined, null)).toBe(anonymous);
    expect(() => authenticate('Bearer x', null)).toThrow(
      expect.objectContaining({
        extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter: 1, http: { status: 503 } },
      }),
    );
    loaded = true;
    expect(authenticate('Bearer x', null)).toBe(viewer);
  });
});
