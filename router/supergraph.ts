import type { GraphQLSchema } from 'graphql';
import { Supergraph, type Schema } from '@apollo/federation-internals';
import type { ApolloGateway } from '@apollo/gateway';
import { QueryPlanner } from '@apollo/query-planner';
import { costDirectivesOf, type CostDirectives } from './demand-control.js';

/** What the router derives from the supergraph it serves, rebuilt whenever that changes. */
export interface SupergraphState {
  /** The API schema, as `@apollo/federation-internals` plans against it. */
  apiSchema: Schema;
  /** The API schema clients see: what operations are validated and priced against. */
  apiGraphQLSchema: GraphQLSchema;
  /** The whole supergraph schema, which `executeQueryPlan` needs. */
  supergraphSchema: GraphQLSchema;
  /** The gateway's own query planner, for subscriptions (which the gateway will not execute). */
  planner: QueryPlanner;
  /** `@cost` and `@listSize` of the composed schema (demand control). */
  costs: CostDirectives;
}

export interface SupergraphWatch {
  current(): SupergraphState | undefined;
  stop(): void;
}

/**
 * Keeps a planner and the cost directives for the supergraph the gateway serves, rebuilt on
 * every schema load or update. Call before the gateway loads: it tells only later listeners.
 */
export function watchSupergraph(gateway: ApolloGateway): SupergraphWatch {
  let state: SupergraphState | undefined;
  const stop = gateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
    const supergraph = Supergraph.build(coreSupergraphSdl);
    state = {
      apiSchema: supergraph.apiSchema(),
      apiGraphQLSchema: apiSchema,
      supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
      planner: new QueryPlanner(supergraph),
      costs: costDirectivesOf(coreSupergraphSdl),
    };
  });
  return { current: () => state, stop };
}
