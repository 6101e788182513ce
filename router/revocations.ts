import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { ANONYMOUS, signClaims } from '#lib/auth/claims.js';
import { error, ErrorCode, unauthenticated } from '#lib/errors.js';
import type { EventBus } from '#lib/events/bus.js';
import type { AnyEvent } from '#lib/events/envelope.js';
import type { Logger } from '#lib/log.js';
import type { Authenticator, Viewer } from './auth.js';

/**
 * A revocation as the users service announces it (docs/events.md): the access tokens of one
 * session (`sessionId`), or every one of the user issued before `before` (ms since the epoch).
 */
export interface Revocation {
  userId: string;
  sessionId: string | null;
  before: number | null;
  /** When it was made, in ms since the epoch: it matters for one access-token lifetime. */
  revokedAt: number;
}

/** The subgraph that issues tokens and announces their revocations. */
export const IDENTITY_SUBGRAPH = 'users';

/** How many revocations a router holds at most (per kind); see `revocationView`. */
const MAX_REVOCATIONS = 200_000;
/** Clocks of the users replicas and the routers may differ by this much. */
const CLOCK_SKEW_MS = 60_000;

export interface RevocationView {
  /** Whether a token of this user and session, issued at `issuedAt`, has been revoked. */
  revoked(claims: { userId: string | null; sessionId: string | null }, issuedAt: number): boolean;
  /** Takes a revocation in; `onRevoked` listeners hear of it. */
  apply(revocation: Revocation): void;
  /** Calls `listener` after each revocation taken in; returns the unsubscribe. */
  onRevoked(listener: (revocation: Revocation) => void): () => void;
  /** Revocations held now (tests, metrics). */
  size(): number;
}

/**
 * The revocations of the last access-token lifetime (`tokenTtlMs`), in memory: a revoked
 * session by its id, and per user the latest `before`. Each is kept only while a token it
 * ends could still be unexpired (its time plus the token lifetime plus clock skew), and at most
 * MAX_REVOCATIONS of each: beyond, the oldest is forgotten and a warning logged (a revoked
 * token could then work again until its `exp`; 200,000 revocations within one token lifetime
 * is far beyond what this service expects).
 */
export function revocationView(options: { tokenTtlMs: number; log: Logger }): RevocationView {
  const keepFor = (at: number) => at + options.tokenTtlMs + CLOCK_SKEW_MS - Date.now();
  const dispose = (_value: unknown, key: string, reason: string) => {
    if (reason === 'evict') options.log.warn({ key }, 'revocation forgotten: the view is full');
  };
  // Wall-clock time, as the revocations' own times are, read at every check.
  const clock = { perf: { now: () => Date.now() }, ttlResolution: 0 };
  const sessions = new LRUCache<string, true>({ max: MAX_REVOCATIONS, dispose, ...clock });
  const before = new LRUCache<string, number>({ max: MAX_REVOCATIONS, dispose, ...clock });
  const listeners = new Set<(revocation: Revocation) => void>();
  return {
    revoked(claims, issuedAt) {
      if (!claims.userId) return false;
      if (claims.sessionId && sessions.has(claims.sessionId)) return true;
      const cutoff = before.get(claims.userId);
      return cutoff !== undefined && issuedAt < cutoff;
    },
    apply(revocation) {
      const ttl = keepFor(revocation.revokedAt);
      if (ttl <= 0) return;
      if (revocation.sessionId) sessions.set(revocation.sessionId, true, { ttl });
      if (revocation.before !== null) {
        const current = before.get(revocation.userId);
        if (current === undefined || current < revocation.before) {
          before.set(revocation.userId, revocation.before, {
            ttl: keepFor(Math.max(revocation.before, revocation.revokedAt)),
          });
        }
      }
      for (const listener of listeners) listener(revocation);
    },
    onRevoked(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    size: () => {
      sessions.purgeStale();
      before.purgeStale();
      return sessions.size + before.size;
    },
  };
}

/** The revocation an event announces; `undefined` for any other event. */
export function revocationOf(event: AnyEvent): Revocation | undefined {
  const revokedAt = Date.parse(event.occurredAt);
  if (event.type === 'user.session_revoked') {
    return { userId: event.data.id, sessionId: event.data.sessionId, before: null, revokedAt };
  }
  if (event.type === 'user.sessions_revoked') {
    return {
      userId: event.data.id,
      sessionId: null,
      before: Date.parse(event.data.before),
      revokedAt,
    };
  }
  return undefined;
}

/**
 * The authenticator that also refuses revoked tokens (401 UNAUTHENTICATED), and, until the
 * view was loaded once, any signed-in caller (503 SERVICE_UNAVAILABLE): a router that does not
 * know the revocations yet does not let a revoked token through in the meantime.
 */
export function refusingRevoked(
  authenticate: Authenticator,
  view: RevocationView,
  loaded: () => boolean,
): Authenticator {
  return (authorization, clientAddress) => {
    const viewer = authenticate(authorization, clientAddress);
    if (viewer.issuedAt === null) return viewer;
    if (!loaded()) {
      throw error(
        ErrorCode.SERVICE_UNAVAILABLE,
        'The router is starting: try again in a moment',
        { retryAfter: 1 },
        503,
      );
    }
    if (view.revoked(viewer.claims, viewer.issuedAt)) {
      throw unauthenticated('This session has ended: sign in again', 401);
    }
    return viewer;
  };
}

/** Whether `viewer` (a socket's, say) has been revoked. */
export const isRevoked = (view: RevocationView, viewer: Viewer): boolean =>
  viewer.issuedAt !== null && view.revoked(viewer.claims, viewer.issuedAt);

const REVOCATIONS_QUERY = '{ _revocations { userId sessionId before revokedAt } }';
const snapshotSchema = z.object({
  data: z.object({
    _revocations: z.array(
      z.object({
        userId: z.string(),
        sessionId: z.string().nullable(),
        before: z.string().nullable(),
        revokedAt: z.string(),
      }),
    ),
  }),
});

/** Reads the users service's recent revocations (`_revocations`, hidden from the API). */
async function fetchRevocations(url: string, secret: string): Promise<Revocation[]> {
  const body = JSON.stringify({ query: REVOCATIONS_QUERY });
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...signClaims(ANONYMOUS, secret, { audience: IDENTITY_SUBGRAPH, body }),
    },
    body,
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`${IDENTITY_SUBGRAPH} answered ${res.status} to _revocations`);
  const parsed = snapshotSchema.parse(await res.json());
  return parsed.data._revocations.map(r => ({
    userId: r.userId,
    sessionId: r.sessionId,
    before: r.before === null ? null : Date.parse(r.before),
    revokedAt: Date.parse(r.revokedAt),
  }));
}

