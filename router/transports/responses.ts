import {
  GraphQLError,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { responseTooLarge } from '#lib/errors.js';

/** Sizes of results already measured: one shared event resolution goes to many subscribers. */
const sizes = new WeakMap<object, number>();

/**
 * The result as it will be sent, or — when its JSON is larger than `maxBytes` — the
 * RESPONSE_TOO_LARGE error in its place. The streaming transports send every result through
 * this (HTTP checks the body Apollo Server serialised).
 */
export function capResponse(
  result: FormattedExecutionResult,
  maxBytes: number,
): FormattedExecutionResult {
  let size = sizes.get(result);
  if (size === undefined) {
    size = Buffer.byteLength(JSON.stringify(result));
    sizes.set(result, size);
  }
  return size <= maxBytes ? result : { errors: [responseTooLarge(maxBytes).toJSON()] };
}

/** A result with its errors masked as the pipeline masks them (idempotent on masked ones). */
export function formatResult(
  result: ExecutionResult | FormattedExecutionResult,
  format: (error: GraphQLFormattedError) => GraphQLFormattedError,
): FormattedExecutionResult {
  if (!result.errors) return result;
  return {
    ...result,
    errors: result.errors.map(e => format(e instanceof GraphQLError ? e.toJSON() : e)),
  };
}
