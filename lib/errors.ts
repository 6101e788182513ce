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

function error(
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

function isPublicCode(code: unknown): code is string {
  return typeof code === 'string' && PUBLIC_CODES.has(code);
}

/**
 * Apollo Server `formatError`: errors raised on purpose (a public code) go out as they
 * are, minus stack traces; anything else becomes a bare INTERNAL_SERVER_ERROR, so no SQL,
 * stack or host name reaches a client. `errorLoggingPlugin` logs the original with the
 * request id.
 */
export function formatError(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  if (isPublicCode(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
    const { stacktrace: _stack, exception: _exception, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  return {
    message: 'Internal server error',
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
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