export interface RevocationFeed {
  view: RevocationView;
  /** Whether the view was loaded from the users service at least once. */
  loaded: () => boolean;
  /** Throws until the view was loaded (readiness). */
  ready(): void;
  stop(): Promise<void>;
}

/**
 * Keeps `view` current: the revocation events of this process's live fan-out (every router
 * replica has its own queue, so each sees every revocation), and the users service's list of
 * recent ones read at start, after the live queue was re-established (events may have passed
 * while it was gone), and every `pollMs` while the broker is unreachable (revocations then
 * wait in the users service's outbox; the list has them already).
 */
export async function startRevocationFeed(options: {
  bus: EventBus;
  /** The users subgraph's GraphQL URL. */
  usersUrl: string;
  routerSecret: string;
  view: RevocationView;
  log: Logger;
  /** The users service runs in another process (the router's own entry point). */
  standalone: boolean;
  pollMs?: number;
}): Promise<RevocationFeed> {
  // An in-process bus hears the users service only when it runs in this process (npm start);
  // a router on its own without AMQP_URL reads the list every `pollMs` instead.
  const log = options.log.child({ component: 'revocations' });
  let loaded = false;
  let stopped = false;
  let loading: Promise<void> | undefined;
  const attempt = async (): Promise<boolean> => {
    try {
      const revocations = await fetchRevocations(options.usersUrl, options.routerSecret);
      for (const revocation of revocations) options.view.apply(revocation);
      if (!loaded) log.info({ revocations: revocations.length }, 'revocations loaded');
      loaded = true;
      return true;
    } catch (err) {
      log.warn({ err }, 'cannot read revocations from users; retrying');
      return false;
    }
  };
  /** Reads the list until it succeeds (one reader at a time). */
  const load = (): Promise<void> =>
    (loading ??= (async () => {
      for (let n = 0; !stopped && !(await attempt()); n++) {
        await new Promise(resolve => setTimeout(resolve, Math.min(2_000, 100 * 2 ** n)));
      }
    })().finally(() => (loading = undefined)));

  const consumer = await options.bus.live({
    bindings: ['user.session_revoked', 'user.sessions_revoked'],
    onEvent: event => {
      const revocation = revocationOf(event);
      if (revocation) options.view.apply(revocation);
    },
    onResumed: () => {
      log.info('live feed resumed: reading revocations again');
      void load();
    },
  });
  const poll = setInterval(() => {
    if (options.bus.transport === 'memory' ? options.standalone : !options.bus.connected()) {
      void load();
    }
  }, options.pollMs ?? 5_000);
  poll.unref();
  // The first read is waited for, so a normal start never answers 503; a router whose users
  // service is not up yet starts anyway (503 for signed-in callers) and keeps trying.
  if (!(await attempt())) void load();
  return {
    view: options.view,
    loaded: () => loaded,
    ready: () => {
      if (!loaded) throw new Error('revocations not loaded yet');
    },
    stop: async () => {
      stopped = true;
      clearInterval(poll);
      await consumer.stop();
    },
  };
}
