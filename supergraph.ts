import type { Config } from '#lib/config.js';
import type { EventBus } from '#lib/events/bus.js';
import { listen } from '#lib/http.js';
import type { Logger } from '#lib/log.js';
import { openEventBus } from '#lib/process.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { runSubgraph, type RunningSubgraph } from '#lib/subgraph/run.js';
import { inService } from '#lib/telemetry.js';
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
