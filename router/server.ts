import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ApolloGateway, type GraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { commonApolloOptions } from '#lib/apollo.js';
import type { Config, OperationLimits } from '#lib/config.js';
import { errorFormatter } from '#lib/errors.js';
import type { EventBus } from '#lib/events/bus.js';
import { closeServer, createGraphQLHandler, metricsAccess, type MetricsAccess } from '#lib/http.js';
import type { Logger } from '#lib/log.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';
import {
  createAuthenticator,
  tokenVerification,
  type Authenticator,
  type TokenVerification,
} from './auth.js';
import { batchEntityFetches } from './batching.js';
import { newBudget } from './budget.js';
import { clientAddressOf } from './client-address.js';
import type { RouterContext } from './context.js';
import { corsHandler } from './cors.js';
import { createSubgraphDataSource } from './datasource.js';
import { graphiqlHandler, landingPageWithFallback } from './explorer.js';
import { createSubgraphFetcher } from './fetcher.js';
import { idempotencyKeyOf } from './idempotency.js';
import { operationLimits } from './limits.js';
import {
  operationPolicy,
  runOperation,
  withSubscriptions,
  type OperationRequest,
} from './pipeline.js';
import {
  IDENTITY_SUBGRAPH,
  refusingRevoked,
  revocationView,
  startRevocationFeed,
} from './revocations.js';
import { subscriptionBridge, type SubscriptionClaimsTiming } from './subscriptions/bridge.js';
import { subscriptionQuota } from './subscriptions/quota.js';
import { shareResolutions, type EventSharing } from './subscriptions/sharing.js';
import { upstreamSockets } from './subscriptions/upstream.js';
import { watchSupergraph } from './supergraph.js';
import { serveHttpStreams } from './transports/http-streams.js';
import type { StreamingParts } from './transports/parts.js';
import { serveWebSockets } from './transports/ws.js';
import { unavailableStatus } from './unavailable.js';

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
  /** EMAIL_VERIFICATION: `required` confines unverified viewers (pipeline.ts); default `optional`. */
  emailVerification?: 'optional' | 'required';
  /** TRUSTED_PROXIES: whose X-Forwarded-For names the client (client-address.ts). */
  trustedProxies: readonly string[];
  /** Who may read /metrics on the router's port. */
  metrics: MetricsAccess;
  /** CORS_ORIGINS: the browser origins that may call the router (cors.ts). */
  corsOrigins: readonly string[];
  /** How often an idle SSE or multipart stream sends a heartbeat (tests shorten it). */
  streamHeartbeatMs?: number;
  /** Where revocations arrive from the users service (router/revocations.ts). */
  bus: EventBus;
  /** ACCESS_TOKEN_TTL in ms: how long a revocation matters. */
  accessTokenTtlMs: number;
  /**
   * The subgraphs run in other processes (the router's own entry point): with an in-process
   * bus, revocations are then read from the users service periodically.
   */
  standalone: boolean;
  /** How long upstream subscription claims live and how often they are renewed (tests). */
  subscriptionClaims?: SubscriptionClaimsTiming;
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
  bus: EventBus,
): RouterOptions {
  return {
    bus,
    accessTokenTtlMs: config.jwt.accessTokenTtl * 1000,
    standalone: false,
    supergraphSdl: readFileSync(SUPERGRAPH_PATH, 'utf8'),
    subgraphUrls,
    routerSecret: config.routerSecret,
    jwt: tokenVerification(config.jwt),
    production: config.production,
    bodyLimit: config.bodyLimit,
    subgraphTimeoutMs: config.subgraphTimeoutMs,
    limits: config.limits,
    emailVerification: config.mail.verification,
    trustedProxies: config.trustedProxies,
    corsOrigins: config.corsOrigins,
    metrics: metricsAccess(config),
    log,
  };
}

/** The health URL of a subgraph, from its GraphQL URL. */
const healthUrl = (graphqlUrl: string) => new URL('/health', graphqlUrl).toString();

/**
 * The router: `@apollo/gateway` on the committed supergraph inside Apollo Server, verifying
 * the bearer token and forwarding signed claims. Every operation, whatever its transport, runs
 * through the one request pipeline (pipeline.ts); subscriptions it accepts are streamed by the
 * bridge (subscriptions/). A pure factory: `index.ts` and the tests build exactly this, from
 * production's parts unless `parts` are given.
 */
