import { createAuthenticator } from '../router/auth.js';
import { createSubgraphDataSource } from '../router/datasource.js';
import type { SubgraphFetcher } from '../router/fetcher.js';
import type { RouterOptions, RouterParts } from '../router/server.js';
import type { EventSharing } from '../router/subscriptions/sharing.js';

/**
 * Subgraph requests through the global fetch, as the gateway made them before issue #7:
 * WHATWG Request/Response wrapping, the subgraph timeout as an AbortSignal, nothing shared
 * (`shareInFlight` is only a permission).
 */
const globalFetch = (timeoutMs: number): SubgraphFetcher => ({
  fetch: (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
  close: () => {},
});

/** Every event resolved for its own viewer, however many others resolve the same. */
const resolveAlone: EventSharing = {
  resolve: async (_operationKey, upstream, resolveOwn) => (await resolveOwn(upstream)).result,
  eventsShared: () => 0,
};

/**
 * The "before" router of `npm run bench`: the router's own trust boundary (token
 * verification, signed claims, metrics) on the plain gateway: the global fetch, every entity
 * fetch sent on its own, every subscription event resolved per viewer. (Tokens are verified
 * as in production, with the secret imported once: that is how jsonwebtoken is meant to be
 * used, not an optimisation to measure.)
 */
export function beforeParts(options: RouterOptions): RouterParts {
  const fetcher = globalFetch(options.subgraphTimeoutMs);
  return {
    authenticate: createAuthenticator(options.jwt),
    dataSource: ({ name, url }) =>
      createSubgraphDataSource({ name, url, secret: options.routerSecret, fetcher }),
    sharing: resolveAlone,
    close: () => fetcher.close(),
  };
}
