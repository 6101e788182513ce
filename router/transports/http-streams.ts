import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { unauthenticated } from '#lib/errors.js';
import type { Logger } from '#lib/log.js';
import type { Viewer } from '../auth.js';
import { newBudget } from '../budget.js';
import type { PreparedSubscription, RouterContext } from '../context.js';
import type { OperationRequest } from '../pipeline.js';
import type { StreamingParts } from './parts.js';
import { capResponse, formatResult } from './responses.js';
import { sessionWatch } from './sessions.js';

/** The two ways a plain HTTP response can stream a subscription's events. */
export type HttpStreamProtocol = 'sse' | 'multipart';

/** How often an idle stream says it is alive (Apollo Router's multipart heartbeat is 5 s). */
const HEARTBEAT_MS = 5_000;

export interface HttpStreamOptions extends StreamingParts {
  maxResponseBytes: number;
  /** How often an idle stream sends a heartbeat; HEARTBEAT_MS unless given (tests). */
  heartbeatMs?: number;
  log: Logger;
}

/**
 * Which streaming protocol an `Accept` header asks for, if any: `text/event-stream` (GraphQL
 * over SSE) or Apollo's `multipart/mixed;subscriptionSpec="1.0"`. Only media ranges are read,
 * one by one: a huge or garbled header asks for neither.
 */
