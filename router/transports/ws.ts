import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, parse, type ExecutionResult } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from '#lib/log.js';
import { sampleRouterSockets } from '#lib/metrics.js';
import type { Viewer } from '../auth.js';
import { newBudget } from '../budget.js';
import type { RouterContext } from '../context.js';
import type { Outcome } from '../pipeline.js';
import type { Holder } from '../subscriptions/quota.js';
import type { StreamingParts } from './parts.js';
import { capResponse, formatResult } from './responses.js';
import { sessionWatch } from './sessions.js';

/** Close code for a refused or expired token: clients reconnect with a fresh one. */
const CLOSE_FORBIDDEN = CloseCode.Forbidden; // 4403

/** Sockets whose token is revoked or expires are closed with 4403. */
export interface WebSocketTransportOptions extends StreamingParts {
  server: Server;
  limits: {
    /** Largest message a client may send, like an HTTP body (BODY_LIMIT): beyond, 1009. */
    maxPayload: number;
    maxResponseBytes: number;
    maxSocketsPerAddress: number;
  };
  log: Logger;
}

/** What one socket holds from `connection_init` on. */
interface Connection {
  viewer: Viewer;
  holder: Holder;
  /** Releases of the quota by operation id. */
  releases: Map<string, () => void>;
  /** Refusals the pipeline formatted, by operation id, for `onError` to send as they are. */
  refusals: Map<string, Outcome>;
}

type Extra = { connection?: Connection };

/**
 * Stand-ins handed to graphql-ws: it only reads the operation type from them, to call `execute`
 * or `subscribe`; the operation itself already ran through the pipeline.
 */
const SINGLE = parse('{ __typename }');
const STREAM = parse('subscription { __typename }');

/**
 * graphql-ws (graphql-transport-ws) at the router's /graphql. The socket authenticates once,
 * in `connection_init`; every operation then goes through the same request pipeline as HTTP
 * (parse options, validation, limits, demand control, error masking, metrics) and a
 * subscription it accepts is streamed by the bridge. Bounded: messages by BODY_LIMIT (a
 * larger one closes the socket with 1009), subscriptions per socket and per viewer, sockets
 * per client address, `connection_init` within graphql-ws's 3 s, results by
 * MAX_RESPONSE_BYTES. An expired token closes the socket with 4403.
 */
export function serveWebSockets(options: WebSocketTransportOptions) {
  const log = options.log.child({ component: 'websockets' });
  const perAddress = new Map<string, number>();
  const addressOf = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    server: options.server,
    path: '/graphql',
    maxPayload: options.limits.maxPayload,
    verifyClient: ({ req }, accept) => {
      const address = options.clientAddress(req);
      if ((perAddress.get(address) ?? 0) >= options.limits.maxSocketsPerAddress) {
        log.warn({ address }, 'too many sockets from one address: upgrade refused');
        return accept(false, 429, 'Too many open connections from this address');
      }
      addressOf.set(req, address);
      accept(true);
    },
  });
  wss.on('connection', (socket, req) => {
    const address = addressOf.get(req) ?? options.clientAddress(req);
    perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });

  // A socket whose token is revoked or expires is closed at once (its subscriptions end with
  // it, here and upstream).
  const sessions = sessionWatch(options.revocations);

  const disposable = useServer<Record<string, unknown> | undefined, Extra>(
    {
      onConnect: ctx => {
        const authorization = ctx.connectionParams?.authorization;
        let viewer: Viewer;
        try {
          const req = ctx.extra.request;
          viewer = options.authenticate(
            typeof authorization === 'string' ? authorization : undefined,
            addressOf.get(req) ?? options.clientAddress(req),
          );
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
        const socket = ctx.extra.socket;
        const unwatch = sessions.watch(viewer, reason => socket.close(CLOSE_FORBIDDEN, reason));
        socket.once('close', unwatch);
        ctx.extra.connection = {
          viewer,
          holder: { open: 0 },
          releases: new Map(),
          refusals: new Map(),
        };
        return true;
      },
      onClose: ctx => {
        const connection = ctx.extra.connection;
        if (!connection) return;
        for (const release of connection.releases.values()) release();
      },
      onSubscribe: async (ctx, id, payload) => {
        const connection = ctx.extra.connection;
        if (!connection) return [new GraphQLError('Not connected')];
        const { viewer } = connection;
        const requestId = randomUUID();
        const context: RouterContext = {
          requestId,
          claims: viewer.claims,
          transport: 'ws',
          budget: newBudget(options.limits.maxResponseBytes),
          log: log.child({
            requestId,
            ...(viewer.claims.userId ? { userId: viewer.claims.userId } : {}),
          }),
        };
        const outcome = await options.run(payload, context);
        if (outcome.kind === 'result' && outcome.result.data === undefined) {
          // Refused before it ran (parse, validation, limits, cost): an `error` message.
          connection.refusals.set(id, outcome);
          return (outcome.result.errors ?? []).map(e => new GraphQLError(e.message));
        }
        if (outcome.kind === 'subscription') {
          const taken = options.quota.take(viewer.claims.userId ?? '', connection.holder);
          if (taken instanceof GraphQLError) return [taken];
          connection.releases.set(id, taken);
        }
        return {
          schema: undefined as never,
          document: outcome.kind === 'subscription' ? STREAM : SINGLE,
          contextValue: outcome,
        };
      },
      execute: args => {
        const outcome = outcomeOf(args.contextValue);
        return outcome?.kind === 'result' ? (outcome.result as ExecutionResult) : {};
      },
      subscribe: args => {
        const outcome = outcomeOf(args.contextValue);
        return outcome?.kind === 'subscription' ? options.bridge.subscribe(outcome.prepared) : {};
      },
      // A refusal goes out exactly as the pipeline formatted it (with its locations).
      onError: (ctx, id, _payload, errors) => {
        const outcome = ctx.extra.connection?.refusals.get(id);
        ctx.extra.connection?.refusals.delete(id);
        return outcome?.kind === 'result'
          ? (outcome.result.errors ?? [])
          : errors.map(e => options.formatError(e.toJSON()));
      },
      // Same masking and the same size limit as HTTP, for results and events alike.
      onNext: (_ctx, _id, _payload, _args, result) =>
        capResponse(formatResult(result, options.formatError), options.limits.maxResponseBytes),
      onComplete: (ctx, id) => {
        ctx.extra.connection?.releases.get(id)?.();
        ctx.extra.connection?.releases.delete(id);
      },
    },
    wss,
  );

  const unsample = sampleRouterSockets({ service: 'router' }, () => wss.clients.size);
  return {
    openSockets: () => wss.clients.size,
    /** Closes client sockets with 1001 (going away). */
    close: async () => {
      unsample();
      sessions.close();
      for (const socket of wss.clients) socket.close(1001, 'Router shutting down');
      await disposable.dispose();
      await new Promise<void>(resolve => wss.close(() => resolve()));
    },
  };
}

/**
 * What the pipeline made of an operation: graphql-ws hands `execute`/`subscribe` the args
 * `onSubscribe` returned, whose `contextValue` carries it.
 */
const outcomeOf = (value: unknown): Outcome | undefined =>
  typeof value === 'object' && value !== null && 'kind' in value ? (value as Outcome) : undefined;
