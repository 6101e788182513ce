import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';

/** The codes a client may see in `extensions.code` (docs/architecture.md, "Errors"). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  /** Demand control: the operation's estimated cost is over MAX_COST (`extensions.cost`). */
  COST_ESTIMATED_TOO_EXPENSIVE: 'COST_ESTIMATED_TOO_EXPENSIVE',
  /** The response grew past MAX_RESPONSE_BYTES and was cut off. */
  RESPONSE_TOO_LARGE: 'RESPONSE_TOO_LARGE',
  /** A socket or a viewer holds as many subscriptions as it may (`extensions.limit`). */
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  /** A subscription sent where nothing can stream its events (`extensions.transports`). */
  SUBSCRIPTION_TRANSPORT_REQUIRED: 'SUBSCRIPTION_TRANSPORT_REQUIRED',
  /** Not able to answer now, for a reason that passes (`extensions.retryAfter`, seconds). */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Codes of requests refused before Apollo Server sees them (lib/http.ts), next to Apollo's
 * own `ApolloServerErrorCode` for malformed ones.
 */
export const HttpErrorCode = {
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/**
 * Codes Apollo Server and graphql-js produce themselves for malformed requests; they
 * describe the client's mistake and carry no internals, so they pass through as they are.
 */
const REQUEST_ERROR_CODES = new Set<string>([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
]);
const PUBLIC_CODES = new Set<string>([...Object.values(ErrorCode), ...REQUEST_ERROR_CODES]);

export function error(
  code: ErrorCode,
  message: string,
  extensions: Record<string, unknown> = {},
  status?: number,
) {
  return new GraphQLError(message, {
    extensions: { code, ...extensions, ...(status ? { http: { status } } : {}) },
  });
}

/** Not signed in, or the credentials are wrong. `status` 401 for errors raised before execution. */
export const unauthenticated = (message = 'You must be signed in', status?: number) =>
  error(ErrorCode.UNAUTHENTICATED, message, {}, status);
export const forbidden = (message = 'You may not do this') => error(ErrorCode.FORBIDDEN, message);
/** `field` names the offending argument or input field, e.g. `input.email` or `first`. */
export const badUserInput = (message: string, field: string) =>
  error(ErrorCode.BAD_USER_INPUT, message, { field });
export const notFound = (message = 'Not found') => error(ErrorCode.NOT_FOUND, message);
export const conflict = (message: string, field?: string) =>
  error(ErrorCode.CONFLICT, message, field ? { field } : {});
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  error(ErrorCode.RATE_LIMITED, message, { retryAfter: retryAfterSeconds });
/**
 * Something this operation needs is down or not answering for now: a database, a subgraph.
 * Says nothing of which; `retryAfter` is a hint in seconds.
 */
export const serviceUnavailable = (
  message = 'A service this operation needs is not answering; try again shortly',
  retryAfterSeconds = 1,
  cause?: unknown,
) =>
  new GraphQLError(message, {
    extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryAfter: retryAfterSeconds },
    ...(cause instanceof Error ? { originalError: cause } : {}),
  });

/** postgres.js and Node's codes for a connection that failed, broke or timed out. */
const TRANSIENT_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/**
 * SQLSTATEs of a database that is unreachable, shutting down, overloaded or timed out: class
 * 08 (connection exception), 57014 (statement timeout), 57P01-57P03 (shutdown, cannot connect
 * now), 53300 (too many connections), 55P03 (lock timeout).
 */
const TRANSIENT_SQLSTATE = /^(08...|57014|57P0[123]|53300|55P03)$/;

/**
 * Whether `err`, or anything in its `cause` chain (Drizzle and GraphQL wrap), says a
 * dependency is unavailable for now rather than that something is wrong: what a client may
 * retry (SERVICE_UNAVAILABLE) instead of an internal error.
 */
export function isTransient(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && typeof e === 'object' && !seen.has(e);) {
    seen.add(e);
    const { code } = e as { code?: unknown };
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || TRANSIENT_SQLSTATE.test(code))) {
      return true;
    }
    e =
      e instanceof GraphQLError ? (e.originalError ?? undefined) : (e as { cause?: unknown }).cause;
  }
  return false;
}

/** A response cut off at `limit` bytes (MAX_RESPONSE_BYTES). */
export const responseTooLarge = (limit: number) =>
  error(
    ErrorCode.RESPONSE_TOO_LARGE,
    `The response is larger than ${limit} bytes: ask for less (smaller pages, fewer fields)`,
    { limit },
  );

function isPublicCode(code: unknown): code is string {
  return typeof code === 'string' && PUBLIC_CODES.has(code);
}

/** graphql-js's hints at names the schema has ("Did you mean "me"?", "… the enum value …"). */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

/**
 * The `formatError` of every Apollo Server here, and of every transport at the router:
 * errors raised on purpose (a public code) go out as they are, minus stack traces; anything
 * else becomes a bare INTERNAL_SERVER_ERROR, so no SQL, stack or host name reaches a client
 * (`errorLoggingPlugin` logs the original with the request id). In production the schema does
 * not leak either: no "did you mean" suggestions, and no `serviceName` naming the subgraph
 * that failed.
 */
export function errorFormatter(options: {
  production: boolean;
}): (formatted: GraphQLFormattedError, error?: unknown) => GraphQLFormattedError {
  return (formatted, error) => {
    const code = formatted.extensions?.code;
    if (!isPublicCode(code) || code === ErrorCode.INTERNAL_SERVER_ERROR) {
      // A database or service that is down for now: a client may try again.
      if (isTransient(error)) {
        const unavailable = serviceUnavailable();
        return {
          message: unavailable.message,
          ...(formatted.path ? { path: formatted.path } : {}),
          extensions: unavailable.extensions,
        };
      }
      return {
        message: 'Internal server error',
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
      };
    }
    // `response` is the gateway's copy of a subgraph's HTTP answer (its URL, its body).
    const {
      stacktrace: _stack,
      exception: _exception,
      response: _response,
      serviceName,
      ...extensions
    } = formatted.extensions ?? {};
    if (!options.production) {
      return {
        ...formatted,
        extensions: { ...extensions, ...(serviceName ? { serviceName } : {}) },
      };
    }
    return { ...formatted, message: formatted.message.replace(SUGGESTION, ''), extensions };
  };
}

/** Whether `formatError` will hide this error: what `errorLoggingPlugin` must log. */
export function isUnexpected(err: GraphQLError): boolean {
  const code = err.extensions?.code;
  return !isPublicCode(code) || code === ErrorCode.INTERNAL_SERVER_ERROR;
}

/** The error a logger should see: the original cause, not the GraphQL wrapper. */
export function causeOf(err: unknown): unknown {
  return err instanceof GraphQLError && err.originalError ? err.originalError : err;
}
