import {
  RemoteGraphQLDataSource,
  type GraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { ANONYMOUS, FORWARDED_HEADER_NAMES, signClaims } from '#lib/auth/claims.js';
import { REQUEST_ID_HEADER } from '#lib/log.js';
import { subgraphFetchDuration, subgraphFetchErrors } from '#lib/metrics.js';
import { budgetScope } from './budget.js';
import type { RouterContext } from './context.js';
import type { SubgraphFetcher, SubgraphFetchOptions } from './fetcher.js';
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

/**
 * The gateway's fetcher over `fetcher`, timed and counted per subgraph; `share` is this data
 * source's decision whether its requests may share an identical one in flight.
 */
function instrumentedFetcher(
  name: string,
  fetcher: SubgraphFetcher,
  share: SubgraphFetchOptions,
): GatewayFetcher {
  return async (url, init) => {
    const stop = subgraphFetchDuration.startTimer({ subgraph: name });
    const budget = budgetScope.getStore();
    try {
      const res = await fetcher.fetch(url, init ?? {}, budget ? { ...share, budget } : share);
      if (res.status >= 500) subgraphFetchErrors.inc({ subgraph: name });
      // RemoteGraphQLDataSource reads only what SubgraphFetchResponse has (headers: get).
      return res as Awaited<ReturnType<GatewayFetcher>>;
    } catch (err) {
      subgraphFetchErrors.inc({ subgraph: name });
      throw err;
    } finally {
      stop();
    }
  };
}

/**
 * Sends each subgraph request with the viewer's claims, signed. Whatever forwarded header
 * names a request carries are dropped first, so no client value survives.
 */
class SignedDataSource extends RemoteGraphQLDataSource<RouterContext> {
  constructor(
    url: string,
    fetcher: GatewayFetcher,
    private readonly secret: string,
  ) {
    super({ url, fetcher });
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<RouterContext>): void {
    const headers = options.request.http?.headers;
    if (!headers) return;
    for (const name of FORWARDED_HEADER_NAMES) headers.delete(name);
    // Health checks and schema loads carry no client request: they go out anonymous.
    const context = 'incomingRequestContext' in options ? options.context : undefined;
    for (const [name, value] of Object.entries(
      signClaims(context?.claims ?? ANONYMOUS, this.secret),
    ))
      headers.set(name, value);
    if (context) headers.set(REQUEST_ID_HEADER, context.requestId);
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
    new SignedDataSource(
      options.url,
      instrumentedFetcher(options.name, options.fetcher, share),
      options.secret,
    );
  const queries = source({ shareInFlight: true });
  const others = source({ shareInFlight: false });
  return {
    process: request => {
      const { query, operationName } = request.request;
      const document = 'document' in request ? request.document : undefined;
      const isQuery = query !== undefined && isQueryOperation(query, document, operationName);
      const source = isQuery ? queries : others;
      // The fetcher counts what it reads against the operation's budget (budget.ts).
      const budget = 'incomingRequestContext' in request ? request.context.budget : undefined;
      return budget
        ? budgetScope.run(budget, () => source.process(request))
        : source.process(request);
    },
  };
}
