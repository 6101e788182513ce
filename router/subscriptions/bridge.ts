import { GraphQLError, print, type ExecutionResult } from 'graphql';
import { operationFromDocument } from '@apollo/federation-internals';
import type { GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode, PlanNode } from '@apollo/query-planner';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { Repeater } from '@repeaterjs/repeater';
import { CLAIMS_EXTENSION, signClaims, subscriptionScope } from '#lib/auth/claims.js';
import { ErrorCode } from '#lib/errors.js';
import {
  asPosition,
  CAUSE_EXTENSION,
  EVENT_ID_EXTENSION,
  POSITION_EXTENSION,
  RESUME_EXTENSION,
} from '#lib/live.js';
import type { Logger } from '#lib/log.js';
import { sampleSubscriptions } from '#lib/metrics.js';
import { serviceScope, traceCarrier, withLinkedSpan } from '#lib/telemetry.js';
import type { PreparedSubscription, RouterContext } from '../context.js';
import type { SupergraphState, SupergraphWatch } from '../supergraph.js';
import { asClientError, eventResolver } from './events.js';
import type { EventSharing, Resolution } from './sharing.js';
import type { UpstreamSockets } from './upstream.js';

/** What the router tracks of its subscriptions, for tests and metrics. */
export interface SubscriptionStats {
  /** Client subscriptions being served, whatever their transport. */
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

/**
 * Federated subscriptions for `@apollo/gateway`, which plans subscriptions but will not execute
 * them; every transport (graphql-ws, SSE, multipart HTTP) hands its subscriptions here once the
 * request pipeline has accepted them.
 */
export interface SubscriptionBridge {
  /** The event stream of one client subscription; ends when the client returns it. */
  subscribe(prepared: PreparedSubscription): AsyncIterable<ExecutionResult> | ExecutionResult;
  stats(): SubscriptionStats;
  /** Ends every upstream subscription and closes the upstream sockets. */
  close(): Promise<void>;
}

type Listener = { push: (result: ExecutionResult) => void; stop: () => void };

/** One upstream subscription and the client subscriptions it feeds. */
interface Hub {
  listeners: Set<Listener>;
  dispose: () => void;
  subgraph: string;
  /** The id of its subscribe message now (a new one after each reconnect). */
  upstreamId: string | undefined;
  /** The viewer's claims, signed anew for this subscription. */
  sign: () => Record<string, string>;
}

/**
 * How long the claims an upstream subscription carries hold, and how often the router renews
 * those it still vouches for: a subscription the router stops renewing (its client left, its
 * token was revoked) ends at the subgraph within `lifetimeMs`, even if the router never says
 * so. Renewing three times per life rides out a lost ping or two.
 */
export interface SubscriptionClaimsTiming {
  lifetimeMs: number;
  renewEveryMs: number;
}
const SUBSCRIPTION_CLAIMS: SubscriptionClaimsTiming = {
  lifetimeMs: 120_000,
  renewEveryMs: 40_000,
};

/**
 * How many event ids each upstream subscription remembers to drop a second copy: a relay that
 * died republishes one batch (`BATCH_SIZE`, 100, in lib/events/outbox.ts, not imported here:
 * the router loads no database code), and at most one other batch (a late commit of a smaller
 * `seq`) comes between the two copies. Per subscription, so it stays small with many viewers.
 */
const RECENT_EVENT_IDS = 200;

const notReady = (message: string, code: string): ExecutionResult => ({
  errors: [new GraphQLError(message, { extensions: { code } })],
});

/**
 * For each client subscription: plan it with the gateway's planner; run the plan's `primary`
 * fetch as a graphql-ws subscription on the subgraph that owns the root field, with the
 * viewer's claims signed in its `extensions`; resolve every event through the rest of the plan
 * (events.ts), once for many viewers when the subgraphs allow (sharing.ts). Identical
 * subscriptions of one viewer share one upstream subscription; viewers never share one (the
 * subgraph decides what each may see). Returning the last client subscription of an upstream
 * one ends it at once.
 */
export function subscriptionBridge(options: {
  supergraph: SupergraphWatch;
  /** The router's signed data sources by subgraph name: `rest` of a plan is fetched through them. */
  dataSources: ReadonlyMap<string, GraphQLDataSource<RouterContext>>;
  upstream: UpstreamSockets;
  sharing: EventSharing;
  routerSecret: string;
  /** SUBSCRIPTION_CLAIMS unless given (tests shorten it). */
  claims?: SubscriptionClaimsTiming;
  log: Logger;
}): SubscriptionBridge {
  const log = options.log.child({ component: 'subscriptions' });
  const timing = options.claims ?? SUBSCRIPTION_CLAIMS;
  // Event resolutions are the router's spans, in one process too (created by createRouter).
  const inRouter = serviceScope();
  const hubs = new Map<string, Hub>();
  let clientSubscriptions = 0;
  let eventsResolved = 0;

  /** A resolution that failed outright (executeQueryPlan threw): this viewer's error alone. */
  const unshared = (err: unknown): Resolution => ({
    result: { errors: [asClientError(err, log)] },
    shareableForMs: 0,
    private: false,
  });

  function openHub(
    key: string,
    operationKey: string,
    state: SupergraphState,
    primary: FetchNode,
    rest: PlanNode | undefined,
    request: PreparedSubscription,
  ): Hub {
    const listeners = new Set<Listener>();
    const upstreamVariables = Object.fromEntries(
      (primary.variableUsages ?? [])
        .filter(v => v in request.variables)
        .map(v => [v, request.variables[v]]),
    );
    const { claims } = request.context;
    const subgraph = primary.serviceName;
    const operation = {
      query: primary.operation,
      operationName: primary.operationName ?? null,
      variables: upstreamVariables,
    };
    const sign = () =>
      signClaims(
        claims,
        options.routerSecret,
        { audience: subgraph, body: subscriptionScope(operation) },
        { lifetimeMs: timing.lifetimeMs },
      );
    const resolveEvent = eventResolver({
      state,
      primary,
      rest,
      request,
      dataSources: options.dataSources,
      log,
      onResolve: () => void (eventsResolved += 1),
    });
    const resolveOwn = (upstream: ExecutionResult) => resolveEvent(upstream).catch(unshared);
    // Events are resolved one after another, so a client sees them in upstream order.
    let queue: Promise<void> = Promise.resolve();
    const broadcast = (result: ExecutionResult) => {
      for (const listener of listeners) listener.push(result);
    };
    // The position of the last event the subgraph sent: after a reconnect (the subgraph
    // restarted, the socket dropped) graphql-ws subscribes again with the same payload, and
    // the subgraph replays from there, so no event published meanwhile is missed.
    let position: number | undefined;
    // The ids of its latest events: one published twice (see EVENT_ID_EXTENSION) goes out once.
    const recent = new Set<string>();
    // The client's subscribe request: the subgraph's spans for it join the client's trace.
    const { traceparent } = traceCarrier();
    const payload = {
      query: operation.query,
      ...(operation.operationName ? { operationName: operation.operationName } : {}),
      variables: upstreamVariables,
      extensions: {
        // Serialised anew each time graphql-ws sends this subscribe message, including
        // after a reconnect, so the signature is always fresh.
        [CLAIMS_EXTENSION]: { toJSON: sign },
        [RESUME_EXTENSION]: { toJSON: () => position },
        requestId: request.context.requestId,
        ...(traceparent ? { traceparent } : {}),
      },
    };
    const hub: Hub = {
      listeners,
      dispose: () => {
        hubs.delete(key);
        dispose();
      },
      subgraph,
      upstreamId: undefined,
      sign,
    };
    options.upstream.track(payload, id => void (hub.upstreamId = id));
    const dispose = options.upstream.client(subgraph).subscribe(payload, {
      next: received => {
        const { extensions, ...rest } = received as ExecutionResult;
        const {
          [POSITION_EXTENSION]: at,
          [EVENT_ID_EXTENSION]: eventId,
          [CAUSE_EXTENSION]: cause,
          ...others
        } = extensions ?? {};
        position = asPosition(at) ?? position;
        if (typeof eventId === 'string') {
          if (recent.has(eventId)) return;
          recent.add(eventId);
          if (recent.size > RECENT_EVENT_IDS) recent.delete(recent.values().next().value!);
        }
        // Position and cause are between the router and the subgraph: clients never see them.
        const upstream: ExecutionResult =
          Object.keys(others).length > 0 ? { ...rest, extensions: others } : rest;
        // Resolving it is a span of its own, linked to the change behind the event.
        const resolve = () =>
          inRouter(() =>
            withLinkedSpan(
              'gateway.subscription.event',
              cause,
              {
                'graphql.subgraph.name': subgraph,
                ...(request.operationName
                  ? { 'graphql.operation.name': request.operationName }
                  : {}),
                ...(typeof eventId === 'string' ? { 'messaging.message.id': eventId } : {}),
              },
              () => options.sharing.resolve(operationKey, upstream, resolveOwn),
            ),
          );
        queue = queue
          .then(resolve)
          .then(broadcast, (err: unknown) => broadcast({ errors: [asClientError(err, log)] }));
      },
      error: err => {
        const errors = Array.isArray(err)
          ? err.map(e => asClientError(e, log))
          : [asClientError(err, log)];
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
    });
    hubs.set(key, hub);
    return hub;
  }

  const unsample = [
    sampleSubscriptions({ side: 'client' }, () => clientSubscriptions),
    sampleSubscriptions({ side: 'upstream' }, () => hubs.size),
  ];
  // The router renews the claims of every upstream subscription it still serves.
  const renewal = setInterval(() => {
    const bySubgraph = new Map<string, Record<string, Record<string, string>>>();
    for (const hub of hubs.values()) {
      if (!hub.upstreamId) continue;
      const renew = bySubgraph.get(hub.subgraph) ?? {};
      renew[hub.upstreamId] = hub.sign();
      bySubgraph.set(hub.subgraph, renew);
    }
    for (const [subgraph, renew] of bySubgraph) options.upstream.renew(subgraph, renew);
  }, timing.renewEveryMs);
  renewal.unref();

  return {
    subscribe(request) {
      const state = options.supergraph.current();
      if (!state) return notReady('The router is not ready yet', ErrorCode.INTERNAL_SERVER_ERROR);
      const operation = operationFromDocument(state.apiSchema, request.document, {
        ...(request.operationName ? { operationName: request.operationName } : {}),
      });
      const plan = state.planner.buildQueryPlan(operation);
      if (plan.node?.kind !== 'Subscription')
        return notReady('Not a subscription', ApolloServerErrorCode.BAD_REQUEST);
      const { primary, rest } = plan.node;
      const { claims } = request.context;
      const operationKey = JSON.stringify([
        print(request.document),
        request.operationName,
        request.variables,
      ]);
      const key = JSON.stringify([claims.userId, claims.role, claims.username, operationKey]);
      return new Repeater<ExecutionResult>(async (push, stop) => {
        const hub = hubs.get(key) ?? openHub(key, operationKey, state, primary, rest, request);
        const listener: Listener = { push: r => void push(r), stop: () => stop() };
        hub.listeners.add(listener);
        clientSubscriptions += 1;
        await stop;
        clientSubscriptions -= 1;
        hub.listeners.delete(listener);
        if (hub.listeners.size === 0) hub.dispose();
      });
    },
    stats: () => ({
      clientSubscriptions,
      upstreamSubscriptions: hubs.size,
      upstreamSockets: options.upstream.connected(),
      eventsResolved,
      eventsShared: options.sharing.eventsShared(),
    }),
    async close() {
      clearInterval(renewal);
      for (const stop of unsample) stop();
      for (const hub of [...hubs.values()]) hub.dispose();
      await options.upstream.close();
    },
  };
}
