import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DocumentNode } from 'graphql';
import { getOperationAST, OperationTypeNode } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import {
  ANONYMOUS,
  CLAIMS_EXTENSION,
  CONNECTION_SCOPE,
  FORWARDED_HEADER_NAMES,
  MAX_CLAIMS_LIFETIME_MS,
  signClaims,
  subscriptionScope,
  type Claims,
} from '#lib/auth/claims.js';
import { createAuthenticator, type TokenVerification } from '../router/auth.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';

export interface HiveOptions {
  subgraphUrls: Record<'users' | 'tasks' | 'notifications', string>;
  jwt: TokenVerification;
  routerSecret: string;
  /** Hive Gateway with the Rust query planner (`@graphql-hive/router-runtime`) instead of its default JS planner. */
  rustPlanner?: boolean;
}

/*
 * Hive's type declarations reference TypeScript's `dom` lib (through @whatwg-node/fetch),
 * which would retype `fetch` for the whole project and break router/server.ts. So its
 * packages are loaded untyped (a specifier TypeScript does not follow), through the few
 * shapes used here.
 */
interface HiveExecutionRequest {
  document: DocumentNode;
  operationName?: string;
  variables?: Record<string, unknown>;
  context?: unknown;
  extensions?: Record<string, unknown>;
}
interface HivePlugin {
  onContextBuilding?(payload: {
    context: BenchContext;
    extendContext(extra: Partial<BenchContext>): void;
  }): void;
  onSubgraphExecute?(payload: {
    subgraphName: string;
    executionRequest: HiveExecutionRequest;
    setExecutionRequest(request: HiveExecutionRequest): void;
  }): void;
  onFetch?(payload: {
    url: string;
    options: { headers?: unknown; body?: unknown };
    setOptions(options: object): void;
    context: unknown;
  }): void;
}
type HiveRuntime = ((req: IncomingMessage, res: ServerResponse) => void) & {
  dispose(): Promise<void>;
  getSchema(): unknown;
};
interface HiveModules {
  createGatewayRuntime(config: Record<string, unknown>): HiveRuntime;
  getGraphQLWSOptions(
    runtime: HiveRuntime,
    onContext: (ctx: { connectionParams?: Record<string, unknown> }) => Record<string, unknown>,
  ): ServerOptions;
}
const load = (specifier: string): Promise<unknown> => import(specifier);
async function loadHive(rustPlanner: boolean) {
  const [runtime, http, ws, common, router] = (await Promise.all([
    load('@graphql-hive/gateway-runtime'),
    load('@graphql-mesh/transport-http'),
    load('@graphql-mesh/transport-ws'),
    // How Hive's graphql-ws executor prints an operation: the text a subscription's claims
    // are bound to (`subscriptionScope`).
    load('@graphql-tools/executor-common'),
    // The Rust query planner (Hive Router's, a prebuilt native addon) and its executor.
    rustPlanner ? load('@graphql-hive/router-runtime') : Promise.resolve(undefined),
  ])) as [
    HiveModules,
    { default: unknown },
    { default: unknown },
    { defaultPrintFn(document: DocumentNode): string },
    { unifiedGraphHandler: unknown } | undefined,
  ];
  return {
    ...runtime,
    unifiedGraphHandler: router?.unifiedGraphHandler,
    transports: { http: http.default, ws: ws.default },
    print: common.defaultPrintFn,
  };
}

interface BenchContext {
  /** The viewer the bearer token names, verified once per request (or per socket). */
  benchClaims?: Claims;
  /** Viewer key for Hive's in-flight de-duplication of subgraph requests (see transportEntries). */
  benchViewer?: string;
  connectionParams?: Record<string, unknown>;
  request?: Request;
}

/**
 * Hive Gateway (`@graphql-hive/gateway-runtime`) on the same committed supergraph and the
 * same subgraphs as our router, doing the same trust-boundary work: it verifies the bearer
 * JWT (lib/auth/jwt.ts, through router/auth.ts) and signs the viewer's claims onto every
 * subgraph request (HTTP headers), and onto every upstream subscription (`extensions.claims`,
 * with a signed anonymous `connection_init`), exactly as our subgraphs require.
 */
