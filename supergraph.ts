import type { Config, SubgraphName } from '#lib/config.js';
import type { EventBus } from '#lib/events/bus.js';
import { listen } from '#lib/http.js';
import type { Logger } from '#lib/log.js';
import { openEventBus } from '#lib/process.js';
import type { RunningSubgraph } from '#lib/service.js';
import { createRouter, routerOptions } from './router/server.js';
import { startNotifications } from './subgraphs/notifications/src/start.js';
import { startTasks } from './subgraphs/tasks/src/start.js';
import { startUsers } from './subgraphs/users/src/start.js';

export interface StartSupergraphOptions {
  config: Config;
  log: Logger;
  /** A bus to share (tests pass a namespaced one); opened from config otherwise. */
  bus?: EventBus;
  /** Port 0 everywhere for tests. */
  ephemeralPorts?: boolean;
  /** Database URL per subgraph, over config (tests give each run its own databases). */
  databaseUrls?: Partial<Record<SubgraphName, string>>;
  /** Counts SQL statements per subgraph (tests, benchmarks). */
  onQuery?: (service: SubgraphName, query: string) => void;
}

export interface RunningSupergraph {
  router: Awaited<ReturnType<typeof createRouter>>;
  /** The router's base URL; GraphQL at `${url}/graphql`. */
  url: string;
  subgraphs: Partial<Record<SubgraphName, RunningSubgraph>>;
  bus: EventBus;
  stop(): Promise<void>;
}

/**
 * The whole supergraph in one process: every subgraph on its own database and the
 * router in front, sharing one event bus. `npm start` runs this; so do the e2e tests.
 */
export async function startSupergraph(options: StartSupergraphOptions): Promise<RunningSupergraph> {
  const { config, log } = options;
  const bus = options.bus ?? (await openEventBus(config, log));
  const common = <N extends SubgraphName>(name: N) => ({
    config,
    bus,
    log,
    ...(options.ephemeralPorts ? { port: 0 } : {}),
    ...(options.databaseUrls?.[name] ? { databaseUrl: options.databaseUrls[name] } : {}),
    ...(options.onQuery ? { onQuery: (q: string) => options.onQuery?.(name, q) } : {}),
  });
  const started: RunningSubgraph[] = [];
  try {
    // One line per subgraph, in start order (tasks and notifications consume user events).
    started.push(await startUsers(common('users')));
    started.push(await startTasks(common('tasks')));
    started.push(await startNotifications(common('notifications')));
    const subgraphUrls = Object.fromEntries(started.map(s => [s.name, `${s.url}/graphql`]));
    const router = await createRouter(
      routerOptions(config, log.child({ service: 'router' }), subgraphUrls),
    );
    const { server, url } = await listen(
      router.handler,
      options.ephemeralPorts ? 0 : config.ports.router,
      config.host,
    );
    router.attach(server);
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
