import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Config, SubgraphName } from './config.js';
import { openDatabase, type Database } from './db.js';
import type { Consumer, EventBus } from './events/bus.js';
import { startOutboxRelay, type OutboxRelay } from './events/outbox.js';
import { closeServer, listen } from './http.js';
import type { Logger } from './log.js';
import { instrumentBus, sampleDeadLetters, sampleOutboxBacklog } from './metrics.js';

const sampledBuses = new WeakSet<EventBus>();
/** The dead-letter queue is the bus's, not a service's: sample it once per bus. */
function sampleBusOnce(bus: EventBus): void {
  if (sampledBuses.has(bus)) return;
  sampledBuses.add(bus);
  sampleDeadLetters({ bus: bus.transport }, () => bus.deadLetterCount());
}

/** A service that is up: its URL, and how to stop it gracefully. */
export interface RunningService {
  name: string;
  /** Base URL, e.g. `http://localhost:4001`; GraphQL is at `${url}/graphql`. */
  url: string;
  port: number;
  server: Server;
  stop(): Promise<void>;
}

type HttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** How a subgraph is served: HTTP, plus graphql-ws subscriptions on the same server when it has any. */
export interface SubgraphHttp {
  handler: HttpHandler;
  attach?: (server: Server) => { close(): Promise<void>; active(): number };
}

/** A running subgraph, with its database and outbox relay (tests inspect them). */
export type RunningSubgraph<TSchema extends Record<string, unknown> = Record<string, unknown>> =
  RunningService & {
    runtime: SubgraphRuntime<TSchema>;
    /** Subscriptions this subgraph is serving to the router right now. */
    activeSubscriptions(): number;
  };

/** What every subgraph's `start` function takes: `supergraph.ts` and the tests call them alike. */
export interface StartSubgraphOptions {
  config: Config;
  bus: EventBus;
  log: Logger;
  /** Overrides for tests: port 0, another database. */
  port?: number;
  databaseUrl?: string;
  onQuery?: (query: string) => void;
}

export interface SubgraphRuntime<TSchema extends Record<string, unknown>> {
  db: Database<TSchema>;
  relay: OutboxRelay;
  /** Throws while the database or the broker cannot be reached. */
  ready: () => Promise<void>;
}

export interface RunSubgraphOptions<TSchema extends Record<string, unknown>> {
  name: SubgraphName;
  host: string;
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  poolSize: number;
  schema: TSchema;
  migrationsFolder: string;
  bus: EventBus;
  log: Logger;
  /** Builds the HTTP handler (and the subscription server, if any) once the database is open. */
  handler: (runtime: SubgraphRuntime<TSchema>) => Promise<SubgraphHttp | HttpHandler>;
  /** Starts the service's event consumers, if it has any. */
  consumers?: (runtime: SubgraphRuntime<TSchema> & { bus: EventBus }) => Promise<Consumer[]>;
  /** Called for every SQL statement (tests and benchmarks count them). */
  onQuery?: (query: string) => void;
}

/**
 * The options of `runSubgraph` that come from the config, for the subgraph `name`, with the
 * overrides of `StartSubgraphOptions` (tests: port 0, another database).
 */
export function subgraphRunOptions(name: SubgraphName, options: StartSubgraphOptions) {
  const { config } = options;
  return {
    name,
    host: config.host,
    port: options.port ?? config.ports[name],
    databaseUrl: options.databaseUrl ?? config.databaseUrls[name],
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    bus: options.bus,
    log: options.log,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  };
}

/**
 * Runs one subgraph: opens and migrates its database, starts its outbox relay and
 * consumers, and serves it over HTTP. `stop()` undoes it in the safe order: stop taking
 * requests and events, publish what is left in the outbox, close the database.
 */
export async function runSubgraph<TSchema extends Record<string, unknown>>(
  options: RunSubgraphOptions<TSchema>,
): Promise<RunningSubgraph<TSchema>> {
  const log = options.log.child({ service: options.name });
  const database = await openDatabase({
    url: options.databaseUrl,
    name: options.name,
    dataDir: options.dataDir,
    schema: options.schema,
    migrationsFolder: options.migrationsFolder,
    poolSize: options.poolSize,
    log,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const relay = startOutboxRelay({ db: database.db, bus: options.bus, log });
  const unsample = sampleOutboxBacklog({ service: options.name }, () => relay.backlog());
  sampleBusOnce(options.bus);
  const runtime: SubgraphRuntime<TSchema> = {
    db: database.db,
    relay,
    ready: async () => {
      await database.ping().catch(() => {
        throw new Error('database unreachable');
      });
      if (!options.bus.connected()) throw new Error('event broker unreachable');
    },
  };
  const built = await options.handler(runtime);
  const http: SubgraphHttp = typeof built === 'function' ? { handler: built } : built;
  const consumers =
    (await options.consumers?.({ ...runtime, bus: instrumentBus(options.bus) })) ?? [];
  const { server, url, port } = await listen(http.handler, options.port, options.host);
  const subscriptions = http.attach?.(server);
  log.info({ url: `${url}/graphql` }, `${options.name} subgraph listening`);
  return {
    name: options.name,
    url,
    port,
    server,
    runtime,
    activeSubscriptions: () => subscriptions?.active() ?? 0,
    stop: once(async () => {
      await Promise.all(consumers.map(c => c.stop()));
      await subscriptions?.close();
      await closeServer(server);
      await relay
        .flush()
        .catch((err: unknown) => log.warn({ err }, 'outbox not fully published at shutdown'));
      await relay.stop();
      unsample();
      await database.close();
      log.info(`${options.name} subgraph stopped`);
    }),
  };
}

/** `fn` run at most once; later calls get the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}
