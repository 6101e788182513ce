import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { parse } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { LRUCache } from 'lru-cache';
import { WebSocketServer } from 'ws';
import { ApolloServer, type HTTPGraphQLResponse } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { commonApolloOptions } from '../apollo.js';
import {
  CLAIMS_EXTENSION,
  CONNECTION_SCOPE,
  SIGNATURE_MAX_AGE_MS,
  subscriptionScope,
  verifyClaims,
  type Claims,
  type VerifiedClaims,
} from '../auth/claims.js';
import type { Config } from '../config.js';
import { unauthenticated } from '../errors.js';
import { createGraphQLHandler, metricsAccess } from '../http.js';
import {
  asPosition,
  CAUSE_EXTENSION,
  EVENT_ID_EXTENSION,
  POSITION_EXTENSION,
  RESUME_EXTENSION,
} from '../live.js';
import type { Logger } from '../log.js';
import type { SubgraphContext } from './descriptor.js';
import { mutationFields, type KeyedRequest } from './idempotency.js';

type SubgraphModule = Extract<Parameters<typeof buildSubgraphSchema>[0], { typeDefs: unknown }>;

export interface SubgraphServerOptions<TContext extends SubgraphContext> {
  /** The subgraph's name, in metrics and logs. */
  name: string;
  /** Path of the subgraph's `schema.graphql`, the source of truth of its API. */
  schemaPath: string;
  /** Codegen-typed resolvers; checked against the schema by buildSubgraphSchema. */
  resolvers: object;
  config: Pick<
    Config,
    'routerSecret' | 'production' | 'bodyLimit' | 'metrics' | 'requestTimeoutMs'
  >;
  log: Logger;
  /** Adds per-request state (loaders, deps) to the verified base context. */
  context: (base: SubgraphContext) => TContext;
  /**
   * Runs a mutation request the router gave an idempotency key, of a signed-in viewer
   * (lib/subgraph/idempotency.ts); without it, keys are ignored.
   */
  idempotent?: (
    request: KeyedRequest,
    execute: () => Promise<HTTPGraphQLResponse>,
  ) => Promise<HTTPGraphQLResponse>;
  /** Mutations never run under a key: their answers hold credentials (descriptor's `unrecorded`). */
  unrecorded?: readonly string[];
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
  const secret = options.config.routerSecret;
  const scope = (body: string) => ({ audience: options.name, body });
  // Signatures already used: a request captured in transit cannot be sent again, even within
  // its window (one process's memory; the window bounds it across replicas).
  const used = new LRUCache<string, true>({ max: 100_000, ttl: 2 * SIGNATURE_MAX_AGE_MS });
  /** The request's claims if the router signed them and they were not used before; once per request. */
  const admitted = new WeakMap<IncomingMessage, VerifiedClaims | null>();
  const admit = (req: IncomingMessage, raw: string): VerifiedClaims | null => {
    if (admitted.has(req)) return admitted.get(req) ?? null;
    let verified = verifyClaims(req.headers, secret, scope(raw));
    if (verified && used.has(verified.signature)) verified = null;
    if (verified) used.set(verified.signature, true);
    admitted.set(req, verified);
    return verified;
  };
  const { idempotent } = options;
  const unrecorded = new Set(options.unrecorded ?? []);
  const handler = createGraphQLHandler<TContext>({
    apollo,
    log: options.log,
    bodyLimit: options.config.bodyLimit,
    deadlineMs: options.config.requestTimeoutMs,
    metrics: metricsAccess(options.config),
    ready: options.ready,
    // A signed-in viewer's mutation under a key runs once (idempotency.ts); anything else, and
    // anything unsigned (refused by `context`), runs as it is.
    execute: async (execute, { req, raw, body }) => {
      const verified = idempotent ? admit(req, raw) : null;
      const viewer = verified?.claims.userId;
      if (!idempotent || !viewer || !verified.idempotencyKey) return execute();
      const fields = mutationFields(body);
      if (!fields || fields.some(field => unrecorded.has(field))) return execute();
      return idempotent({ viewer, key: verified.idempotencyKey, body }, execute);
    },
    context: async (req, base, raw) => {
      const verified = admit(req, raw);
      if (!verified) throw unauthenticated('Requests must come through the router', 401);
      const { claims } = verified;
      const log = claims.userId ? base.log.child({ userId: claims.userId }) : base.log;
      return options.context({ ...base, log, claims });
    },
  });
  /**
   * Serves the schema's subscriptions over graphql-ws on `server`, at /graphql. Only the
   * router may connect (its `connection_init` is signed for this subgraph); each `subscribe`
   * carries the viewer's claims in `extensions.claims`, signed for this subgraph and this
   * operation, so one socket serves many viewers. Those claims expire: the router renews what
   * it still vouches for with a `ping` (`{ renew: { [id]: claims } }`), and a subscription whose
   * claims ran out is ended here, whatever the router does.
   */
  const attach = (server: Server): { close(): Promise<void>; active(): number } => {
    const wss = new WebSocketServer({ server, path: '/graphql' });
    interface Live {
      claims: Claims;
      scope: string;
      expiry: NodeJS.Timeout;
      /** Where it resumes (the router's last position), and the last position it was sent. */
      after: number | undefined;
      last: number | undefined;
      /** The id of the event behind the result being sent, and its cause (`traceparent`). */
      eventId: string | undefined;
      cause: string | undefined;
    }
    type Extra = { live?: Map<string, Live> };
    // Open graphql-ws connections, to count the subscriptions being served (tests, metrics).
    const connections = new Set<{ subscriptions: Record<string, unknown> }>();
    const signedOf = (payload: SubscribePayload) => {
      const signed = payload.extensions?.[CLAIMS_EXTENSION];
      return signed && typeof signed === 'object' ? (signed as Record<string, string>) : {};
    };
    /** Ends subscription `id` when its claims run out, unless renewed first. */
    const expireAt = (
      ctx: { subscriptions: Record<string, unknown> },
      id: string,
      expiresAt: number,
    ) =>
      setTimeout(
        () => {
          options.log.info({ subscription: id }, 'subscription ended: its claims expired');
          const running = ctx.subscriptions[id] as AsyncIterator<unknown> | null | undefined;
          void running?.return?.();
        },
        Math.max(0, expiresAt - Date.now()),
      );
    const disposable = useServer<Record<string, unknown> | undefined, Extra>(
      {
        schema,
        onConnect: ctx => {
          const params = (ctx.connectionParams ?? {}) as Record<string, string>;
          if (verifyClaims(params, secret, scope(CONNECTION_SCOPE)) === null) return false;
          ctx.extra.live = new Map();
          connections.add(ctx);
          return true;
        },
        onClose: ctx => {
          connections.delete(ctx);
          for (const live of ctx.extra.live?.values() ?? []) clearTimeout(live.expiry);
        },
        onSubscribe: (ctx, id, payload) => {
          const body = subscriptionScope(payload);
          const verified = verifyClaims(signedOf(payload), secret, scope(body));
          if (!verified) return [unauthenticated('Subscriptions must come through the router')];
          ctx.extra.live?.set(id, {
            claims: verified.claims,
            scope: body,
            expiry: expireAt(ctx, id, verified.expiresAt),
            after: asPosition(payload.extensions?.[RESUME_EXTENSION]),
            last: undefined,
            eventId: undefined,
            cause: undefined,
          });
          return undefined;
        },
        // Each event carries its position, which the router sends back when it resubscribes.
        onNext: (ctx, id, _payload, _args, result) => {
          const live = ctx.extra.live?.get(id);
          if (live?.eventId === undefined) return undefined;
          return {
            ...(result.data !== undefined ? { data: result.data } : {}),
            ...(result.errors ? { errors: result.errors.map(e => e.toJSON()) } : {}),
            extensions: {
              ...result.extensions,
              ...(live.last !== undefined ? { [POSITION_EXTENSION]: live.last } : {}),
              [EVENT_ID_EXTENSION]: live.eventId,
              ...(live.cause !== undefined ? { [CAUSE_EXTENSION]: live.cause } : {}),
            },
          };
        },
        onPing: (ctx, payload) => {
          const renew = payload?.renew;
          if (!renew || typeof renew !== 'object') return;
          for (const [id, signed] of Object.entries(renew as Record<string, unknown>)) {
            const live = ctx.extra.live?.get(id);
            if (!live || !signed || typeof signed !== 'object') continue;
            const verified = verifyClaims(
              signed as Record<string, string>,
              secret,
              scope(live.scope),
            );
            if (!verified) continue;
            clearTimeout(live.expiry);
            live.claims = verified.claims;
            live.expiry = expireAt(ctx, id, verified.expiresAt);
          }
        },
        onComplete: (ctx, id) => {
          const live = ctx.extra.live?.get(id);
          if (live) clearTimeout(live.expiry);
          ctx.extra.live?.delete(id);
        },
        context: (ctx, id, payload) => {
          const live = ctx.extra.live?.get(id);
          const claims = live?.claims;
          if (!live || !claims) throw unauthenticated('Subscriptions must come through the router');
          const requestId =
            typeof payload.extensions?.requestId === 'string'
              ? payload.extensions.requestId
              : randomUUID();
          const log = options.log.child({
            requestId,
            ...(claims.userId ? { userId: claims.userId } : {}),
          });
          const resume = {
            after: live.after,
            seen: (position: number | undefined, eventId: string, cause: string | undefined) => {
              live.last = position ?? live.last;
              live.eventId = eventId;
              live.cause = cause;
            },
          };
          return options.context({ requestId, log, claims, resume });
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
