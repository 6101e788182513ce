import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  parse,
  print,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type ParseOptions,
  type ValidationRule,
} from 'graphql';
import { CloseCode, createClient, type Client, type SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { getVariableValues } from 'graphql/execution/values.js';
import WebSocket, { WebSocketServer } from 'ws';
import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import {
  buildOperationContext,
  executeQueryPlan,
  type ApolloGateway,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import { QueryPlanner, type FetchNode, type PlanNode, type QueryPlan } from '@apollo/query-planner';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { Repeater } from '@repeaterjs/repeater';
import { ANONYMOUS, signClaims, type Claims } from '#lib/auth/claims.js';
import { ErrorCode, formatError, unauthenticated } from '#lib/errors.js';
import type { Logger } from '#lib/log.js';
import { sampleRouterSockets, sampleSubscriptions } from '#lib/metrics.js';
import { CLAIMS_EXTENSION } from '#lib/subgraph.js';
import type { Authenticator, Viewer } from './auth.js';
import type { RouterContext } from './context.js';

/** Close code for a refused or expired token: clients reconnect with a fresh one. */
const CLOSE_FORBIDDEN = CloseCode.Forbidden; // 4403

export interface SubscriptionServerOptions {
  server: Server;
  /** The planner state of the gateway's current supergraph (see `watchSupergraph`). */
  supergraph: SupergraphWatch;
  /** The router's signed data sources by subgraph name: `rest` of a plan is fetched through them. */
  dataSources: ReadonlyMap<string, GraphQLDataSource<RouterContext>>;
  /** GraphQL HTTP URL of each subgraph; its WebSocket is the same URL with ws(s):. */
  subgraphUrls: ReadonlyMap<string, string>;
  routerSecret: string;
  /** Verifies a client's `connection_init` authorization (router/auth.ts). */
  authenticate: Authenticator;
  log: Logger;
  /** Extra validation rules (the operation limits), applied as on HTTP. */
  validationRules: readonly ValidationRule[];
  parseOptions: ParseOptions;
  /** Resolve an identical event once for every viewer when the subgraphs allow (`resolveShared`); default true. */
  shareResolutions?: boolean;
  /** Runs queries and mutations sent over the socket through the gateway, as on HTTP. */
  executeOperation: (request: SubscribePayload, context: RouterContext) => Promise<ExecutionResult>;
}

/** What the router tracks, for tests and metrics. */
export interface SubscriptionStats {
  /** Client subscriptions being served. */
  clientSubscriptions: number;
  /** Distinct upstream subscriptions to subgraphs (identical ones of one viewer share one). */
  upstreamSubscriptions: number;
  /** Open upstream sockets. */
  upstreamSockets: number;
  /** Events resolved through the plan's `rest` (subgraph fetches made for them). */
  eventsResolved: number;
  /** Events answered with another viewer's identical resolution (see `resolveShared`). */
  eventsShared: number;
}

export interface PlannerState {
  apiSchema: Schema;
  apiGraphQLSchema: GraphQLSchema;
  supergraphSchema: GraphQLSchema;
  planner: QueryPlanner;
}

/** The name under which an event enters the plan as if fetched: no subgraph has it. */
const EVENT_SOURCE = '__subscription_event__';

type RequestContextOf = Parameters<typeof executeQueryPlan>[2];

/**
 * The longest one viewer's resolution of an event serves other viewers, whatever max-age the
 * subgraphs allow: enough for one event's fan-out to every subscriber, too short for anything
 * stale to linger.
 */
const SHARE_MS = 1_000;
/** How long an operation whose resolutions depend on the viewer is not offered for sharing. */
const PRIVATE_FOR_MS = 60_000;
/** Bounds on what is remembered for sharing. */
const MAX_SHARED = 10_000;

type CacheHint = { maxAge?: number; scope?: 'PUBLIC' | 'PRIVATE' };

/**
 * The overall cache policy of one event's resolution, as Apollo Server keeps one per request:
 * the gateway's data sources restrict it with each subgraph response's `Cache-Control`
 * (`honorSubgraphCacheControlHeader`; a response without one restricts it to max-age 0).
 * Written out here because `@apollo/server` does not export its `newCachePolicy`.
 */
function cachePolicy() {
  return {
    maxAge: undefined as number | undefined,
    scope: undefined as CacheHint['scope'],
    restrict(hint: CacheHint) {
      if (hint.maxAge !== undefined && (this.maxAge === undefined || hint.maxAge < this.maxAge))
        this.maxAge = hint.maxAge;
      if (hint.scope !== undefined && this.scope !== 'PRIVATE') this.scope = hint.scope;
    },
    replace(hint: CacheHint) {
      if (hint.maxAge !== undefined) this.maxAge = hint.maxAge;
      if (hint.scope !== undefined) this.scope = hint.scope;
    },
    policyIfCacheable() {
      if (this.maxAge === undefined || this.maxAge === 0) return null;
      return { maxAge: this.maxAge, scope: this.scope ?? 'PUBLIC' };
    },
  };
}

/** A resolved event, and for how long (ms) it may serve other viewers (0: not at all). */
interface Resolution {
  result: ExecutionResult;
  shareableForMs: number;
  /** A subgraph answered PRIVATE or without a max-age: the answer depends on the viewer. */
  private: boolean;
}

/**
 * Federated subscriptions for `@apollo/gateway`, which plans subscriptions but will not
 * execute them. For each client subscription: plan it; run the plan's `primary` fetch as
 * a graphql-ws subscription on the subgraph that owns the root field; for every event,
 * run the plan's `rest` through the gateway's own `executeQueryPlan`, with the event
 * standing in as the result of the primary fetch. Only exported gateway APIs are used.
 */
export interface SupergraphWatch {
  current(): PlannerState | undefined;
  stop(): void;
}

/**
 * Keeps a query planner for the supergraph the gateway serves, rebuilt on every schema
 * load or update. Call before the gateway loads: the gateway tells only later listeners.
 */
export function watchSupergraph(gateway: ApolloGateway): SupergraphWatch {
  let state: PlannerState | undefined;
  const stop = gateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
    const supergraph = Supergraph.build(coreSupergraphSdl);
    state = {
      apiSchema: supergraph.apiSchema(),
      apiGraphQLSchema: apiSchema,
      supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
      planner: new QueryPlanner(supergraph),
    };
  });
  return { current: () => state, stop };
}