export function streamProtocolOf(accept: string | undefined): HttpStreamProtocol | undefined {
  if (!accept || accept.length > 4_096) return undefined;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map(part => part.trim().toLowerCase());
    if (type === 'text/event-stream') return 'sse';
    if (
      type === 'multipart/mixed' &&
      params.some(p => p.replace(/\s/g, '').replace(/"/g, '') === 'subscriptionspec=1.0')
    ) {
      return 'multipart';
    }
  }
  return undefined;
}

/** How one protocol frames what a stream sends. */
interface Framing {
  contentType: string;
  /** Written once the headers are sent. */
  open: string;
  event(result: FormattedExecutionResult): string;
  heartbeat: string;
  /** Ends the stream, with the error that ended it if it did not complete normally. */
  close(error?: GraphQLFormattedError): string;
}

/** GraphQL over SSE, "distinct connections" mode: one operation per response. */
const SSE: Framing = {
  contentType: 'text/event-stream; charset=utf-8',
  open: ':\n\n',
  event: result => `event: next\ndata: ${JSON.stringify(result)}\n\n`,
  heartbeat: ':\n\n',
  close: error => `${error ? SSE.event({ errors: [error] }) : ''}event: complete\ndata:\n\n`,
};

/**
 * Apollo's multipart subscription protocol (what Apollo Router serves, Apollo Client's HttpLink
 * reads): every part a JSON `{ payload }`, `{}` as a heartbeat, a transport-level error as
 * `{ payload: null, errors }`. Each part is followed at once by the next boundary, so a client
 * reads it as it arrives.
 */
const BOUNDARY = 'graphql';
const part = (body: unknown) =>
  `\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--${BOUNDARY}`;
const MULTIPART: Framing = {
  contentType: `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`,
  open: `\r\n--${BOUNDARY}`,
  event: result => part({ payload: result }),
  heartbeat: part({}),
  close: error => `${error ? part({ payload: null, errors: [error] }) : ''}--\r\n`,
};

/** The JSON type a client asked for, for the answers that are not streams (as Apollo Server picks). */
const jsonTypeFor = (accept: string | undefined) =>
  accept?.includes('application/graphql-response+json')
    ? 'application/graphql-response+json; charset=utf-8'
    : 'application/json; charset=utf-8';

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': jsonTypeFor(req.headers.accept),
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const isOperationRequest = (body: unknown): body is OperationRequest =>
  typeof body === 'object' &&
  body !== null &&
  !Array.isArray(body) &&
  typeof (body as { query?: unknown }).query === 'string';

/** The HTTP status an error asked for (`extensions.http.status`), else `fallback`. */
const statusOf = (err: GraphQLError, fallback: number) => {
  const http = err.extensions.http as { status?: unknown } | undefined;
  return typeof http?.status === 'number' ? http.status : fallback;
};

/**
 * Subscriptions over plain HTTP at /graphql: GraphQL over SSE (`Accept: text/event-stream`,
 * distinct connections) and Apollo's multipart protocol (`Accept:
 * multipart/mixed;subscriptionSpec="1.0"`). Like the WebSocket (ws.ts): the request's bearer
 * token is verified once; the operation runs through the one request pipeline (limits, demand
 * control, masking); a subscription takes a place in the viewer's quota and is streamed by the
 * bridge, each event masked and capped like a response. The stream ends when the subscription
 * completes, when the client goes away (the upstream subscription ends at once), when the
 * token is revoked or expires (a last UNAUTHENTICATED error), and when the client stops reading
 * (more than MAX_RESPONSE_BYTES waiting to be sent: the connection is dropped).
 *
 * Only a POST with a JSON body is taken: a type no page can send without a preflight, so
 * Apollo Server's CSRF prevention, which every other request still goes through, loses
 * nothing. Anything that does not stream (a query, a refusal) is answered as HTTP would.
 */
export function serveHttpStreams(options: HttpStreamOptions) {
  const log = options.log.child({ component: 'http-streams' });
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const sessions = sessionWatch(options.revocations);
  /** Ends every open stream (the router stopping). */
  const open = new Set<() => void>();

  /**
   * Takes the request if it asks for a stream; false leaves it to Apollo Server. `body` is the
   * parsed JSON body (lib/http.ts read it within BODY_LIMIT).
   */
  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    request: { body: unknown; requestId: string; log: Logger },
  ): Promise<boolean> {
    const protocol = streamProtocolOf(req.headers.accept);
    if (
      !protocol ||
      req.method !== 'POST' ||
      !(req.headers['content-type'] ?? '').toLowerCase().includes('application/json') ||
      !isOperationRequest(request.body)
    ) {
      return false;
    }
    let viewer: Viewer;
    try {
      viewer = options.authenticate(req.headers.authorization, options.clientAddress(req));
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      sendJson(req, res, statusOf(err, 401), { errors: [options.formatError(err.toJSON())] });
      return true;
    }
    const userId = viewer.claims.userId;
    const context: RouterContext = {
      requestId: request.requestId,
      claims: viewer.claims,
      transport: protocol,
      budget: newBudget(options.maxResponseBytes),
      log: userId ? request.log.child({ userId }) : request.log,
    };
    const { query, operationName, variables, extensions } = request.body;
    const outcome = await options.run({ query, operationName, variables, extensions }, context);
    if (outcome.kind === 'result') {
      // A refusal, or an operation that does not stream: as HTTP answers it. Over SSE a result
      // is one `next` and `complete`, which graphql-sse's client reads.
      if (protocol === 'sse' && outcome.result.data !== undefined) {
        res.writeHead(200, { 'content-type': SSE.contentType, 'cache-control': 'no-cache' });
        res.end(SSE.event(capResponse(outcome.result, options.maxResponseBytes)) + SSE.close());
      } else {
        sendJson(req, res, outcome.status, outcome.result);
      }
      return true;
    }
    const taken = options.quota.take(userId ?? '', { open: 0 });
    if (taken instanceof GraphQLError) {
      sendJson(req, res, 429, { errors: [taken.toJSON()] });
      return true;
    }
    await stream(
      res,
      protocol === 'sse' ? SSE : MULTIPART,
      outcome.prepared,
      viewer,
      context.log,
    ).finally(taken);
    return true;
  }

  /** Streams one accepted subscription until it, the client or the viewer's session ends. */
  async function stream(
    res: ServerResponse,
    framing: Framing,
    prepared: PreparedSubscription,
    viewer: Viewer,
    streamLog: Logger,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': framing.contentType,
      'cache-control': 'no-cache, no-transform',
      // The connection is not kept for another request once the stream ends: a router that
      // stops then has no idle keep-alive connection to wait out.
      connection: 'close',
      // Proxies (nginx) must not hold the events back.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    res.write(framing.open);
    const events = options.bridge.subscribe(prepared);
    if (!(Symbol.asyncIterator in events)) {
      res.end(framing.event(formatResult(events, options.formatError)) + framing.close());
      return;
    }
    const iterator = events[Symbol.asyncIterator]();
    let closing: GraphQLFormattedError | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      // Ends the client subscription in the bridge: the last one of an upstream subscription
      // ends that at once.
      void iterator.return?.();
    };
    const endWith = (reason: string) => {
      closing = options.formatError(unauthenticated(reason).toJSON());
      finish();
    };
    const unwatch = sessions.watch(viewer, endWith);
    const heartbeat = setInterval(() => res.write(framing.heartbeat), heartbeatMs);
    // The client went away (closed the response, lost the connection).
    res.once('close', finish);
    open.add(finish);
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done || finished) break;
        if (res.writableLength > options.maxResponseBytes) {
          // The client stopped reading: its backlog would grow without end. Nothing more can
          // reach it, so the connection is dropped (the subscription ends with it).
          streamLog.warn(
            { buffered: res.writableLength },
            'subscription stream not read by its client: connection dropped',
          );
          res.destroy();
          break;
        }
        res.write(
          framing.event(
            capResponse(formatResult(next.value, options.formatError), options.maxResponseBytes),
          ),
        );
      }
    } catch (err) {
      streamLog.error({ err }, 'subscription stream failed');
      closing = options.formatError(
        new GraphQLError('The subscription ended unexpectedly', {
          extensions: { code: ApolloServerErrorCode.INTERNAL_SERVER_ERROR },
        }).toJSON(),
      );
    } finally {
      finish();
      open.delete(finish);
      clearInterval(heartbeat);
      unwatch();
      res.off('close', finish);
      if (!res.destroyed) res.end(framing.close(closing));
    }
  }

  return {
    handle,
    /** Streams open now (tests). */
    openStreams: () => open.size,
    /** Ends every stream (as completed), for a graceful stop. */
    close() {
      sessions.close();
      for (const finish of [...open]) finish();
      log.debug('http streams closed');
    },
  };
}
