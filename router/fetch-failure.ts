import {
  getOperationAST,
  GraphQLError,
  Kind,
  type DocumentNode,
  type GraphQLFormattedError,
} from 'graphql';
import { ErrorCode } from '#lib/errors.js';
import { documentOf } from './operation.js';

/**
 * A subgraph request that got no answer (refused, reset, timed out: SERVICE_UNAVAILABLE) as
 * the subgraph's own answer would say it: no data, and the error on each field the request
 * was for. The gateway then puts each error where the field sits in the client's response
 * (`assignTask.assignee`), instead of a top-level error with no path, and keeps what the other
 * fetches returned: a committed `assignTask` answers with its data, and the client sees which
 * part failed.
 *
 * A root field gets one error at its response name; an `_entities` field (an entity fetch,
 * aliased when batched, batching.ts) one per representation, `[field, i]`, which the gateway
 * maps to the i-th entity's path. `null` when the error is not SERVICE_UNAVAILABLE or the
 * operation is not one this can read: the caller rethrows, as before.
 */
export function unansweredFetch(
  err: unknown,
  request: { query?: string; operationName?: string; variables?: Record<string, unknown> },
  document: DocumentNode | undefined,
): { errors: GraphQLFormattedError[] } | null {
  if (!(err instanceof GraphQLError) || err.extensions.code !== ErrorCode.SERVICE_UNAVAILABLE)
    return null;
  const parsed = request.query === undefined ? null : documentOf(request.query, document);
  const operation = parsed && getOperationAST(parsed, request.operationName);
  if (!operation) return null;
  const paths: Array<Array<string | number>> = [];
  for (const selection of operation.selectionSet.selections) {
    // The planner's fetches select plain fields at the root; anything else is not read here.
    if (selection.kind !== Kind.FIELD) return null;
    const name = selection.alias?.value ?? selection.name.value;
    if (selection.name.value !== '_entities') {
      paths.push([name]);
      continue;
    }
    const argument = selection.arguments?.find(a => a.name.value === 'representations')?.value;
    const representations =
      argument?.kind === Kind.VARIABLE ? request.variables?.[argument.name.value] : undefined;
    if (!Array.isArray(representations)) return null;
    representations.forEach((_, i) => paths.push([name, i]));
  }
  const { message, extensions } = err;
  return { errors: paths.map(path => ({ message, path, extensions })) };
}
