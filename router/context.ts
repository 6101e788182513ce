import type { DocumentNode } from 'graphql';
import type { Claims } from '#lib/auth/claims.js';
import type { RequestContext } from '#lib/http.js';
import type { ResponseBudget } from './budget.js';

/** How an operation reached the router. */
export type Transport = 'http' | 'ws' | 'sse' | 'multipart';

/** A subscription the request pipeline accepted: parsed, validated, priced, variables coerced. */
export interface PreparedSubscription {
  document: DocumentNode;
  operationName: string | null;
  /** Coerced variable values. */
  variables: Record<string, unknown>;
  context: RouterContext;
}

/**
 * The context of one client operation at the router, over every transport alike: the
 * request id and logger every service has, the verified viewer's claims that the data
 * sources sign onto each subgraph request, and how it arrived.
 */
export interface RouterContext extends RequestContext {
  claims: Claims;
  transport: Transport;
  /** What the operation may read from subgraphs (MAX_RESPONSE_BYTES, budget.ts). */
  budget: ResponseBudget;
  /** The client's Idempotency-Key (HTTP only: idempotency.ts); absent or null when none. */
  idempotencyKey?: string | null;
  /**
   * Set by a transport that can stream (graphql-ws, SSE, multipart HTTP): the pipeline hands
   * it the subscription it accepted, instead of executing it. Absent on plain HTTP, where a
   * subscription is refused before it runs.
   */
  subscriptions?: { accept(prepared: PreparedSubscription): void };
}