export async function startHiveGateway(
  options: HiveOptions,
): Promise<{ server: Server; url: string; stop(): Promise<void> }> {
  const claimsOf = (context: unknown): Claims =>
    (context as BenchContext | undefined)?.benchClaims ?? ANONYMOUS;

  const hive = await loadHive(options.rustPlanner ?? false);
  const subgraphOf = new Map(
    Object.entries(options.subgraphUrls).map(([name, url]) => [url, name]),
  );
  // The same token verification as our router's (router/auth.ts), so both pay the same for JWTs.
  const authenticate = createAuthenticator(options.jwt);
  const trustBoundary: HivePlugin = {
    onContextBuilding({ context, extendContext }) {
      const fromSocket = context.connectionParams?.authorization;
      const authorization =
        typeof fromSocket === 'string'
          ? fromSocket
          : (context.request?.headers.get('authorization') ?? undefined);
      // Throws UNAUTHENTICATED (401) on a bad token, as our router does.
      const { claims } = authenticate(authorization, null);
      extendContext({
        benchClaims: claims,
        benchViewer: `${claims.userId ?? ''}:${claims.role ?? ''}:${claims.username ?? ''}`,
      });
    },
    onSubgraphExecute({ subgraphName, executionRequest, setExecutionRequest }) {
      const operation = getOperationAST(executionRequest.document, executionRequest.operationName);
      if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return;
      // Over graphql-ws the claims travel in the subscribe message; `connectionParams` in
      // extensions is merged by Hive's WS executor into the socket's connection_init.
      setExecutionRequest({
        ...executionRequest,
        extensions: {
          ...executionRequest.extensions,
          [CLAIMS_EXTENSION]: signClaims(
            claimsOf(executionRequest.context),
            options.routerSecret,
            {
              audience: subgraphName,
              body: subscriptionScope({
                query: hive.print(executionRequest.document),
                operationName: executionRequest.operationName,
                variables: executionRequest.variables,
              }),
            },
            // As long as the bench runs: Hive has no way to renew them.
            { lifetimeMs: MAX_CLAIMS_LIFETIME_MS },
          ),
          connectionParams: signClaims(ANONYMOUS, options.routerSecret, {
            audience: subgraphName,
            body: CONNECTION_SCOPE,
          }),
        },
      });
    },
    onFetch({ url, options: init, setOptions, context }) {
      const headers = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]);
      for (const name of FORWARDED_HEADER_NAMES) headers.delete(name);
      const audience = subgraphOf.get(url);
      if (audience === undefined || typeof init.body !== 'string') {
        throw new Error(`the bench cannot sign a fetch of ${url}`);
      }
      for (const [name, value] of Object.entries(
        signClaims(claimsOf(context), options.routerSecret, { audience, body: init.body }),
      ))
        headers.set(name, value);
      setOptions({ ...init, headers: Object.fromEntries(headers) });
    },
  };

  const gateway = hive.createGatewayRuntime({
    supergraph: readFileSync(SUPERGRAPH_PATH, 'utf8'),
    ...(hive.unifiedGraphHandler ? { unifiedGraphHandler: hive.unifiedGraphHandler } : {}),
    transports: hive.transports,
    transportEntries: {
      '*.http': {
        // Hive de-duplicates identical in-flight subgraph queries, keyed by URL, body and
        // the entry's headers. Claims are signed in `onFetch`, below that key, so the viewer
        // goes into the key through this header: only one viewer's identical requests share.
        headers: [['x-bench-viewer', '{context.benchViewer}']],
      },
      users: { location: options.subgraphUrls.users },
      tasks: {
        location: options.subgraphUrls.tasks,
        options: { subscriptions: { kind: 'ws', location: options.subgraphUrls.tasks } },
      },
      notifications: {
        location: options.subgraphUrls.notifications,
        options: { subscriptions: { kind: 'ws', location: options.subgraphUrls.notifications } },
      },
    },
    plugins: () => [trustBoundary],
    logging: 'error',
    landingPage: false,
    graphiql: false,
  });

  // Hive loads the supergraph on the first request; a subscription over WebSocket must not
  // be that first request (it fails with "Expected null to be a GraphQL schema"). Our router
  // loads its supergraph before listening too.
  await gateway.getSchema();
  const server = createServer(gateway);
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const ws = useServer(
    hive.getGraphQLWSOptions(gateway, ctx => ({ connectionParams: ctx.connectionParams ?? {} })),
    wss,
  );
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}/graphql`,
    stop: async () => {
      for (const socket of wss.clients) socket.close(1001);
      await ws.dispose();
      await new Promise<void>(resolve => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      await gateway.dispose();
    },
  };
}
