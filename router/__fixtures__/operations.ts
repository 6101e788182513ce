import type { DocumentNode } from 'graphql';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import type { Claims } from '#lib/auth/claims.js';
import { createLogger } from '#lib/log.js';
import { newBudget } from '../budget.js';
import type { RouterContext } from '../context.js';

type OperationFetchOptions = Extract<
  GraphQLDataSourceProcessOptions<RouterContext>,
  { incomingRequestContext: unknown }
>;

/** The context of one client request at the router. */
export const routerContext = (claims: Claims, requestId = 'req-1'): RouterContext => ({
  requestId,
  claims,
  transport: 'http',
  budget: newBudget(5_000_000),
  log: createLogger({ level: 'silent' }),
});

/**
 * What the gateway hands a data source for one fetch of a client operation's plan. The
 * request context is only read for its cache policy, which these fetches do without.
 */
export const planFetch = (
  query: string,
  context: RouterContext,
  more: {
    variables?: Record<string, unknown>;
    document?: DocumentNode;
    operationName?: string;
  } = {},
): OperationFetchOptions => ({
  kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
  request: {
    query,
    variables: more.variables ?? {},
    ...(more.operationName ? { operationName: more.operationName } : {}),
  },
  context,
  incomingRequestContext: {} as OperationFetchOptions['incomingRequestContext'],
  ...(more.document ? { document: more.document } : {}),
});
