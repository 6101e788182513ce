import type { IncomingMessage } from 'node:http';
import { error, ErrorCode } from '#lib/errors.js';
import type { RouterContext } from './context.js';

/**
 * The router's half of idempotent retries (README, "Idempotent retries"): the client's
 * `Idempotency-Key` header, checked, and forwarded with the signed claims of each mutation
 * request the operation's plan sends; every subgraph records its own part under it
 * (lib/subgraph/idempotency.ts).
 */

const IDEMPOTENCY_HEADER = 'idempotency-key';
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** Printable ASCII, space to tilde: what every HTTP stack carries unchanged. */
const PRINTABLE = /^[\x20-\x7e]+$/;

/**
 * The request's `Idempotency-Key`, or null when it has none. One value of 1 to 255 printable
 * ASCII characters; anything else (empty, too long, control or non-ASCII characters, the
 * header given twice) is BAD_USER_INPUT (HTTP 400) whatever the operation, so a client learns
 * of a broken key before it matters. A valid key on a query or a subscription is ignored.
 */
export function idempotencyKeyOf(req: IncomingMessage): string | null {
  const values = req.headersDistinct[IDEMPOTENCY_HEADER];
  if (values === undefined) return null;
  const refuse = (why: string) =>
    error(ErrorCode.BAD_USER_INPUT, `Idempotency-Key ${why}`, { field: IDEMPOTENCY_HEADER }, 400);
  const [key, ...more] = values;
  if (key === undefined || more.length > 0) throw refuse('must be given once');
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    throw refuse(`must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long`);
  if (!PRINTABLE.test(key)) throw refuse('may hold printable ASCII characters only');
  return key;
}

/** Mutation requests sent so far per operation (its context) and subgraph. */
const sent = new WeakMap<RouterContext, Map<string, number>>();

/**
 * The key a mutation request of this operation to `subgraph` is recorded under there, or null
 * without a client key: `<n>:<key>` for the n-th mutation request of the operation to that
 * subgraph. A plan sends one per run of consecutive root fields of one subgraph, in order, so
 * `mutation { createTask … updateProfile … deleteTask … }` sends tasks two requests, each its
 * own record; a retry of the same operation numbers them the same.
 */
export function subgraphIdempotencyKey(context: RouterContext, subgraph: string): string | null {
  if (!context.idempotencyKey) return null;
  const counts = sent.get(context) ?? new Map<string, number>();
  sent.set(context, counts);
  const n = (counts.get(subgraph) ?? 0) + 1;
  counts.set(subgraph, n);
  return `${n}:${context.idempotencyKey}`;
}

/** Operations of which a subgraph answered a mutation request with data: something ran. */
const applied = new WeakSet<RouterContext>();

/** Notes that a mutation request of this operation was answered with data. */
export function noteMutationAnswered(
  context: RouterContext,
  response: { data?: Record<string, unknown> | null },
): void {
  if (response.data && Object.values(response.data).some(value => value != null))
    applied.add(context);
}

/**
 * Whether part of this operation's mutation ran: its answer is then no 503, even when a
 * non-null field that another subgraph could not give nulled the whole `data`.
 */
export const mutationRan = (context: RouterContext): boolean => applied.has(context);
