import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { parse } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { commonApolloOptions } from '../apollo.js';
import { CLAIMS_EXTENSION, verifyClaims } from '../auth/claims.js';
import type { Config } from '../config.js';
import { unauthenticated } from '../errors.js';
import { createGraphQLHandler, metricsAccess } from '../http.js';
import type { Logger } from '../log.js';
import type { SubgraphContext } from './descriptor.js';

type SubgraphModule = Extract<Parameters<typeof buildSubgraphSchema>[0], { typeDefs: unknown }>;

export interface SubgraphServerOptions<TContext extends SubgraphContext> {
  /** The subgraph's name, in metrics and logs. */
  name: string;
  /** Path of the subgraph's `schema.graphql`, the source of truth of its API. */
  schemaPath: string;
  /** Codegen-typed resolvers; checked against the schema by buildSubgraphSchema. */
  resolvers: object;
  config: Pick<Config, 'routerSecret' | 'production' | 'bodyLimit' | 'metrics'>;
  log: Logger;
  /** Adds per-request state (loaders, deps) to the verified base context. */
  context: (base: SubgraphContext) => TContext;
  /** Throws while the subgraph cannot serve (database or broker down): `/ready` answers 503. */
  ready: () => Promise<void>;
}

/**
 * An Apollo subgraph that serves only requests whose claims the router signed: anything
 * else (a direct call, a forged or stale signature) is refused with 401 before execution.
 */
export async function createSubgraphServer<TContext extends SubgraphContext>(
  options: SubgraphServerOptions<TContext>,
) {
  const typeDefs = parse(readFileSync(options.schemaPath, 'utf8'));
  const schema = buildSubgraphSchema({
    typeDefs,
    resolvers: options.resolvers as SubgraphModule['resolvers'],
  });
  const apollo = new ApolloServer<TContext>({
    schema,
    ...commonApolloOptions<TContext>({
      service: options.name,
      production: options.config.production,
      landingPage: 'none',
    }),
  });
  // Federated tracing would hand resolver timings to whoever asks; nobody here reads them.
  apollo.addPlugin(ApolloServerPluginInlineTraceDisabled());
  await apollo.start();
  const handler = createGraphQLHandler<TContext>({
    apollo,
    log: options.log,
    bodyLimit: options.config.bodyLimit,
    metrics: metricsAccess(options.config),
    ready: options.ready,
    context: async (req, base) => {
      const claims = verifyClaims(req.headers, options.config.routerSecret);
      if (!claims) throw unauthenticated('Requests must come through the router', 401);
      const log = claims.userId ? base.log.child({ userId: claims.userId }) : base.log;
      return options.context({ ...base, log, claims });
    },
  });
  /**
   * Serves the schema's subscriptions over graphql-ws on `server`, at /graphql. Only the
   * router may connect (its `connection_init` is signed); each `subscribe` carries the
   * viewer's signed claims in `extensions.claims`, so one socket serves many viewers.
   */
  const attach = (server: Server): { close(): Promise<void>; active(): number } => {
    const wss = new WebSocketServer({ server, path: '/graphql' });
    // Open graphql-ws connections, to count the subscriptions being served (tests, metrics).
    const connections = new Set<{ subscriptions: Record<string, unknown> }>();
    const claimsOf = (payload: SubscribePayload) => {
      const signed = payload.extensions?.[CLAIMS_EXTENSION];
      if (!signed || typeof signed !== 'object') return null;
      return verifyClaims(signed as Record<string, string>, options.config.routerSecret);
    };
    const disposable = useServer<Record<string, unknown> | undefined>(
      {
        schema,
        onConnect: ctx => {
          if (
            verifyClaims(
              (ctx.connectionParams ?? {}) as Record<string, string>,
              options.config.routerSecret,
            ) === null
          )
            return false;
          connections.add(ctx);
          return true;
        },
        onClose: ctx => {
          connections.delete(ctx);
        },
        onSubscribe: (_ctx, _id, payload) => {
          if (!claimsOf(payload))
            return [unauthenticated('Subscriptions must come through the router')];
          return undefined;
        },
        context: async (_ctx, _id, payload) => {
          const claims = claimsOf(payload);
          if (!claims) throw unauthenticated('Subscriptions must come through the router');
          const requestId =
            typeof payload.extensions?.requestId === 'string'
              ? payload.extensions.requestId
              : randomUUID();
          const log = options.log.child({
            requestId,
            ...(claims.userId ? { userId: claims.userId } : {}),
          });
          return options.context({ requestId, log, claims });
        },
      },
      wss,
    );
    return {
      active: () =>
        [...connections].reduce(
          (n, c) => n + Object.values(c.subscriptions).filter(Boolean).length,
          0,
        ),
      close: async () => {
        await disposable.dispose();
        await new Promise<void>(resolve => wss.close(() => resolve()));
      },
    };
  };

  /** Whether the schema has subscriptions to serve over graphql-ws (`attach`). */
  const subscribes =
    schema.getSubscriptionType() !== null && schema.getSubscriptionType() !== undefined;
  return { apollo, handler, attach, subscribes };
}
