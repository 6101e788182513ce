import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import {
  HeaderMap,
  type ApolloServer,
  type BaseContext,
  type HTTPGraphQLResponse,
} from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import type { Config } from './config.js';
import { ErrorCode, HttpErrorCode, responseTooLarge, serviceUnavailable } from './errors.js';
import { REQUEST_ID_HEADER, type Logger } from './log.js';
import { registry } from './metrics.js';
import { contextOf, SpanKind, withSpan } from './telemetry.js';

/** What every GraphQL context in this project carries. */
export interface RequestContext {
  requestId: string;
  log: Logger;
}

export interface GraphQLHandlerOptions<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  /**
   * Builds the context of one request; throw a GraphQLError with `http.status` to refuse it.
   * `raw` is what the request carried as it came: the body of a POST, the query string of a GET
   * (what a signature can be bound to).
   */
  context: (req: IncomingMessage, base: RequestContext, raw: string) => Promise<TContext>;
  /** Throws (or rejects) while the service cannot serve: database or broker down. */
  ready?: () => Promise<void>;
  /**
   * How long one request may take before it is answered SERVICE_UNAVAILABLE (503) while it
   * goes on (REQUEST_TIMEOUT_MS at subgraphs); unset: no deadline.
   */
  deadlineMs?: number;
  /** Largest accepted body, in bytes; larger gets 413. */
  bodyLimit: number;
  log: Logger;
  /** Where GraphQL is served. Default `/graphql`. */
  path?: string;
  /** Who may read /metrics on this port (`metricsAccess`). */
  metrics: MetricsAccess;
  /** A response body larger than this is replaced by RESPONSE_TOO_LARGE (the router's backstop). */
  maxResponseBytes?: number;
  /**
   * Offered every request to `path` once its body is read (within `bodyLimit`) and parsed,
   * before Apollo Server: true when it answered the request itself (the router's streaming
   * transports, router/transports/http-streams.ts).
   */
  takeOver?: (
    req: IncomingMessage,
    res: ServerResponse,
    request: { body: unknown; requestId: string; log: Logger },
  ) => Promise<boolean>;
  /**
   * Runs each GraphQL execution (`execute`), e.g. inside a transaction (a subgraph's keyed
   * mutations: lib/subgraph/idempotency.ts), or answers it without running. Default: runs it.
   */
  execute?: (
    execute: () => Promise<HTTPGraphQLResponse>,
    request: { req: IncomingMessage; raw: string; body: unknown },
  ) => Promise<HTTPGraphQLResponse>;
}

/**
 * Who may read `/metrics` on a service's own port. In development anyone, unless METRICS_TOKEN
 * is set; in production nobody without the token, so the figures are not open to the world.
 * With METRICS_PORT they are served on that port alone (`startMetricsServer`).
 */
export interface MetricsAccess {
  onServicePort: boolean;
  /** Required as `Authorization: Bearer …` wherever /metrics is served, when set. */
  token: string | undefined;
}

export function metricsAccess(config: Pick<Config, 'production' | 'metrics'>): MetricsAccess {
  const { port, token } = config.metrics;
  return { onServicePort: port === 0 && (!config.production || token !== undefined), token };
}

/** `/metrics`, for a caller that shows the token when one is required. */
async function sendMetrics(req: IncomingMessage, res: ServerResponse, token: string | undefined) {
  if (token !== undefined) {
    const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    const expected = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.setHeader('www-authenticate', 'Bearer realm="metrics"');
      return sendJson(res, 401, {
        errors: [
          { message: 'Metrics need the token', extensions: { code: ErrorCode.UNAUTHENTICATED } },
        ],
      });
    }
  }
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType });
  res.end(text);
}

/**
 * The process's metrics on a port of their own (METRICS_PORT, on METRICS_HOST, loopback by
 * default): nothing else is served there. Undefined when no port is configured.
 */
export async function startMetricsServer(
  config: Pick<Config, 'metrics'>,
  log: Logger,
): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const { port, host, token } = config.metrics;
  if (port === 0) return undefined;
  const { server, url } = await listen(
    (req, res) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') {
        return sendJson(res, 404, {
          errors: [{ message: 'Not found', extensions: { code: ErrorCode.NOT_FOUND } }],
        });
      }
      return sendMetrics(req, res, token);
    },
    port,
    host,
  );
  log.info({ url: `${url}/metrics` }, 'metrics listening');
  return { url, close: () => closeServer(server) };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: ApolloServerErrorCode | HttpErrorCode,
  ) {
    super(message);
  }
}

