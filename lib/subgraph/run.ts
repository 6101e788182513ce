import type { Server } from 'node:http';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { openDatabase } from '../db.js';
import type { Consumer, EventBus } from '../events/bus.js';
import {
  lastPublished,
  publishedSince,
  startOutboxRelay,
  type OutboxRelay,
} from '../events/outbox.js';
import { closeServer, listen, startMetricsServer } from '../http.js';
import { startLiveFeed } from '../live.js';
import { createLogger, type Logger } from '../log.js';
import { instrumentBus, sampleDeadLetters, sampleOutboxBacklog } from '../metrics.js';
import { onShutdown, openEventBus, warnAboutConfig } from '../process.js';
import { consumeTraced, inService } from '../telemetry.js';
import {
  queueName,
  workQueues,
  type SubgraphContext,
  type SubgraphDescriptor,
  type SubgraphRuntime,
  type Tables,
} from './descriptor.js';
import { idempotentExecution, joinable } from './idempotency.js';
import { createSubgraphServer } from './server.js';

/** How to run a subgraph: `supergraph.ts`, `runAlone` and the tests all pass this. */
export interface RunOptions {
  config: Config;
  bus: EventBus;
  log: Logger;
  /** Overrides of the config for tests: port 0, a database of the test's own. */
  port?: number;
  /** The interface to listen on, over HOST (the one-process supergraph keeps subgraphs on loopback). */
  host?: string;
  databaseUrl?: string;
  /** Called for every SQL statement (tests and benchmarks count them). */
  onQuery?: (query: string) => void;
}

/** A running subgraph: its URL, what tests inspect, and how to stop it gracefully. */
export interface RunningSubgraph {
  name: string;
  /** Base URL, e.g. `http://localhost:4001`; GraphQL is at `${url}/graphql`. */
  url: string;
  port: number;
  server: Server;
  runtime: {
    relay: OutboxRelay;
    /** Throws while the database or the broker cannot be reached. */
    ready: () => Promise<void>;
  };
  /** Subscriptions this subgraph is serving to the router right now. */
  activeSubscriptions(): number;
  stop(): Promise<void>;
}

const sampledBuses = new WeakSet<EventBus>();
/** The dead-letter queue is the bus's, not a service's: sample it once per bus. */
function sampleBusOnce(bus: EventBus): void {
  if (sampledBuses.has(bus)) return;
  sampledBuses.add(bus);
  sampleDeadLetters({ bus: bus.transport }, () => bus.deadLetterCount());
}

/**
 * Runs one subgraph from its descriptor: opens and migrates its database, starts its outbox
 * relay, its live feed and its consumers, and serves it over HTTP (and graphql-ws when its
 * schema has subscriptions). `stop()` undoes it in the safe order: stop taking requests and
 * events, publish what is left in the outbox, close the database.
 */
export const runSubgraph: typeof startSubgraph = (descriptor, options) =>
  // Everything it starts (server, consumers, relay) traces under its own service.name.
  inService(descriptor.name, () => startSubgraph(descriptor, options));

async function startSubgraph<
  TName extends string,
  TTables extends Tables,
  TDeps,
  TContext extends SubgraphContext,
