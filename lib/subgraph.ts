import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { commonApolloOptions } from './apollo.js';
import { verifyClaims, type Claims } from './auth/claims.js';
import { unauthenticated } from './errors.js';
import { createGraphQLHandler, type RequestContext } from './http.js';
import type { Logger } from './log.js';

type SubgraphModule = Extract<Parameters<typeof buildSubgraphSchema>[0], { typeDefs: unknown }>;

/** What every subgraph resolver sees: the router-signed claims and the request's logger. */
export interface SubgraphContext extends RequestContext {
  claims: Claims;
}

export interface SubgraphServerOptions<TContext extends SubgraphContext> {
  /** Path of the subgraph's `schema.graphql`, the source of truth of its API. */
  schemaPath: string;
  /** Codegen-typed resolvers; checked against the schema by buildSubgraphSchema. */
  resolvers: object;
  routerSecret: string;
  production: boolean;
  bodyLimit: number;
  log: Logger;
  /** Adds per-request state (loaders, db) to the verified base context. */
  context: (base: SubgraphContext, req: IncomingMessage) => TContext | Promise<TContext>;
  ready?: () => Promise<void>;
}

/**
 * An Apollo subgraph that serves only requests whose claims the router signed: anything
 * else (a direct call, a forged or stale signature) is refused with 401 before execution.
 */
export async function createSubgraphServer<TContext extends SubgraphContext>(options: SubgraphServerOptions<TContext>) {
  const typeDefs = parse(readFileSync(options.schemaPath, 'utf8'));
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema({ typeDefs, resolvers: options.resolvers as SubgraphModule['resolvers'] }),
    ...commonApolloOptions<TContext>({ production: options.production, landingPage: 'none' }),
  });
  // Federated tracing would hand resolver timings to whoever asks; nobody here reads them.
  apollo.addPlugin(ApolloServerPluginInlineTraceDisabled());
  await apollo.start();
  const handler = createGraphQLHandler<TContext>({
    apollo,
    log: options.log,
    bodyLimit: options.bodyLimit,
    ...(options.ready ? { ready: options.ready } : {}),
    context: async (req, base) => {
      const claims = verifyClaims(req.headers, options.routerSecret);
      if (!claims) throw unauthenticated('Requests must come through the router', 401);
      const log = claims.userId ? base.log.child({ userId: claims.userId }) : base.log;
      return options.context({ ...base, log, claims }, req);
    },
  });
  return { apollo, handler };
}
