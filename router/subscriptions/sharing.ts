import type { ExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { CacheHint, CachePolicy } from '@apollo/cache-control-types';

/**
 * The longest one viewer's resolution of an event serves other viewers, whatever max-age the
 * subgraphs allow: enough for one event's fan-out to every subscriber, too short for anything
 * stale to linger.
 */
const SHARE_MS = 1_000;
/** How long an operation whose resolutions depend on the viewer is not offered for sharing. */
const PRIVATE_FOR_MS = 60_000;
/** Bounds on what is remembered for sharing. */
const MAX_SHARED = 10_000;

/** A resolved event, and for how long (ms) it may serve other viewers (0: not at all). */
export interface Resolution {
  result: ExecutionResult;
  shareableForMs: number;
  /** A subgraph answered PRIVATE or without a max-age: the answer depends on the viewer. */
  private: boolean;
}

/**
 * A new overall cache policy, as Apollo Server keeps one per request: the gateway's data
 * sources restrict it with each subgraph response's `Cache-Control`
 * (`honorSubgraphCacheControlHeader`; a response without one restricts it to max-age 0).
 * The same rules as Apollo Server's own `newCachePolicy`, which it does not export.
 */
export function newCachePolicy(): CachePolicy {
  return {
    maxAge: undefined,
    scope: undefined,
    restrict(hint: CacheHint) {
      if (hint.maxAge !== undefined && (this.maxAge === undefined || hint.maxAge < this.maxAge))
        this.maxAge = hint.maxAge;
      if (hint.scope !== undefined && this.scope !== 'PRIVATE') this.scope = hint.scope;
    },
    replace(hint: CacheHint) {
      if (hint.maxAge !== undefined) this.maxAge = hint.maxAge;
      if (hint.scope !== undefined) this.scope = hint.scope;
    },
    policyIfCacheable() {
      if (this.maxAge === undefined || this.maxAge === 0) return null;
      return { maxAge: this.maxAge, scope: this.scope ?? 'PUBLIC' };
    },
  };
}

/**
 * How far a resolution may serve other viewers, from the policy its subgraph fetches left.
 * `rest`: the plan fetches beyond the event. When no subgraph answered (no `rest`, or only
 * null entities to fetch, so the policy was never touched) the result is the event's own,
 * the same for everyone. A failed resolution is its own bad luck: not shared, but no sign
 * that the operation is private.
 */
export function shareabilityOf(
  policy: CachePolicy,
  { rest, failed }: { rest: boolean; failed: boolean },
): Omit<Resolution, 'result'> {
  const touched = policy.maxAge !== undefined || policy.scope !== undefined;
  const cacheable =
    rest && touched
      ? policy.policyIfCacheable()
      : { maxAge: Number.POSITIVE_INFINITY, scope: 'PUBLIC' };
  const isPublic = cacheable?.scope === 'PUBLIC';
  return {
    shareableForMs:
      !failed && cacheable && isPublic ? Math.min(SHARE_MS, cacheable.maxAge * 1_000) : 0,
    private: !failed && !isPublic,
  };
}

/** How the events of upstream subscriptions are resolved for their viewers. */
export interface EventSharing {
  /**
   * The result of `upstream`, an event of the operation `operationKey` (document and
   * variables). `resolveOwn` resolves it for this viewer; it never rejects.
   */
  resolve(
    operationKey: string,
    upstream: ExecutionResult,
    resolveOwn: (upstream: ExecutionResult) => Promise<Resolution>,
  ): Promise<ExecutionResult>;
  /** Events answered with another viewer's identical resolution. */
  eventsShared(): number;
}

/**
 * Every viewer subscribed to the same operation gets its own upstream subscription (the
 * subgraph decides what each may see), so one change reaches the router once per viewer,
 * as identical events when they saw the same thing. Resolving each of them through `rest`
 * would ask the other subgraphs the same question once per viewer: with a thousand viewers,
 * a thousand identical `_entities` requests per event. So an event is resolved once, and its
 * result serves every identical event of the same operation (same document and variables)
 * that arrives while it is in flight or within the shorter of its max-age and `SHARE_MS` —
 * but only when every subgraph in `rest` answered PUBLIC with a max-age (Apollo's
 * `@cacheControl` hints, e.g. `User.displayName`): then the answer cannot depend on who asked.
 * A resolution that turns out PRIVATE serves no one else: the viewers that waited on it
 * resolve their own, and the operation is not offered for sharing for a while. One with
 * errors (a subgraph down) is not shared either; the next event is offered again.
 */
export function shareResolutions(): EventSharing {
  /** Resolutions in flight or still shareable, by operation and event; expire by ttl. */
  const resolutions = new LRUCache<string, Promise<Resolution>>({
    max: MAX_SHARED,
    ttl: SHARE_MS,
  });
  /** Operations whose last resolution depended on its viewer, for PRIVATE_FOR_MS. */
  const privateOperations = new LRUCache<string, true>({ max: MAX_SHARED, ttl: PRIVATE_FOR_MS });
  let eventsShared = 0;

  return {
    eventsShared: () => eventsShared,
    resolve: async (operationKey, upstream, resolveOwn) => {
      if (!upstream.data || upstream.errors?.length || privateOperations.has(operationKey))
        return (await resolveOwn(upstream)).result;
      const key = `${operationKey}\n${JSON.stringify(upstream.data)}`;
      const existing = resolutions.get(key);
      if (existing) {
        const theirs = await existing;
        if (theirs.shareableForMs > 0) {
          eventsShared += 1;
          return theirs.result;
        }
        return (await resolveOwn(upstream)).result;
      }
      const started = Date.now();
      const resolution = resolveOwn(upstream);
      resolutions.set(key, resolution);
      const own = await resolution;
      // Still ours (not evicted, not expired): it serves others for what is left of its time.
      const ours = resolutions.peek(key) === resolution;
      const remaining = Math.min(started + SHARE_MS, Date.now() + own.shareableForMs) - Date.now();
      if (own.shareableForMs > 0) {
        if (ours && remaining > 0) resolutions.set(key, resolution, { ttl: remaining });
        else if (ours) resolutions.delete(key);
      } else {
        if (ours) resolutions.delete(key);
        if (own.private) privateOperations.set(operationKey, true);
      }
      return own.result;
    },
  };
}