>(
  descriptor: SubgraphDescriptor<TName, TTables, TDeps, TContext>,
  options: RunOptions,
): Promise<RunningSubgraph> {
  const { config, bus } = options;
  const { name } = descriptor;
  const own = config.subgraphs[name];
  if (!own) throw new ConfigError(`the config was loaded without the ${name} subgraph`);
  const log = options.log.child({ service: name });
  const undo: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const step of undo.reverse()) await step();
  };
  try {
    const database = await openDatabase({
      url: options.databaseUrl ?? own.databaseUrl,
      name,
      dataDir: config.dataDir,
      schema: descriptor.tables,
      migrationsFolder: descriptor.migrationsFolder,
      poolSize: config.databasePoolSize,
      timeoutMs: config.databaseTimeoutMs,
      log,
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    });
    undo.push(() => database.close());
    // One exclusive queue per process: every replica sees every event for its subscribers.
    const live = await startLiveFeed(
      bus,
      descriptor.live ?? [],
      {
        producer: name,
        since: (after, types, limit) => publishedSince(database.db, after, types, limit),
        last: () => lastPublished(database.db),
      },
      log,
    );
    undo.push(() => live.stop());
    const relay = startOutboxRelay({ db: database.db, bus, log });
    undo.push(async () => {
      await relay
        .flush()
        .catch((err: unknown) => log.warn({ err }, 'outbox not fully published at shutdown'));
      await relay.stop();
    });
    undo.push(sampleOutboxBacklog({ service: name }, () => relay.backlog()));
    sampleBusOnce(bus);
    const ready = async () => {
      await database.ping().catch(() => {
        throw new Error('database unreachable');
      });
      if (!bus.connected()) throw new Error('event broker unreachable');
    };
    // Resolvers get a handle that joins the transaction of a keyed mutation (idempotency.ts).
    const joined = joinable(database.db);
    const idempotency = idempotentExecution({
      db: database.db,
      joined,
      retentionMs: config.idempotencyKeyTtl * 1000,
      onCommit: () => relay.wake(),
      log,
    });
    undo.push(pruneEvery(PRUNE_INTERVAL_MS, idempotency.prune, log));
    const runtime: SubgraphRuntime<TTables> = {
      config,
      db: joined.db,
      log,
      onOutboxWrite: () => relay.wake(),
      live,
    };
    const deps = descriptor.deps(runtime);
    if (descriptor.stop) undo.push(() => descriptor.stop!(deps));
    const subgraph = await createSubgraphServer<TContext>({
      name,
      schemaPath: descriptor.schemaPath,
      resolvers: descriptor.resolvers,
      config,
      log,
      ready,
      context: base => descriptor.context(base, deps),
      idempotent: idempotency.run,
      ...(descriptor.unrecorded ? { unrecorded: descriptor.unrecorded } : {}),
    });
    // `instrumentBus`: consumer lag and failures show in the metrics.
    const consumerBus = instrumentBus(bus);
    const consumers: Consumer[] = [];
    undo.push(async () => {
      await Promise.all(consumers.map(c => c.stop()));
    });
    for (const [queue, spec] of Object.entries(descriptor.queues ?? {})) {
      const full = queueName(name, queue);
      const handle = spec.handler(deps, { queue: full, log: log.child({ consumer: full }) });
      consumers.push(
        await consumerBus.consume({
          queue: full,
          bindings: spec.bindings,
          // A span of this service continuing the trace of the change behind the event.
          handler: (event, headers) =>
            inService(name, () =>
              consumeTraced(event, full, headers?.traceparent, () => handle(event)),
            ),
        }),
      );
    }
    const { server, url, port } = await listen(
      subgraph.handler,
      options.port ?? own.port,
      options.host ?? config.host,
    );
    undo.push(() => closeServer(server));
    const subscriptions = subgraph.subscribes ? subgraph.attach(server) : undefined;
    if (subscriptions) undo.push(() => subscriptions.close());
    log.info({ url: `${url}/graphql` }, `${name} subgraph listening`);
    return {
      name,
      url,
      port,
      server,
      runtime: { relay, ready },
      activeSubscriptions: () => subscriptions?.active() ?? 0,
      stop: once(async () => {
        await unwind();
        log.info(`${name} subgraph stopped`);
      }),
    };
  } catch (err) {
    await unwind().catch(() => {});
    throw err;
  }
}

/**
 * The main of one subgraph run as its own process (one container): config from the
 * environment, its own logger and a bus that declares every subgraph's work queues, graceful
 * shutdown on SIGTERM.
 */
export async function runAlone(
  subgraph: SubgraphDescriptor,
  all: readonly SubgraphDescriptor[],
  /** Runs last at shutdown (the telemetry's flush). */
  atExit?: () => Promise<void>,
): Promise<void> {
  const config = loadConfig(process.env, all);
  const log = createLogger({ level: config.logLevel, name: subgraph.name });
  warnAboutConfig(config, log);
  const bus = await openEventBus(config, log, { service: subgraph.name, queues: workQueues(all) });
  const service = await runSubgraph(subgraph, { config, bus, log });
  const metrics = await startMetricsServer(config, log);
  onShutdown(async () => {
    await service.stop();
    await metrics?.close();
    await bus.close();
    await atExit?.();
  }, log);
}

/** How often a subgraph forgets idempotency keys past their IDEMPOTENCY_KEY_TTL. */
const PRUNE_INTERVAL_MS = 10 * 60_000;

/** Runs `prune` every `ms` (a failure is logged and tried next time); returns the stop. */
function pruneEvery(ms: number, prune: () => Promise<number>, log: Logger): () => void {
  const timer = setInterval(() => {
    prune().then(
      forgotten => {
        if (forgotten > 0) log.debug({ forgotten }, 'idempotency keys past their TTL forgotten');
      },
      (err: unknown) => log.warn({ err }, 'idempotency keys not pruned'),
    );
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/** `fn` run at most once; later calls get the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}
