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
import { ANONYMOUS, CLAIMS_EXTENSION, signClaims, type Claims } from '#lib/auth/claims.js';
import { ErrorCode, formatError, unauthenticated } from '#lib/errors.js';
import type { Logger } from '#lib/log.js';
import { sampleRouterSockets, sampleSubscriptions } from '#lib/metrics.js';
import type { Authenticator, Viewer } from './auth.js';
import type { RouterContext } from './context.js';
import { newCachePolicy, shareabilityOf, type EventSharing, type Resolution } from './sharing.js';

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
  /**
   * How an event is resolved for its viewers: `shareResolutions()` (sharing.ts) resolves an
   * identical event once for every viewer when the subgraphs allow.
   */
  sharing: EventSharing;
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
  /** Events answered with another viewer's identical resolution (see `shareResolutions`). */
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
      const policy = newCachePolicy();
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
      return {
        result: {
          data: (result.data ?? null) as ExecutionResult['data'],
          ...(errors.length > 0 ? { errors } : {}),
        },
        ...shareabilityOf(policy, { rest: rest !== undefined, failed: errors.length > 0 }),
      };
    };
  }

  let eventsResolved = 0;
  /** A resolution that failed outright (executeQueryPlan threw): this viewer's error alone. */
  const unshared = (err: unknown): Resolution => ({
    result: { errors: [toGraphQLError(err)] },
    shareableForMs: 0,
    private: false,
  });

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
    const resolveOwn = (upstream: ExecutionResult) => resolveEvent(upstream).catch(unshared);
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
            .then(() =>
              options.sharing.resolve(operationKey, upstream as ExecutionResult, resolveOwn),
            )
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
      eventsShared: options.sharing.eventsShared(),
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