/** A request id from upstream if it looks like one, else a new uuid. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const tooLarge = (limit: number) =>
  new HttpError(413, `Request body is larger than ${limit} bytes`, HttpErrorCode.PAYLOAD_TOO_LARGE);

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** `work`'s result, or `undefined` if it takes longer than `ms` (never, without `ms`). */
async function withDeadline<T>(work: Promise<T>, ms: number | undefined): Promise<T | undefined> {
  if (ms === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<undefined>(resolve => (timer = setTimeout(() => resolve(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Serves Apollo Server 5 on plain node:http (Apollo 5 ships no framework integration):
 * `/health` (alive), `/ready` (dependencies answer), `/metrics` (Prometheus), and GraphQL
 * at `path`. Written here
 * rather than taken from `@as-integrations/*` because the router also mounts graphql-ws
 * on the same server and nothing else needs a framework.
 */
export function createGraphQLHandler<TContext extends BaseContext>(
  options: GraphQLHandlerOptions<TContext>,
) {
  const path = options.path ?? '/graphql';
  const handle = graphQLRequestHandler(options, path);
  // Each GraphQL request is a server span, continuing the caller's trace (`traceparent`).
  return (req: IncomingMessage, res: ServerResponse): Promise<void> =>
    req.url === path || req.url?.startsWith(`${path}?`)
      ? withSpan(
          `${req.method ?? 'GET'} ${path}`,
          {
            kind: SpanKind.SERVER,
            parent: contextOf(req.headers),
            attributes: { 'http.request.method': req.method ?? 'GET', 'url.path': path },
          },
          async span => {
            await handle(req, res);
            span.setAttribute('http.response.status_code', res.statusCode);
          },
        )
      : handle(req, res);
}

function graphQLRequestHandler<TContext extends BaseContext>(
  options: GraphQLHandlerOptions<TContext>,
  path: string,
) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId = requestIdOf(req);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const log = options.log.child({ requestId });
    try {
      if (url.pathname === '/health') return sendJson(res, 200, { status: 'ok' });
      if (url.pathname === '/metrics' && options.metrics.onServicePort) {
        return await sendMetrics(req, res, options.metrics.token);
      }
      if (url.pathname === '/ready') {
        try {
          await options.ready?.();
          return sendJson(res, 200, { status: 'ready' });
        } catch (err) {
          return sendJson(res, 503, { status: 'unavailable', reason: (err as Error).message });
        }
      }
      if (url.pathname !== path) {
        return sendJson(res, 404, {
          errors: [{ message: 'Not found', extensions: { code: ErrorCode.NOT_FOUND } }],
        });
      }
      let body: unknown = undefined;
      let raw = url.search;
      if (req.method === 'POST') {
        const text = await readBody(req, options.bodyLimit);
        raw = text;
        const type = req.headers['content-type'] ?? '';
        if (type.includes('application/json') && text !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            throw new HttpError(
              400,
              'Request body is not valid JSON',
              ApolloServerErrorCode.BAD_REQUEST,
            );
          }
        } else {
          body = text;
        }
      }
      if (await options.takeOver?.(req, res, { body, requestId, log })) return;
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const execute = () =>
        options.apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
          context: () => options.context(req, { requestId, log }, raw),
        });
      const execution = options.execute ? options.execute(execute, { req, raw, body }) : execute();
      const response = await withDeadline(execution, options.deadlineMs);
      if (response === undefined) {
        // Still running (a database that stopped answering): the caller hears now that it is
        // transient; whatever the execution does later is not sent.
        execution.catch(() => {});
        log.warn({ deadlineMs: options.deadlineMs }, 'request over its deadline answered 503');
        return sendJson(res, 503, {
          errors: [serviceUnavailable('The service is not answering in time; try again').toJSON()],
        });
      }
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        const limit = options.maxResponseBytes;
        if (limit !== undefined && Buffer.byteLength(response.body.string) > limit) {
          log.warn({ limit }, 'response over MAX_RESPONSE_BYTES replaced by an error');
          return sendJson(res, 400, { errors: [responseTooLarge(limit).toJSON()] });
        }
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch (err) {
      if (err instanceof HttpError) {
        return sendJson(res, err.status, {
          errors: [{ message: err.message, extensions: { code: err.code } }],
        });
      }
      log.error({ err }, 'request failed');
      if (!res.headersSent) {
        sendJson(res, 500, {
          errors: [
            {
              message: 'Internal server error',
              extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
            },
          ],
        });
      } else {
        res.destroy();
      }
    }
  };
}

/** An HTTP server listening on `port` (0 picks a free one) with its base URL. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  port: number,
  host: string,
): Promise<{ server: Server; url: string; port: number }> {
  const responses = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    responses.add(res);
    res.once('close', () => responses.delete(res));
    // Draining: answer, and tell the client to take its next request elsewhere.
    if (draining.has(server)) res.setHeader('connection', 'close');
    void handler(req, res);
  });
  inFlight.set(server, responses);
  // Keep-alive sockets from the router outlive a request: let them idle longer than
  // the client's own keep-alive so the server never closes one under a request in flight.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return { server, url: `http://${shownHost}:${actual}`, port: actual };
}

/** Servers that are closing, and the responses each has in flight (see `listen`). */
const draining = new WeakSet<Server>();
const inFlight = new WeakMap<Server, Set<ServerResponse>>();

/** How long requests in flight get to finish when a server closes. */
const CLOSE_GRACE_MS = 10_000;

/**
 * How long a keep-alive socket with no request in flight stays open once a server closes: a
 * request the client sent just as the close began is still answered (with `Connection: close`)
 * rather than reset; a socket that stays quiet that long is closed.
 */
const IDLE_GRACE_MS = 250;

/**
 * Closes a server gracefully: stops accepting connections; requests in flight finish and are
 * answered with `Connection: close` (as is any request that arrives on a kept-alive socket
 * meanwhile), so keep-alive clients go elsewhere instead of being cut; idle sockets close after
 * a moment. Resolves when the last connection has closed, within `CLOSE_GRACE_MS` at worst
 * (then whatever is still open is cut). Node's own `close()` keeps serving kept-alive sockets,
 * with keep-alive, until they time out.
 */
export async function closeServer(server: Server): Promise<void> {
  draining.add(server);
  for (const res of inFlight.get(server) ?? []) {
    if (!res.headersSent) res.setHeader('connection', 'close');
  }
  // A socket going idle from now on (a stream's response, sent with keep-alive) closes soon.
  server.keepAliveTimeout = IDLE_GRACE_MS;
  await new Promise<void>(resolve => {
    let closed = false;
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    force.unref();
    // Stop accepting now (net.Server#close); http.Server#close, which also closes idle sockets
    // at once, only after the idle grace: a request being sent on one is answered, not reset.
    NetServer.prototype.close.call(server, () => {
      closed = true;
      clearTimeout(force);
      resolve();
    });
    setTimeout(() => closed || server.close(), IDLE_GRACE_MS).unref();
  });
}
