import { startLiveFeed } from '#lib/live.js';
import { runSubgraph, subgraphRunOptions, type StartSubgraphOptions } from '#lib/service.js';
import { serviceOptions } from '#lib/subgraph.js';
import { schema } from './db/schema.js';
import { createTasksService, TASKS_MIGRATIONS } from './server.js';
import { startUserSync } from './user-sync.js';

/** Opens the tasks database, consumes `user.*` events and serves the tasks subgraph. */
export async function startTasks(options: StartSubgraphOptions) {
  const { config } = options;
  const log = options.log.child({ service: 'tasks' });
  // One exclusive queue per process: every replica sees every change for its subscribers.
  const live = await startLiveFeed(options.bus, ['task.*']);
  return runSubgraph({
    ...subgraphRunOptions('tasks', options),
    schema,
    migrationsFolder: TASKS_MIGRATIONS,
    handler: ({ db, relay, ready }) =>
      createTasksService(
        serviceOptions(config, { db, onOutboxWrite: () => relay.wake(), live }, log, ready),
      ),
    // `bus` here is instrumented: the consumer's lag and failures show in the metrics.
    consumers: async ({ db, relay, bus }) => [
      await startUserSync(bus, {
        db,
        onOutboxWrite: () => relay.wake(),
        log: log.child({ consumer: 'user-sync' }),
      }),
      live,
    ],
  }).catch(async (err: unknown) => {
    await live.stop();
    throw err;
  });
}
