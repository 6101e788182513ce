import { GraphQLError, print, type ExecutionResult } from 'graphql';
import {
  buildOperationContext,
  executeQueryPlan,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import type { FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import { ErrorCode } from '#lib/errors.js';
import type { Logger } from '#lib/log.js';
import type { PreparedSubscription, RouterContext } from '../context.js';
import type { SupergraphState } from '../supergraph.js';
import { newCachePolicy, shareabilityOf, type Resolution } from './sharing.js';

/** The name under which an event enters the plan as if fetched: no subgraph has it. */
const EVENT_SOURCE = '__subscription_event__';

type RequestContextOf = Parameters<typeof executeQueryPlan>[2];

/**
 * An error a subscriber may see: one with a code as it is (the pipeline's error masking
 * runs on it when it is sent), anything else as a subgraph that did not answer.
 */
export function asClientError(err: unknown, log: Logger): GraphQLError {
  if (err instanceof GraphQLError && err.extensions?.code) return err;
  log.warn({ err }, 'a subgraph fetch failed while resolving a subscription event');
  return new GraphQLError('Some fields could not be resolved: a subgraph did not answer', {
    ...(err instanceof GraphQLError && err.path ? { path: err.path } : {}),
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  });
}

/**
 * Resolves the events of one upstream subscription into the client's full results. The
 * gateway plans subscriptions but will not execute them: its plan's `primary` fetch is the
 * upstream subscription itself, and for every event the `rest` runs through the gateway's own
 * `executeQueryPlan`, with the event standing in as the result of the primary fetch. What does
 * not change from event to event — the plan, the operation context, the printed query, the
 * service map — is built once per upstream subscription. Events of one subscription are
 * resolved one after another, so the event source reads the one being resolved from `current`.
 */
export function eventResolver(options: {
  state: SupergraphState;
  primary: FetchNode;
  rest: PlanNode | undefined;
  request: PreparedSubscription;
  dataSources: ReadonlyMap<string, GraphQLDataSource<RouterContext>>;
  log: Logger;
  /** Called for every event resolved through `rest` (the stats count them). */
  onResolve: () => void;
}): (upstream: ExecutionResult) => Promise<Resolution> {
  const { state, primary, rest, request, log } = options;
  let current: Record<string, unknown> = {};
  const eventFetch: FetchNode = { ...primary, serviceName: EVENT_SOURCE };
  const plan: QueryPlan = {
    kind: 'QueryPlan',
    node: rest ? { kind: 'Sequence', nodes: [eventFetch, rest] } : eventFetch,
  };
  const eventSource: GraphQLDataSource<RouterContext> = {
    process: () => Promise.resolve({ data: current }),
  };
  const serviceMap: ServiceMap = Object.fromEntries([
    ...options.dataSources,
    [EVENT_SOURCE, eventSource],
  ]);
  const operationContext = buildOperationContext({
    schema: state.apiGraphQLSchema,
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
   * Without `rest` the result is the event itself; with it, it is the same for every viewer
   * only when every subgraph answered PUBLIC with a max-age (the policy the data sources
   * restrict with each subgraph response's Cache-Control).
   */
  return async upstream => {
    if (!upstream.data)
      return {
        result: { errors: (upstream.errors ?? []).map(e => asClientError(e, log)) },
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
      schema: state.apiGraphQLSchema,
      overallCachePolicy: policy,
    } as unknown as RequestContextOf;
    options.onResolve();
    const result = await executeQueryPlan(
      plan,
      serviceMap,
      requestContext,
      operationContext,
      state.supergraphSchema,
      state.apiSchema,
    );
    const errors = [...(upstream.errors ?? []), ...(result.errors ?? [])].map(e =>
      asClientError(e, log),
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
