import { startLiveFeed } from '#lib/live.js';
import { runSubgraph, subgraphRunOptions, type StartSubgraphOptions } from '#lib/service.js';
import { serviceOptions } from '#lib/subgraph.js';
import { schema } from './db/schema.js';
import { startConsumers } from './events.js';
import { createNotificationsService, NOTIFICATIONS_MIGRATIONS } from './server.js';

/** Opens the notifications database, consumes task and user events, and serves the subgraph. */
export async function startNotifications(options: StartSubgraphOptions) {
  const { config } = options;
  const log = options.log.child({ service: 'notifications' });
  // One exclusive queue per process: every replica sees every notification for its subscribers.
  const live = await startLiveFeed(options.bus, ['notification.created']);
  return runSubgraph({
    ...subgraphRunOptions('notifications', options),
    schema,
    migrationsFolder: NOTIFICATIONS_MIGRATIONS,
    handler: ({ db, ready }) =>
      createNotificationsService(serviceOptions(config, { db, live }, log, ready)),
    // `bus` here is instrumented: consumer lag and failures show in the metrics.
    consumers: async ({ db, relay, bus }) => [
      ...(await startConsumers({ db, bus, log, onOutboxWrite: () => relay.wake() })),
      live,
    ],
  }).catch(async (err: unknown) => {
    await live.stop();
    throw err;
  });
}
