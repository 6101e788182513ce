import { randomBytes } from 'node:crypto';
import { signClaims, type Claims } from '#lib/auth/claims.js';
import { loadConfig, type Config } from '#lib/config.js';
import { createAmqpBus } from '#lib/events/amqp.js';
import type { EventBus } from '#lib/events/bus.js';
import { listen } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { createRouter, routerOptions } from '../../router/server.js';
import { subgraphs, type SubgraphName } from '../../subgraphs/index.js';
import {
  startSupergraph,
  type RunningSupergraph,
  type StartSupergraphOptions,
} from '../../supergraph.js';
import { deleteNamespace } from './amqp.js';
import { createTestDatabase, TEST_AMQP_URL, uniqueName, type TestDatabase } from './services.js';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: Array<{
    message: string;
    path?: Array<string | number>;
    extensions?: Record<string, unknown>;
  }>;
}

export interface TestSupergraph {
  url: string;
  config: Config;
  supergraph: RunningSupergraph;
  bus: EventBus;
  namespace: string;
  /** The Postgres database of each subgraph (a second replica may share one). */
  databaseUrls: Record<SubgraphName, string>;
  /** SQL statements sent per subgraph since start (or since `resetQueryCount`). */
  queries: Record<SubgraphName, string[]>;
  gql<T = Record<string, unknown>>(
    query: string,
    options?: {
      variables?: Record<string, unknown>;
      token?: string | null;
      headers?: RequestHeaders;
    },
  ): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

/**
 * Claim headers as the router signs them for `audience` (a subgraph's name), over whatever body
 * `postGraphQL` sends: how a test speaks to a subgraph directly. `secret` is the router's to
 * pass as the router, another to play a forger.
 */
export const asRouter =
  (
    audience: SubgraphName,
    secret: string,
    claims: Pick<Claims, 'userId' | 'role' | 'username'> & Partial<Claims>,
    options: { now?: number } = {},
  ) =>
  (body: string): Record<string, string> =>
    signClaims(
      { sessionId: null, clientAddress: null, ...claims },
      secret,
      { audience, body },
      options,
    );

/** Headers to send, or a function of the exact body sent (to sign it, see `asRouter`). */
export type RequestHeaders = Record<string, string> | ((body: string) => Record<string, string>);

/** POSTs a GraphQL operation and returns the status with the parsed body. */
export async function postGraphQL<T>(
  url: string,
  query: string,
  options: {
    variables?: Record<string, unknown>;
    token?: string | null;
    headers?: RequestHeaders;
  } = {},
): Promise<GraphQLResponse<T>> {
  const body = JSON.stringify({ query, variables: options.variables ?? {} });
  const headers = typeof options.headers === 'function' ? options.headers(body) : options.headers;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...headers,
    },
    body,
  });
  const answer = (await res.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: res.status, ...answer };
}

/**
 * The whole supergraph on port 0, on fresh Postgres databases and a namespaced
 * RabbitMQ topology of its own, so test files run side by side without sharing state.
 */
export async function startTestSupergraph(
  options: {
    amqpUrl?: string;
    /** Variables over the test defaults (limits, NODE_ENV=production, …). */
    env?: Record<string, string>;
    /** Where each subgraph reaches its fresh database (a test may put a proxy in between). */
    databaseUrl?: (name: SubgraphName, url: string) => string | Promise<string>;
    /** Router options over config's (shorter timings). */
    router?: StartSupergraphOptions['router'];
    /** Where the services log (at LOG_LEVEL): a test that reads log lines. */
    logDestination?: NodeJS.WritableStream;
  } = {},
): Promise<TestSupergraph> {
  const namespace = `${uniqueName('t')}.`;
  const databases = Object.fromEntries(
    await Promise.all(subgraphs.map(async ({ name }) => [name, await createTestDatabase(name)])),
  ) as Record<SubgraphName, TestDatabase>;
  const databaseUrls = Object.fromEntries(
    Object.entries(databases).map(([name, db]) => [name, db.url]),
  ) as Record<SubgraphName, string>;
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      JWT_SECRET: randomBytes(32).toString('hex'),
      ROUTER_SECRET: randomBytes(32).toString('hex'),
      AMQP_URL: TEST_AMQP_URL,
      // The run's own folder (vitest.config.ts), for the mail the users service writes.
      ...(process.env.DATA_DIR ? { DATA_DIR: process.env.DATA_DIR } : {}),
      ...options.env,
    },
    subgraphs,
  );
  const log = createLogger({
    level: config.logLevel,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const bus = await createAmqpBus({
    url: options.amqpUrl ?? TEST_AMQP_URL,
    log,
    namespace,
    queues: workQueues(subgraphs),
  });
  const queries = Object.fromEntries(
    subgraphs.map(({ name }): [string, string[]] => [name, []]),
  ) as Record<SubgraphName, string[]>;
  const supergraph = await startSupergraph({
    config,
    log,
    bus,
    ephemeralPorts: true,
    ...(options.router ? { router: options.router } : {}),
    databaseUrls: Object.fromEntries(
      await Promise.all(
        Object.entries(databaseUrls).map(async ([name, url]) => [
          name,
          options.databaseUrl ? await options.databaseUrl(name as SubgraphName, url) : url,
        ]),
      ),
    ),
    onQuery: (service, query) => queries[service as SubgraphName].push(query),
  });
  const url = `${supergraph.url}/graphql`;
  return {
    url,
    config,
    supergraph,
    bus,
    namespace,
    databaseUrls,
    queries,
    gql: (query, options) => postGraphQL(url, query, options),
    stop: async () => {
      await supergraph.stop();
      await bus.close();
      await deleteNamespace(namespace);
      await Promise.all(Object.values(databases).map(d => d.drop()));
    },
  };
}

/**
 * Another router replica in front of `sg`'s subgraphs, as a second process would run it: its
 * own connection to the broker (so its own live queue; `amqpUrl` may be a proxy the test
 * cuts) on `sg`'s namespace. GraphQL at `url`.
 */
export async function startRouterReplica(
  sg: TestSupergraph,
  options: {
    amqpUrl?: string;
    /** Where this router reaches a subgraph, over where it runs (a proxy the test cuts). */
    subgraphUrls?: Partial<Record<SubgraphName, string>>;
  } = {},
): Promise<{ url: string; stop(): Promise<void> }> {
  const log = createLogger({ level: sg.config.logLevel });
  const bus = await createAmqpBus({
    url: options.amqpUrl ?? TEST_AMQP_URL,
    log,
    namespace: sg.namespace,
    queues: {},
  });
  try {
    const subgraphUrls = {
      ...Object.fromEntries(
        Object.entries(sg.supergraph.subgraphs).map(([name, s]) => [name, `${s.url}/graphql`]),
      ),
      ...options.subgraphUrls,
    };
    const router = await createRouter(routerOptions(sg.config, log, subgraphUrls, bus));
    const { server, url } = await listen(router.handler, 0, '127.0.0.1');
    router.attach(server);
    return {
      url: `${url}/graphql`,
      stop: async () => {
        await router.stop();
        await bus.close();
      },
    };
  } catch (err) {
    await bus.close();
    throw err;
  }
}
