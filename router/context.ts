import type { Claims } from '#lib/auth/claims.js';
import type { RequestContext } from '#lib/http.js';

/**
 * The context of one client operation at the router, over HTTP and WebSocket alike: the
 * request id and logger every service has, and the verified viewer's claims that the data
 * sources sign onto each subgraph request.
 */
export interface RouterContext extends RequestContext {
  claims: Claims;
}