export function createSubscriptionServer(options: SubscriptionServerOptions) {
  const log = options.log.child({ component: 'subscriptions' });

  // ---------------------------------------------------------------- upstream sockets
  const clients = new Map<string, Client>();
  const connected = new Set<string>();
  const upstreamClient = (serviceName: string): Client => {
    let client = clients.get(serviceName);
    if (client) return client;
    const httpUrl = options.subgraphUrls.get(serviceName);
    if (!httpUrl) throw new Error(`no URL for subgraph ${serviceName}`);
    client = createClient({
      url: httpUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      // Signed anew on every (re)connect: only the router may open these sockets.
      connectionParams: () => signClaims(ANONYMOUS, options.routerSecret),
      lazy: true,
      lazyCloseTimeout: 1_000,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: async retries => {
        await new Promise(resolve => setTimeout(resolve, Math.min(5_000, 100 * 2 ** retries)));
      },
      on: {
        connected: () => {
          connected.add(serviceName);
          log.debug({ subgraph: serviceName }, 'upstream socket connected');
        },
        closed: () => {
          connected.delete(serviceName);
          log.debug({ subgraph: serviceName }, 'upstream socket closed');
        },
      },
    });
    clients.set(serviceName, client);
    return client;
  };

  // ---------------------------------------------------------------- shared upstream subscriptions
  type Listener = { push: (result: ExecutionResult) => void; stop: (err?: unknown) => void };
  interface Hub {
    listeners: Set<Listener>;
    dispose: () => void;
  }
  const hubs = new Map<string, Hub>();
  let clientSubscriptions = 0;

  const toGraphQLError = (err: unknown): GraphQLError => {
    if (err instanceof GraphQLError && err.extensions?.code) return err;
    log.warn({ err }, 'a subgraph fetch failed while resolving a subscription event');
    return new GraphQLError('Some fields could not be resolved: a subgraph did not answer', {
      ...(err instanceof GraphQLError && err.path ? { path: err.path } : {}),
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    });
  };

  type HubRequest = {
    document: DocumentNode;
    operationName: string | null;
    variables: Record<string, unknown>;
    context: RouterContext;
  };

  /**
   * What resolving an event of one subscription needs that does not change from event to
   * event — the plan with the event standing in for the primary fetch, the operation context,
   * the printed query, the service map — built once per upstream subscription, not per event.
   * Events of one subscription are resolved one after another, so the event source reads
   * the event being resolved from `current`.
   */
  function eventResolver(
    planState: PlannerState,
    primary: FetchNode,
    rest: PlanNode | undefined,
    request: HubRequest,
  ) {
    let current: Record<string, unknown> = {};
    const eventFetch: FetchNode = { ...primary, serviceName: EVENT_SOURCE };
    const plan: QueryPlan = {
      kind: 'QueryPlan',
      node: rest ? { kind: 'Sequence', nodes: [eventFetch, rest] } : eventFetch,
    };
    const eventSource: GraphQLDataSource<RouterContext> = {
      process: async () => ({ data: current }),
    };
    const serviceMap: ServiceMap = Object.fromEntries([
      ...options.dataSources,
      [EVENT_SOURCE, eventSource],
    ]);
    const operationContext = buildOperationContext({
      schema: planState.apiGraphQLSchema,
      operationDocument: request.document,
      operationName: request.operationName ?? undefined,
    });
    const query = print(request.document);
    const logger = {
      debug: () => {},
      info: () => {},
      warn: (m: unknown) => log.warn(m),
      error: (m: unknown) => log.error(m),
    };

    /**
     * Resolves one upstream event into the client's full result. Without `rest` the result
     * is the event itself; with it, it is the same for every viewer only when every subgraph
     * answered PUBLIC with a max-age (the policy the data sources restrict).
     */
    return async (upstream: ExecutionResult): Promise<Resolution> => {
      if (!upstream.data)
        return {
          result: { errors: (upstream.errors ?? []).map(e => toGraphQLError(e)) },
          shareableForMs: 0,
          private: false,
        };
      current = upstream.data;
      const policy = cachePolicy();
      // executeQueryPlan reads request.variables, context, logger and metrics of this object.
      const requestContext = {
        request: { query, variables: request.variables, operationName: request.operationName },
        context: request.context,
        logger,
        metrics: {},
        document: request.document,
        operationName: request.operationName,
        operation: operationContext.operation,
        schema: planState.apiGraphQLSchema,
        overallCachePolicy: policy,
      } as unknown as RequestContextOf;
      eventsResolved += 1;
      const result = await executeQueryPlan(
        plan,
        serviceMap,
        requestContext,
        operationContext,
        planState.supergraphSchema,
        planState.apiSchema,
      );
      const errors = [...(upstream.errors ?? []), ...(result.errors ?? [])].map(e =>
        toGraphQLError(e),
      );
      // No subgraph answered (no `rest`, or only null entities to fetch): the result is the event's own.
      const untouched = policy.maxAge === undefined && policy.scope === undefined;
      const cacheable =
        rest && !untouched
          ? policy.policyIfCacheable()
          : { maxAge: Number.POSITIVE_INFINITY, scope: 'PUBLIC' };
      const isPublic = cacheable?.scope === 'PUBLIC';
      return {
        result: {
          data: (result.data ?? null) as ExecutionResult['data'],
          ...(errors.length > 0 ? { errors } : {}),
        },
        // A failed fetch is this resolution's own bad luck: not shared, but not a sign of privacy.
        shareableForMs:
          errors.length === 0 && cacheable && isPublic
            ? Math.min(SHARE_MS, cacheable.maxAge * 1_000)
            : 0,
        private: errors.length === 0 && !isPublic,
      };
    };
  }

  // ---------------------------------------------------------------- events resolved once for many viewers
  const resolutions = new Map<string, { resolution: Promise<Resolution>; until: number }>();
  /** Operations whose last resolution depended on its viewer, until when. */
  const privateOperations = new Map<string, number>();
  const share = options.shareResolutions ?? true;
  let eventsResolved = 0;
  let eventsShared = 0;
  const unshared = (err: unknown): Resolution => ({
    result: { errors: [toGraphQLError(err)] },
    shareableForMs: 0,
    private: false,
  });
  /** Drops expired entries from the front (oldest first), and the oldest beyond the bound. */
  const prune = <V>(map: Map<string, V>, expiry: (v: V) => number, now: number) => {
    for (const [key, value] of map) {
      if (expiry(value) > now && map.size < MAX_SHARED) break;
      map.delete(key);
    }
  };

  /**
   * Every viewer subscribed to the same operation gets its own upstream subscription (the
   * subgraph decides what each may see), so one change reaches the router once per viewer,
   * as identical events when they saw the same thing. Resolving each of them through `rest`
   * would ask the other subgraphs the same question once per viewer: with a thousand viewers,
   * a thousand identical `_entities` requests per event. So an event is resolved once, and its
   * result serves every identical event of the same operation (same document and variables)
   * that arrives while it is in flight or within the shorter of its max-age and `SHARE_MS` —
   * but only when every subgraph in `rest` answered PUBLIC with a max-age (Apollo's
   * `@cacheControl` hints, e.g. `User.displayName`): then the answer cannot depend on who asked.
   * A resolution that turns out PRIVATE serves no one else: the viewers that waited on it
   * resolve their own, and the operation is not offered for sharing for a while. One with
   * errors (a subgraph down) is not shared either; the next event is offered again.
   */
  async function resolveShared(
    operationKey: string,
    upstream: ExecutionResult,
    resolveOwn: (upstream: ExecutionResult) => Promise<Resolution>,
  ) {
    const now = Date.now();
    const privateUntil = privateOperations.get(operationKey);
    if (
      !share ||
      !upstream.data ||
      upstream.errors?.length ||
      (privateUntil !== undefined && privateUntil > now)
    ) {
      return (await resolveOwn(upstream).catch(unshared)).result;
    }
    const key = `${operationKey}\n${JSON.stringify(upstream.data)}`;
    const existing = resolutions.get(key);
    if (existing && existing.until > now) {
      const theirs = await existing.resolution.catch(unshared);
      if (theirs.shareableForMs > 0) {
        eventsShared += 1;
        return theirs.result;
      }
      return (await resolveOwn(upstream).catch(unshared)).result;
    }
    const resolution = resolveOwn(upstream).catch(unshared);
    const entry = { resolution, until: now + SHARE_MS };
    prune(resolutions, e => e.until, now);
    resolutions.set(key, entry);
    const own = await resolution;
    if (own.shareableForMs > 0) {
      entry.until = Math.min(entry.until, Date.now() + own.shareableForMs);
    } else {
      if (resolutions.get(key) === entry) resolutions.delete(key);
      if (own.private) {
        prune(privateOperations, until => until, now);
        privateOperations.set(operationKey, Date.now() + PRIVATE_FOR_MS);
      }
    }
    return own.result;
  }

  function openHub(
    key: string,
    operationKey: string,
    planState: PlannerState,
    primary: FetchNode,
    rest: PlanNode | undefined,
    request: {
      document: DocumentNode;
      operationName: string | null;
      variables: Record<string, unknown>;
      context: RouterContext;
    },
  ): Hub {
    const listeners = new Set<Listener>();
    const upstreamVariables = Object.fromEntries(
      (primary.variableUsages ?? [])
        .filter(v => v in request.variables)
        .map(v => [v, request.variables[v]]),
    );
    const claims: Claims = request.context.claims;
    const resolveEvent = eventResolver(planState, primary, rest, request);
    // Events are resolved one after another, so a client sees them in upstream order.
    let queue: Promise<void> = Promise.resolve();
    const broadcast = (result: ExecutionResult) => {
      for (const listener of listeners) listener.push(result);
    };
    const dispose = upstreamClient(primary.serviceName).subscribe(
      {
        query: primary.operation,
        ...(primary.operationName ? { operationName: primary.operationName } : {}),
        variables: upstreamVariables,
        extensions: {
          // Serialised anew each time graphql-ws sends this subscribe message, including
          // after a reconnect, so the signature is always fresh.
          [CLAIMS_EXTENSION]: { toJSON: () => signClaims(claims, options.routerSecret) },
          requestId: request.context.requestId,
        },
      },
      {
        next: upstream => {
          queue = queue
            .then(() => resolveShared(operationKey, upstream as ExecutionResult, resolveEvent))
            .then(broadcast, (err: unknown) => broadcast({ errors: [toGraphQLError(err)] }));
        },
        error: err => {
          const errors = Array.isArray(err)
            ? err.map(e => toGraphQLError(e))
            : [toGraphQLError(err)];
          queue = queue.then(() => {
            broadcast({ errors });
            for (const listener of listeners) listener.stop();
          });
        },
        complete: () => {
          queue = queue.then(() => {
            for (const listener of listeners) listener.stop();
          });
        },
      },
    );
    const hub: Hub = {
      listeners,
      dispose: () => {
        hubs.delete(key);
        dispose();
      },
    };
    hubs.set(key, hub);
    return hub;
  }

  /** graphql-ws `subscribe`: the federated event stream of one client subscription. */
  function subscribe(request: {
    document: DocumentNode;
    operationName: string | null;
    variables: Record<string, unknown>;
    context: RouterContext;
  }): AsyncIterable<ExecutionResult> | ExecutionResult {
    const planState = options.supergraph.current();
    if (!planState)
      return {
        errors: [
          new GraphQLError('The router is not ready yet', {
            extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
          }),
        ],
      };
    const operation = operationFromDocument(planState.apiSchema, request.document, {
      ...(request.operationName ? { operationName: request.operationName } : {}),
    });
    const plan = planState.planner.buildQueryPlan(operation);
    if (plan.node?.kind !== 'Subscription') {
      return {
        errors: [
          new GraphQLError('Not a subscription', {
            extensions: { code: ApolloServerErrorCode.BAD_REQUEST },
          }),
        ],
      };
    }
    const { primary, rest } = plan.node;
    const { claims } = request.context;
    const operationKey = JSON.stringify([
      print(request.document),
      request.operationName,
      request.variables,
    ]);
    const key = JSON.stringify([claims.userId, claims.role, claims.username, operationKey]);
    return new Repeater<ExecutionResult>(async (push, stop) => {
      const hub = hubs.get(key) ?? openHub(key, operationKey, planState, primary, rest, request);
      const listener: Listener = { push: r => void push(r), stop: err => stop(err) };
      hub.listeners.add(listener);
      clientSubscriptions += 1;
      await stop;
      clientSubscriptions -= 1;
      hub.listeners.delete(listener);
      if (hub.listeners.size === 0) hub.dispose();
    });
  }

  // ---------------------------------------------------------------- the client-facing server
  const wss = new WebSocketServer({ server: options.server, path: '/graphql' });
  type Extra = { viewer?: Viewer; expiry?: NodeJS.Timeout };
  const disposable = useServer<Record<string, unknown> | undefined, Extra>(
    {
      onConnect: ctx => {
        const authorization = ctx.connectionParams?.authorization;
        let viewer: Viewer;
        try {
          viewer = options.authenticate(
            typeof authorization === 'string' ? authorization : undefined,
          );
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
        ctx.extra.viewer = viewer;
        if (viewer.expiresAt !== null) {
          const socket = ctx.extra.socket;
          ctx.extra.expiry = setTimeout(
            () => socket.close(CLOSE_FORBIDDEN, 'Access token expired'),
            Math.max(0, viewer.expiresAt - Date.now()),
          );
        }
        return true;
      },
      onClose: ctx => {
        clearTimeout(ctx.extra.expiry);
      },
      onSubscribe: (ctx, _id, payload) => {
        const planState = options.supergraph.current();
        const viewer = ctx.extra.viewer ?? { claims: ANONYMOUS, expiresAt: null };
        if (!planState)
          return [
            new GraphQLError('The router is not ready yet', {
              extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
            }),
          ];
        let document: DocumentNode;
        try {
          document = parse(payload.query, options.parseOptions);
        } catch (err) {
          return [
            new GraphQLError((err as GraphQLError).message, {
              extensions: { code: ApolloServerErrorCode.GRAPHQL_PARSE_FAILED },
            }),
          ];
        }
        const validationErrors = validate(planState.apiGraphQLSchema, document, [
          ...specifiedRules,
          ...options.validationRules,
        ]);
        if (validationErrors.length > 0) {
          return validationErrors.map(
            e =>
              new GraphQLError(e.message, {
                nodes: e.nodes ?? null,
                extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED },
              }),
          );
        }
        const operation = getOperationAST(document, payload.operationName ?? undefined);
        if (!operation) {
          return [
            new GraphQLError('Could not determine which operation to run', {
              extensions: { code: ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE },
            }),
          ];
        }
        const coerced = getVariableValues(
          planState.apiGraphQLSchema,
          operation.variableDefinitions ?? [],
          payload.variables ?? {},
        );
        if (coerced.errors) {
          return coerced.errors.map(
            e =>
              new GraphQLError(e.message, {
                nodes: e.nodes ?? null,
                extensions: { code: ErrorCode.BAD_USER_INPUT },
              }),
          );
        }
        if (operation.operation === OperationTypeNode.SUBSCRIPTION && viewer.claims.userId === null)
          return [unauthenticated()];
        const requestId = randomUUID();
        const context: RouterContext = {
          requestId,
          claims: viewer.claims,
          log: log.child({
            requestId,
            ...(viewer.claims.userId ? { userId: viewer.claims.userId } : {}),
          }),
        };
        return {
          schema: planState.apiGraphQLSchema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: coerced.coerced,
          contextValue: context,
        };
      },
      subscribe: args =>
        subscribe({
          document: args.document,
          operationName: args.operationName ?? null,
          variables: args.variableValues ?? {},
          context: args.contextValue as RouterContext,
        }),
      execute: args =>
        options.executeOperation(
          {
            query: print(args.document),
            operationName: args.operationName ?? null,
            variables: args.variableValues ?? {},
          },
          args.contextValue as RouterContext,
        ),
      // Same error vocabulary as HTTP: no internals leave the router.
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: result.errors.map(e => formatError(e.toJSON ? e.toJSON() : e)) }
          : result,
    },
    wss,
  );

  const unsample = [
    sampleRouterSockets({ service: 'router' }, () => wss.clients.size),
    sampleSubscriptions({ side: 'client' }, () => clientSubscriptions),
    sampleSubscriptions({ side: 'upstream' }, () => hubs.size),
  ];

  return {
    stats: (): SubscriptionStats => ({
      clientSubscriptions,
      upstreamSubscriptions: hubs.size,
      upstreamSockets: connected.size,
      eventsResolved,
      eventsShared,
    }),
    /** Closes client sockets with 1001 (going away) and every upstream socket. */
    close: async () => {
      for (const stop of unsample) stop();
      for (const socket of wss.clients) socket.close(1001, 'Router shutting down');
      await disposable.dispose();
      await new Promise<void>(resolve => wss.close(() => resolve()));
      for (const hub of [...hubs.values()]) hub.dispose();
      // dispose() rejects when a reconnect attempt was under way: the socket is gone either way.
      await Promise.all(
        [...clients.values()].map(async c => Promise.resolve(c.dispose()).catch(() => {})),
      );
    },
  };
}
