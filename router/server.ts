import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { ApolloGateway, type GraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { commonApolloOptions } from '#lib/apollo.js';
import type { Config, OperationLimits } from '#lib/config.js';
import { closeServer, createGraphQLHandler } from '#lib/http.js';
import type { Logger } from '#lib/log.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';
import {
  createAuthenticator,
  tokenVerification,
  type Authenticator,
  type TokenVerification,
} from './auth.js';
import { batchEntityFetches } from './batching.js';
import type { RouterContext } from './context.js';
import { createSubgraphDataSource } from './datasource.js';
import { createSubgraphFetcher } from './fetcher.js';
import { operationLimits } from './limits.js';
import { shareResolutions, type EventSharing } from './sharing.js';
import { createSubscriptionServer, watchSupergraph } from './subscriptions.js';

export interface RouterOptions {
  supergraphSdl: string;
  /** Where each subgraph's GraphQL endpoint is; overrides the URLs in the supergraph. */
  subgraphUrls: Readonly<Record<string, string>>;
  routerSecret: string;
  jwt: TokenVerification;
  production: boolean;
  bodyLimit: number;
  subgraphTimeoutMs: number;
  limits: OperationLimits;
  log: Logger;
}

/** One subgraph as the router reaches it: its name in the supergraph, its GraphQL URL. */
export interface SubgraphTarget {
  name: string;
  url: string;
}

/**
 * The pieces a router is assembled from. `createRouter` uses production's,
 * `routerParts(options)`, unless given others: the benchmark assembles its "before" router
 * from plainer ones (bench/baseline.ts).
 */
export interface RouterParts {
  /** Turns an `Authorization` value (HTTP header, graphql-ws `connection_init`) into a viewer. */
  authenticate: Authenticator;
  /** The data source through which the gateway, and subscription events, reach one subgraph. */
  dataSource(subgraph: SubgraphTarget): GraphQLDataSource<RouterContext>;
  /** How a subscription event is resolved for its viewers (sharing.ts). */
  sharing: EventSharing;
  /** Releases what the parts hold (idle keep-alive sockets) once the router has stopped. */
  close(): void;
}

/**
 * The router's production parts: every bearer token verified with a key made once (auth.ts);
 * subgraph requests over undici's keep-alive pools within the subgraph timeout, identical
 * in-flight queries of one viewer sharing one request (fetcher.ts, datasource.ts); the
 * entity fetches of one request to one subgraph sent as one operation (batching.ts); a
 * subscription event resolved once for every viewer when the subgraphs answer PUBLIC
 * (sharing.ts).
 */
function routerParts(
  options: Pick<RouterOptions, 'jwt' | 'routerSecret' | 'subgraphTimeoutMs'>,
): RouterParts {
  const fetcher = createSubgraphFetcher({ timeoutMs: options.subgraphTimeoutMs });
  return {
    authenticate: createAuthenticator(options.jwt),
    dataSource: ({ name, url }) =>
      batchEntityFetches(
        createSubgraphDataSource({ name, url, secret: options.routerSecret, fetcher }),
      ),
    sharing: shareResolutions(),
    close: () => fetcher.close(),
  };
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
 * and the tests build exactly this, from production's parts unless `parts` are given.
 */
export async function createRouter(
  options: RouterOptions,
  parts: RouterParts = routerParts(options),
) {
  const { authenticate } = parts;
  const urls = new Map<string, string>();
  const dataSources = new Map<string, GraphQLDataSource<RouterContext>>();
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) => {
      const target = options.subgraphUrls[name] ?? url;
      if (!target) throw new Error(`no URL for subgraph ${name}`);
      urls.set(name, target);
      const source = parts.dataSource({ name, url: target });
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
        sharing: parts.sharing,
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
      parts.close();
    },
  };
}
