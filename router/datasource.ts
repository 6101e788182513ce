import { AsyncLocalStorage } from 'node:async_hooks';
import { GraphQLError } from 'graphql';
import {
  RemoteGraphQLDataSource,
  type GraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { ANONYMOUS, FORWARDED_HEADER_NAMES, signClaims, type Claims } from '#lib/auth/claims.js';
import { serviceUnavailable } from '#lib/errors.js';
import { REQUEST_ID_HEADER } from '#lib/log.js';
import { subgraphFetchDuration, subgraphFetchErrors } from '#lib/metrics.js';
import { SpanKind, withSpan } from '#lib/telemetry.js';
import type { ResponseBudget } from './budget.js';
import type { RouterContext } from './context.js';
import { unansweredFetch } from './fetch-failure.js';
import type { SubgraphFetcher, SubgraphFetchOptions } from './fetcher.js';
import { noteMutationAnswered, subgraphIdempotencyKey } from './idempotency.js';
import { isQueryOperation } from './operation.js';

/** What the data source of one subgraph is made of. */
export interface SubgraphDataSourceOptions {
  /** The subgraph's name: the `subgraph` label of the fetch metrics. */
  name: string;
  /** Its GraphQL HTTP endpoint. */
  url: string;
  /** ROUTER_SECRET: signs the viewer's claims onto every request. */
  secret: string;
  /** How requests reach the subgraph: connections, timeout, in-flight sharing (fetcher.ts). */
  fetcher: SubgraphFetcher;
}

type GatewayFetcher = RemoteGraphQLDataSource['fetcher'];

/** Statuses of a subgraph that is up but cannot answer now (its deadline, a balancer's). */
const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

/**
 * The client operation a subgraph fetch is made for: the viewer to sign for, the bytes it
 * may still read (budget.ts) and, for a mutation request, the key to record it under
 * (idempotency.ts). The gateway calls data sources, and they the fetcher, without the
 * operation's context, so the data source runs each fetch inside this scope.
 */
const fetchScope = new AsyncLocalStorage<{
  claims: Claims;
  budget: ResponseBudget;
  idempotencyKey: string | null;
}>();

/**
 * The gateway's fetcher over `fetcher`: the viewer's claims signed onto the request, bound to
 * this subgraph and to the exact body that goes out (`signClaims`, a digest of it), then timed
 * and counted per subgraph. `share` is this data source's decision whether its requests may
 * share an identical one in flight. Health checks and schema loads carry no client operation:
 * they go out anonymous.
 */
function instrumentedFetcher(
  name: string,
  fetcher: SubgraphFetcher,
  secret: string,
  share: SubgraphFetchOptions,
): GatewayFetcher {
  return (url, init = {}) => {
    const body = typeof init.body === 'string' ? init.body : '';
    const operation = OPERATION_NAME.exec(body)?.[1];
    // A span per subgraph request; undici's instrumentation sends its `traceparent`.
    return withSpan(
      `subgraph ${name}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'graphql.subgraph.name': name,
          ...(operation ? { 'graphql.operation.name': operation } : {}),
        },
      },
      async span => {
        const res = await send(url, init, body);
        span.setAttribute('http.response.status_code', res.status);
        return res;
      },
    );
  };

  async function send(url: string, init: NonNullable<Parameters<GatewayFetcher>[1]>, body: string) {
    const stop = subgraphFetchDuration.startTimer({ subgraph: name });
    const scope = fetchScope.getStore();
    const headers = {
      ...init.headers,
      ...signClaims(
        scope?.claims ?? ANONYMOUS,
        secret,
        { audience: name, body },
        { idempotencyKey: scope?.idempotencyKey ?? null },
      ),
    };
    try {
      const res = await fetcher.fetch(
        url,
        { ...init, headers, body },
        scope ? { ...share, budget: scope.budget } : share,
      );
      if (res.status >= 500) subgraphFetchErrors.inc({ subgraph: name });
      // A subgraph (or a balancer in front of it) saying it cannot answer now.
      if (UNAVAILABLE_STATUSES.has(res.status)) throw serviceUnavailable();
      // RemoteGraphQLDataSource reads only what SubgraphFetchResponse has (headers: get).
      return res as Awaited<ReturnType<GatewayFetcher>>;
    } catch (err) {
      if (err instanceof GraphQLError) throw err;
      subgraphFetchErrors.inc({ subgraph: name });
      // Refused, reset, timed out: the subgraph is not answering for now. Which one, and
      // why, is for the log (the cause), never for the client.
      throw serviceUnavailable(undefined, 1, err);
    } finally {
      stop();
    }
  }
}

/** The operation name the gateway gave a subgraph request (`Mine__tasks__1`), for its span. */
const OPERATION_NAME = /"operationName":"([A-Za-z_][A-Za-z0-9_]{0,127})"/;

/**
 * Sends each subgraph request with the request id; whatever forwarded header names a request
 * carries are dropped, so no client value survives (the fetcher then signs the claims).
 */
class SignedDataSource extends RemoteGraphQLDataSource<RouterContext> {
  override willSendRequest(options: GraphQLDataSourceProcessOptions<RouterContext>): void {
    const headers = options.request.http?.headers;
    if (!headers) return;
    for (const name of FORWARDED_HEADER_NAMES) headers.delete(name);
    if ('incomingRequestContext' in options)
      headers.set(REQUEST_ID_HEADER, options.context.requestId);
  }
}

/**
 * The data source of one subgraph: signed claims, the fetch metrics, and in-flight sharing
 * for queries only. Whether a request is a query is decided here, from its parsed operation
 * (the plan's document, or the text parsed once), and handed to the fetcher as such: the
 * queries go through a source whose requests may be shared, everything else (mutations
 * above all: each must run) through one whose requests never are.
 */
export function createSubgraphDataSource(
  options: SubgraphDataSourceOptions,
): GraphQLDataSource<RouterContext> {
  const source = (share: SubgraphFetchOptions) =>
    new SignedDataSource({
      url: options.url,
      fetcher: instrumentedFetcher(options.name, options.fetcher, options.secret, share),
    });
  const queries = source({ shareInFlight: true });
  const others = source({ shareInFlight: false });
  return {
    process: request => {
      const { query, operationName } = request.request;
      const document = 'document' in request ? request.document : undefined;
      const isQuery = query !== undefined && isQueryOperation(query, document, operationName);
      const source = isQuery ? queries : others;
      if (!('incomingRequestContext' in request)) return source.process(request);
      const { context } = request;
      const idempotencyKey = isQuery ? null : subgraphIdempotencyKey(context, options.name);
      const scope = { claims: context.claims, budget: context.budget, idempotencyKey };
      return fetchScope.run(scope, () =>
        source.process(request).then(
          answer => {
            if (!isQuery) noteMutationAnswered(context, answer);
            return answer;
          },
          (err: unknown) => {
            // A subgraph that did not answer: the error goes on the fields it was asked for.
            const answer = unansweredFetch(err, request.request, document);
            if (!answer) throw err;
            return answer;
          },
        ),
      );
    },
  };
}
