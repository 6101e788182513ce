import { runSubgraph, type StartSubgraphOptions } from '#lib/service.js';
import { schema } from './db/schema.js';
import { startConsumers } from './events.js';
import { createNotificationsService, NOTIFICATIONS_MIGRATIONS } from './server.js';

/** Opens the notifications database, consumes task and user events, and serves the subgraph. */
export function startNotifications(options: StartSubgraphOptions) {
  const { config } = options;
  const log = options.log.child({ service: 'notifications' });
  return runSubgraph({
    name: 'notifications',
    host: config.host,
    port: options.port ?? config.ports.notifications,
    databaseUrl: options.databaseUrl ?? config.databaseUrls.notifications,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    schema,
    migrationsFolder: NOTIFICATIONS_MIGRATIONS,
    bus: options.bus,
    log: options.log,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    handler: async ({ db, ready }) => {
      const { handler } = await createNotificationsService({
        deps: { db },
        routerSecret: config.routerSecret,
        production: config.production,
        bodyLimit: config.bodyLimit,
        log,
        ready,
      });
      return handler;
    },
    consumers: ({ db, relay }) => startConsumers({ db, bus: options.bus, log, onOutboxWrite: () => relay.wake() }),
  });
}