export async function createRouter(
  options: RouterOptions,
  parts: RouterParts = routerParts(options),
) {
  const { limits } = options;
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
  const armor = operationLimits(limits, options.production);
  const common = commonApolloOptions<RouterContext>({
    service: 'router',
    production: options.production,
    landingPage: options.production ? 'none' : landingPageWithFallback(),
  });
  const apollo = new ApolloServer<RouterContext>({
    gateway: withSubscriptions(gateway),
    ...common,
    plugins: [
      ...(common.plugins ?? []),
      ...(armor.plugins as ApolloServerPlugin<RouterContext>[]),
      unavailableStatus(),
      operationPolicy({
        supergraph,
        maxCost: limits.maxCost,
        defaultListSize: limits.costDefaultListSize,
        emailVerification: options.emailVerification ?? 'optional',
      }),
    ],
    validationRules: armor.validationRules,
    parseOptions: armor.parseOptions,
    allowBatchedHttpRequests: false,
  });
  await apollo.start();
  const usersUrl = urls.get(IDENTITY_SUBGRAPH);
  if (!usersUrl) throw new Error(`the supergraph has no ${IDENTITY_SUBGRAPH} subgraph`);
  const revocations = await startRevocationFeed({
    bus: options.bus,
    usersUrl,
    routerSecret: options.routerSecret,
    standalone: options.standalone,
    view: revocationView({ tokenTtlMs: options.accessTokenTtlMs, log: options.log }),
    log: options.log,
  });
  const authenticate = refusingRevoked(parts.authenticate, revocations.view, revocations.loaded);
  const clientAddress = clientAddressOf(options.trustedProxies);
  const quota = subscriptionQuota({
    perConnection: limits.maxSubscriptionsPerConnection,
    perViewer: limits.maxSubscriptionsPerViewer,
  });
  const bridge = subscriptionBridge({
    supergraph,
    dataSources,
    upstream: upstreamSockets({
      subgraphUrls: urls,
      routerSecret: options.routerSecret,
      log: options.log,
    }),
    sharing: parts.sharing,
    routerSecret: options.routerSecret,
    ...(options.subscriptionClaims ? { claims: options.subscriptionClaims } : {}),
    log: options.log,
  });
  let webSockets: ReturnType<typeof serveWebSockets> | undefined;
  let httpServer: Server | undefined;

  /** Ready when every subgraph answers its /health and the revocations are known. */
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
    revocations.ready();
  };

  const formatError = errorFormatter({ production: options.production });
  const run = (request: OperationRequest, context: RouterContext) =>
    runOperation(apollo, request, context);
  const streaming: StreamingParts = {
    run,
    bridge,
    quota,
    authenticate,
    revocations: revocations.view,
    clientAddress,
    formatError,
  };
  const httpStreams = serveHttpStreams({
    ...streaming,
    maxResponseBytes: limits.maxResponseBytes,
    ...(options.streamHeartbeatMs ? { heartbeatMs: options.streamHeartbeatMs } : {}),
    log: options.log,
  });
  const graphql = createGraphQLHandler<RouterContext>({
    apollo,
    log: options.log,
    bodyLimit: options.bodyLimit,
    maxResponseBytes: limits.maxResponseBytes,
    metrics: options.metrics,
    ready,
    context: async (req, base) => {
      const viewer = authenticate(req.headers.authorization, clientAddress(req));
      const log = viewer.claims.userId
        ? base.log.child({ userId: viewer.claims.userId })
        : base.log;
      return {
        ...base,
        log,
        claims: viewer.claims,
        idempotencyKey: idempotencyKeyOf(req),
        transport: 'http',
        budget: newBudget(limits.maxResponseBytes),
      };
    },
    takeOver: httpStreams.handle,
  });
  const cors = corsHandler(options.corsOrigins);
  const graphiql = options.production ? undefined : graphiqlHandler(options.log);
  /** CORS first (a preflight ends there), then GraphiQL (development), then GraphQL. */
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    if (cors(req, res)) return;
    if (graphiql && (await graphiql(req, res))) return;
    await graphql(req, res);
  };
  return {
    apollo,
    gateway,
    handler,
    /**
     * Serves subscriptions (graphql-ws) on the same server and path as HTTP. Call once
     * the server exists; `stop()` closes them too.
     */
    attach(server: Server) {
      httpServer = server;
      webSockets = serveWebSockets({
        server,
        ...streaming,
        limits: {
          maxPayload: options.bodyLimit,
          maxResponseBytes: limits.maxResponseBytes,
          maxSocketsPerAddress: limits.maxSocketsPerAddress,
        },
        log: options.log,
      });
      return webSockets;
    },
    subscriptionStats: () => bridge.stats(),
    /**
     * Graceful stop: close WebSockets (1001), stop accepting HTTP and let requests in
     * flight finish, then end the upstream subscriptions and stop the gateway.
     */
    stop: async () => {
      await webSockets?.close();
      httpStreams.close();
      if (httpServer) await closeServer(httpServer);
      await bridge.close();
      await revocations.stop();
      supergraph.stop();
      await apollo.stop();
      parts.close();
    },
  };
}
