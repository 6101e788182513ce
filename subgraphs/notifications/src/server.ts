import { fileURLToPath } from 'node:url';
import { createSubgraphServer, type SubgraphServiceOptions } from '#lib/subgraph.js';
import type { NotificationsContext, NotificationsDeps } from './context.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

const NOTIFICATIONS_SCHEMA_PATH = fileURLToPath(new URL('../schema.graphql', import.meta.url));
export const NOTIFICATIONS_MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

/** The notifications subgraph as a request handler: a pure factory over its dependencies. */
export function createNotificationsService({
  deps,
  ready,
  ...common
}: SubgraphServiceOptions<NotificationsDeps>) {
  return createSubgraphServer<NotificationsContext>({
    name: 'notifications',
    schemaPath: NOTIFICATIONS_SCHEMA_PATH,
    resolvers,
    ...common,
    ...(ready ? { ready } : {}),
    context: base => ({ ...base, deps, loaders: createLoaders(deps.db) }),
  });
}
