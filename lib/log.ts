import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { traceFields } from './telemetry.js';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log line, so a
 * password, token or secret never reaches the logs even when an object is logged whole.
 */
const REDACT_PATHS = [
  'password',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.refreshToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.headers["x-router-signature"]',
  'variables.input.password',
  'variables.password',
];

const REDACTED = '[redacted]';

/**
 * Fields of a database error that hold the values of a statement: Drizzle's
 * DrizzleQueryError `params`, PGlite's `params`, postgres.js `parameters` and `args` (when
 * its debug mode makes them visible), and Postgres's own `detail`, which quotes the failing
 * row ("Failing row contains (…)") or key ("Key (email)=(…)").
 */
const VALUE_FIELDS = new Set(['params', 'parameters', 'args', 'detail']);
// DrizzleQueryError's message is "Failed query: <sql>\nparams: <values>"; the SQL stays.
const PARAMS_IN_MESSAGE = /\nparams: [\s\S]*$/;

type ErrorLike = Error & Record<string, unknown>;
const isErrorLike = (value: unknown): value is ErrorLike =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { message?: unknown }).message === 'string';

/**
 * A copy of `err` and of every error it holds (its `cause` chain, an AggregateError's
 * `errors`, error-valued fields) without statement values, for the logger to serialize.
 * The SQL text (`query`), the codes and the messages stay: they say what failed.
 */
function withoutValues(err: ErrorLike, copies = new Map<ErrorLike, ErrorLike>()): ErrorLike {
  const known = copies.get(err);
  if (known) return known;
  // Same prototype, so the logged `type` is still the error's class.
  const copy = Object.create(Object.getPrototypeOf(err) as object | null) as ErrorLike;
  copies.set(err, copy);
  const redact = (value: unknown) => (isErrorLike(value) ? withoutValues(value, copies) : value);
  // Defined, not assigned: a prototype may have getters only (DOMException's name, message).
  const own = (value: unknown, enumerable = false) => ({
    value,
    enumerable,
    writable: true,
    configurable: true,
  });
  // Every field the serializer would log (it reads them with for…in, as here).
  for (const key in err) {
    Object.defineProperty(
      copy,
      key,
      own(VALUE_FIELDS.has(key) ? REDACTED : redact(err[key]), true),
    );
  }
  const message = err.message.replace(PARAMS_IN_MESSAGE, `\nparams: ${REDACTED}`);
  Object.defineProperty(copy, 'message', own(message));
  if (typeof err.stack === 'string') {
    // A stack starts with the message it was captured with.
    const stack = err.stack.includes(err.message)
      ? err.stack.replace(err.message, message)
      : err.stack.replace(PARAMS_IN_MESSAGE, '');
    Object.defineProperty(copy, 'stack', own(stack));
  }
  if ('cause' in err && !Object.prototype.propertyIsEnumerable.call(err, 'cause'))
    Object.defineProperty(copy, 'cause', own(redact(err.cause)));
  if (Array.isArray(err.errors) && !Object.prototype.propertyIsEnumerable.call(err, 'errors'))
    Object.defineProperty(copy, 'errors', own(err.errors.map(redact)));
  return copy;
}

/**
 * The `err` serializer: pino's, with each cause as an object of its own (so a database
 * error's code, table and constraint are logged, not only its message), over a copy
 * without statement values: a failed insert must not put a password hash in the logs.
 */
function serializeError(err: unknown): unknown {
  return isErrorLike(err) ? pino.stdSerializers.errWithCause(withoutValues(err)) : err;
}

/** The root logger of one process; services take children named after themselves. */
export function createLogger(options: {
  level: string;
  name?: string;
  destination?: NodeJS.WritableStream;
  /** Readable lines (pino-pretty) instead of JSON: `npm start` in a terminal. */
  pretty?: boolean;
}): Logger {
  const settings = {
    level: options.level,
    ...(options.name ? { name: options.name } : {}),
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { err: serializeError },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // trace_id and span_id of the span the line is logged in, when one is recording.
    mixin: traceFields,
  };
  if (options.destination) return pino(settings, options.destination);
  return options.pretty
    ? pino(
        settings,
        pretty({ colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }),
      )
    : pino(settings);
}

/** Header carrying the request id from the router to subgraphs. */
export const REQUEST_ID_HEADER = 'x-request-id';
