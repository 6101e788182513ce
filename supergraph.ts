import { loadConfig, type Config } from '#lib/config.js';
import type { EventBus } from '#lib/events/bus.js';
import { listen, startMetricsServer } from '#lib/http.js';
import { createLogger, type Logger } from '#lib/log.js';
import { onShutdown, openEventBus, warnAboutConfig } from '#lib/process.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { runSubgraph, type RunningSubgraph } from '#lib/subgraph/run.js';
import { inService, type Telemetry } from '#lib/telemetry.js';
import { createRouter, routerOptions, type RouterOptions } from './router/server.js';
import { subgraphs } from './subgraphs/index.js';

export interface StartSupergraphOptions {
  /** Loaded with `subgraphs` (subgraphs/index.ts). */
  config: Config;
  log: Logger;
  /** A bus to share (tests pass a namespaced one); opened from config otherwise. */
  bus?: EventBus;
  /** Port 0 everywhere for tests. */
  ephemeralPorts?: boolean;
  /** Database URL per subgraph, over config (tests give each run its own databases). */
  databaseUrls?: Readonly<Record<string, string>>;
  /** Counts SQL statements per subgraph (tests, benchmarks). */
  onQuery?: (service: string, query: string) => void;
  /** Router options over those of `config` (tests shorten timings). */
  router?: Pick<Partial<RouterOptions>, 'subscriptionClaims' | 'streamHeartbeatMs'>;
}

export interface RunningSupergraph {
  router: Awaited<ReturnType<typeof createRouter>>;
  /** The router's base URL; GraphQL at `${url}/graphql`. */
  url: string;
  /** By name, as subgraphs/index.ts names them. */
  subgraphs: Readonly<Record<string, RunningSubgraph>>;
  bus: EventBus;
  stop(): Promise<void>;
}

/**
 * The whole supergraph in one process: every subgraph of subgraphs/index.ts on its own
 * database, and the router in front, sharing one event bus. `npm start` runs this; so do the
 * e2e tests.
 */
export async function startSupergraph(options: StartSupergraphOptions): Promise<RunningSupergraph> {
  const { config, log } = options;
  const bus = options.bus ?? (await openEventBus(config, log, { queues: workQueues(subgraphs) }));
  const started: RunningSubgraph[] = [];
  try {
    // All at once: opening an embedded database is mostly waiting on its own WebAssembly
    // Postgres, and nothing is lost to a consumer that starts later, since the bus declares
    // every work queue when it opens (`workQueues`). If one fails, the others are stopped.
    const results = await Promise.allSettled(
      subgraphs.map(subgraph => {
        const { name } = subgraph;
        const databaseUrl = options.databaseUrls?.[name];
        const { onQuery } = options;
        return runSubgraph(subgraph, {
          config,
          bus,
          log,
          // Only the router is public: in one process, subgraphs answer on loopback alone.
          host: '127.0.0.1',
          ...(options.ephemeralPorts ? { port: 0 } : {}),
          ...(databaseUrl ? { databaseUrl } : {}),
          ...(onQuery ? { onQuery: (query: string) => onQuery(name, query) } : {}),
        });
      }),
    );
    for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
    const failed = results.find(result => result.status === 'rejected');
    if (failed) throw failed.reason;
    const subgraphUrls = Object.fromEntries(started.map(s => [s.name, `${s.url}/graphql`]));
    const { router, url } = await inService('router', async () => {
      const router = await createRouter({
        ...routerOptions(config, log.child({ service: 'router' }), subgraphUrls, bus),
        ...options.router,
      });
      const { server, url } = await listen(
        router.handler,
        options.ephemeralPorts ? 0 : config.routerPort,
        config.host,
      );
      router.attach(server);
      return { router, url };
    });
    log.info({ url: `${url}/graphql` }, 'router listening');
    return {
      url,
      router,
      subgraphs: Object.fromEntries(started.map(s => [s.name, s])),
      bus,
      stop: async () => {
        await router.stop();
        for (const service of started.reverse()) await service.stop();
        if (!options.bus) await bus.close();
      },
    };
  } catch (err) {
    for (const service of started.reverse()) await service.stop().catch(() => {});
    if (!options.bus) await bus.close().catch(() => {});
    throw err;
  }
}

/**
 * `npm start`: the whole supergraph in this process, embedded by default. `telemetry`: the SDK
 * its entry point (main.ts) started before anything else loaded, stopped last.
 */
export async function runSupergraph(telemetry: Telemetry | undefined): Promise<void> {
  const config = loadConfig(process.env, subgraphs);
  // Readable lines in a terminal, JSON lines for a collector.
  const log = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY });
  warnAboutConfig(config, log);
  const supergraph = await startSupergraph({ config, log });
  const metrics = await startMetricsServer(config, log);
  const databases = Object.values(config.subgraphs).some(s => s.databaseUrl)
    ? 'Postgres'
    : `embedded PGlite under ${config.dataDir}/`;
  const bus = config.amqpUrl ? 'RabbitMQ' : 'in-process event bus';
  process.stdout.write(
    [
      '',
      `  Supergraph ready (${databases}, ${bus})`,
      `  GraphQL + Apollo Sandbox   ${supergraph.url}/graphql`,
      `  Health                     ${supergraph.url}/health   ${supergraph.url}/ready`,
      `  Metrics                    ${metrics ? `${metrics.url}/metrics` : `${supergraph.url}/metrics`}`,
      ...Object.values(supergraph.subgraphs).map(
        s => `  ${`${s.name} subgraph`.padEnd(27)}${s.url}/graphql`,
      ),
      '',
    ].join('\n') + '\n',
  );
  onShutdown(async () => {
    await supergraph.stop();
    await metrics?.close();
    await telemetry?.shutdown();
  }, log);
}
