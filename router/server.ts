import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { ExecutionResult } from 'graphql';
import {
  ApolloGateway,
  RemoteGraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { commonApolloOptions } from '#lib/apollo.js';
import { ANONYMOUS, FORWARDED_HEADER_NAMES, signClaims } from '#lib/auth/claims.js';
import type { Config, OperationLimits, SubgraphName } from '#lib/config.js';
import { closeServer, createGraphQLHandler } from '#lib/http.js';
import { REQUEST_ID_HEADER, type Logger } from '#lib/log.js';
import { subgraphFetchDuration, subgraphFetchErrors } from '#lib/metrics.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';
import { createAuthenticator, tokenVerification, type TokenVerification } from './auth.js';
import {
  entityFetchOf,
  mergeEntityFetches,
  splitEntityResponse,
  type EntityFetch,
} from './batching.js';
import type { RouterContext } from './context.js';
import { createSubgraphFetcher, type SubgraphFetcher } from './fetcher.js';
import { operationLimits } from './limits.js';
import { createSubscriptionServer, watchSupergraph } from './subscriptions.js';

export interface RouterOptions {
  supergraphSdl: string;
  /** Where each subgraph's GraphQL endpoint is; overrides the URLs in the supergraph. */
  subgraphUrls: Partial<Record<SubgraphName, string>>;
  routerSecret: string;
  jwt: TokenVerification;
  production: boolean;
  bodyLimit: number;
  subgraphTimeoutMs: number;
  limits: OperationLimits;
  log: Logger;
  /**
   * The performance work of issue #7, on by default: verified tokens remembered until they
   * expire (auth.ts); subgraph requests over undici's keep-alive pools, with identical
   * in-flight queries of one viewer sharing one request (fetcher.ts); a subscription event
   * resolved once for every viewer when the subgraphs answer PUBLIC (subscriptions.ts).
   * `false` gives the plain gateway (global fetch, every token verified anew, every event
   * resolved per viewer): `npm run bench` measures it as the "before" column.
   */
  optimizations?: boolean;
  /**
   * Sends the entity fetches of one request to one subgraph, issued together, as one
   * operation (batching.ts): one round trip and one SQL statement per subgraph instead of
   * one per reference path. On by default (off when `optimizations` is false).
   */
  entityBatching?: boolean;
}

type GatewayGraphQLResponse = Awaited<
  ReturnType<RemoteGraphQLDataSource<RouterContext>['process']>
>;
/** The options of a fetch that a client operation's plan makes (not a health check). */
type OperationFetchOptions = Extract<
  GraphQLDataSourceProcessOptions<RouterContext>,
  { incomingRequestContext: unknown }
>;

interface PendingFetch {
  options: OperationFetchOptions;
  fetch: EntityFetch;
  resolve: (response: GatewayGraphQLResponse) => void;
  reject: (err: unknown) => void;
}

/**
 * Sends each subgraph request with the viewer's claims, signed. Whatever forwarded
 * header names a request carries are dropped first, so no client value survives.
 */
class SignedDataSource extends RemoteGraphQLDataSource<RouterContext> {
  constructor(
    name: string,
    url: string,
    private readonly secret: string,
    timeoutMs: number,
    /** Keep-alive node:http requests (see fetcher.ts); the global fetch without it. */
    subgraphFetcher?: SubgraphFetcher,
    /** Sends the entity fetches of one request issued together as one operation (batching.ts). */
    private readonly batching = false,
  ) {
    super({
      url,
      fetcher: async (input, init) => {
        const stop = subgraphFetchDuration.startTimer({ subgraph: name });
        try {
          const res = subgraphFetcher
            ? await subgraphFetcher.fetch(String(input), init ?? {})
            : await fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
          if (res.status >= 500) subgraphFetchErrors.inc({ subgraph: name });
          return res as Awaited<ReturnType<RemoteGraphQLDataSource['fetcher']>>;
        } catch (err) {
          subgraphFetchErrors.inc({ subgraph: name });
          throw err;
        } finally {
          stop();
        }
      },
    });
  }

  /** Entity fetches waiting for the end of the current tick, by the request (context) they serve. */
  private readonly pending = new Map<object, PendingFetch[]>();

  override process(
    options: GraphQLDataSourceProcessOptions<RouterContext>,
  ): Promise<GatewayGraphQLResponse> {
    if (!this.batching || !('incomingRequestContext' in options) || !options.request.query) {
      return super.process(options);
    }
    const fetch = entityFetchOf(options.request.query, options.document);
    if (!fetch) return super.process(options);
    // Only fetches of one request (one context object: one viewer) are ever sent together.
    const key = options.context as object;
    return new Promise<GatewayGraphQLResponse>((resolve, reject) => {
      let batch = this.pending.get(key);
      if (!batch) {
        batch = [];
        this.pending.set(key, batch);
        // After the promise jobs queued now: a plan's parallel fetches all get here first.
        process.nextTick(() => this.flush(key));
      }
      batch.push({ options, fetch, resolve, reject });
    });
  }

  private flush(key: object): void {
    const batch = this.pending.get(key) ?? [];
    this.pending.delete(key);
    const [first] = batch;
    if (!first) return;
    if (batch.length === 1) {
      super.process(first.options).then(first.resolve, first.reject);
      return;
    }
    const merged = mergeEntityFetches(
      batch.map(b => ({
        query: b.options.request.query ?? '',
        fetch: b.fetch,
        variables: b.options.request.variables ?? {},
      })),
    );
    const { document: _document, ...firstOptions } = first.options;
    super
      .process({
        ...firstOptions,
        request: {
          ...first.options.request,
          query: merged.query,
          variables: merged.variables,
          operationName: merged.operationName,
        },
      })
      .then(
        response => batch.forEach((b, i) => b.resolve(splitEntityResponse(response, i))),
        (err: unknown) => batch.forEach(b => b.reject(err)),
      );
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

/** Router options from the loaded config: the committed supergraph, `subgraphUrls` where they run. */
export function routerOptions(
  config: Config,
  log: Logger,
  subgraphUrls: RouterOptions['subgraphUrls'],
): RouterOptions {
  return {
    supergraphSdl: readFileSync(SUPERGRAPH_PATH, 'utf8'),
    subgraphUrls,
    routerSecret: config.routerSecret,
    jwt: tokenVerification(config.jwt),
    production: config.production,
    bodyLimit: config.bodyLimit,
    subgraphTimeoutMs: config.subgraphTimeoutMs,
    limits: config.limits,
    log,
  };
}

/** The health URL of a subgraph, from its GraphQL URL. */
const healthUrl = (graphqlUrl: string) => new URL('/health', graphqlUrl).toString();

/**
 * The router: `@apollo/gateway` on the committed supergraph inside Apollo Server,
 * verifying the bearer token and forwarding signed claims. A pure factory: `index.ts`
 * and the tests build exactly this.
 */
export async function createRouter(options: RouterOptions) {
  const optimized = options.optimizations ?? true;
  const entityBatching = options.entityBatching ?? optimized;
  const urls = new Map<string, string>();
  const dataSources = new Map<string, SignedDataSource>();
  const subgraphFetcher = optimized
    ? createSubgraphFetcher({ timeoutMs: options.subgraphTimeoutMs, dedupe: true })
    : undefined;
  const authenticate = createAuthenticator(options.jwt, { cache: optimized });
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) => {
      const target = options.subgraphUrls[name as SubgraphName] ?? url;
      if (!target) throw new Error(`no URL for subgraph ${name}`);
      urls.set(name, target);
      const source = new SignedDataSource(
        name,
        target,
        options.routerSecret,
        options.subgraphTimeoutMs,
        subgraphFetcher,
        entityBatching,
      );
      dataSources.set(name, source);
      return source;
    },
  });
  const supergraph = watchSupergraph(gateway);
  const armor = operationLimits(options.limits, options.production);
  const common = commonApolloOptions<RouterContext>({
    service: 'router',
    production: options.production,
    landingPage: options.production
      ? 'none'
      : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false }),
  });
  const apollo = new ApolloServer<RouterContext>({
    gateway,
    ...common,
    plugins: [...(common.plugins ?? []), ...(armor.plugins as ApolloServerPlugin<RouterContext>[])],
    validationRules: armor.validationRules,
    parseOptions: armor.parseOptions,
    allowBatchedHttpRequests: false,
  });
  await apollo.start();
  let subscriptions: ReturnType<typeof createSubscriptionServer> | undefined;
  let httpServer: Server | undefined;

  /** Ready when every subgraph answers its /health. */
  const ready = async () => {
    const failures: string[] = [];
    await Promise.all(
      [...urls].map(async ([name, url]) => {
        const res = await fetch(healthUrl(url), { signal: AbortSignal.timeout(2_000) }).catch(
          () => null,
        );
        if (!res?.ok) failures.push(name);
      }),
    );
    if (failures.length > 0)
      throw new Error(`subgraphs not answering: ${failures.sort().join(', ')}`);
  };

  const handler = createGraphQLHandler<RouterContext>({
    apollo,
    log: options.log,
    bodyLimit: options.bodyLimit,
    ready,
    context: async (req, base) => {
      const viewer = authenticate(req.headers.authorization);
      const log = viewer.claims.userId
        ? base.log.child({ userId: viewer.claims.userId })
        : base.log;
      return { ...base, log, claims: viewer.claims };
    },
  });
  return {
    apollo,
    gateway,
    handler: handler,
    /**
     * Serves subscriptions (graphql-ws) on the same server and path as HTTP. Call once
     * the server exists; `stop()` closes them too.
     */
    attach(server: Server) {
      httpServer = server;
      subscriptions = createSubscriptionServer({
        server,
        supergraph,
        dataSources,
        subgraphUrls: urls,
        routerSecret: options.routerSecret,
        authenticate,
        log: options.log,
        validationRules: armor.validationRules,
        parseOptions: armor.parseOptions,
        shareResolutions: optimized,
        executeOperation: async (request, contextValue) => {
          const response = await apollo.executeOperation(
            {
              query: request.query,
              variables: request.variables ?? {},
              ...(request.operationName ? { operationName: request.operationName } : {}),
            },
            { contextValue },
          );
          if (response.body.kind !== 'single')
            throw new Error('incremental delivery is not supported over WebSocket');
          return response.body.singleResult as ExecutionResult;
        },
      });
      return subscriptions;
    },
    subscriptionStats: () => subscriptions?.stats(),
    /**
     * Graceful stop: close WebSockets (1001), stop accepting HTTP and let requests in
     * flight finish, then stop the gateway.
     */
    stop: async () => {
      await subscriptions?.close();
      if (httpServer) await closeServer(httpServer);
      supergraph.stop();
      await apollo.stop();
      subgraphFetcher?.close();
    },
  };
}
