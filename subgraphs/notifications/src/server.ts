import { fileURLToPath } from 'node:url';
import type { Logger } from '#lib/log.js';
import { createSubgraphServer } from '#lib/subgraph.js';
import type { NotificationsContext, NotificationsDeps } from './context.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

export const NOTIFICATIONS_SCHEMA_PATH = fileURLToPath(new URL('../schema.graphql', import.meta.url));
export const NOTIFICATIONS_MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

export interface NotificationsServiceOptions {
  deps: NotificationsDeps;
  routerSecret: string;
  production: boolean;
  bodyLimit: number;
  log: Logger;
  ready?: () => Promise<void>;
}

/** The notifications subgraph as a request handler: a pure factory over its dependencies. */
export function createNotificationsService(options: NotificationsServiceOptions) {
  return createSubgraphServer<NotificationsContext>({
    name: 'notifications',
    schemaPath: NOTIFICATIONS_SCHEMA_PATH,
    resolvers,
    routerSecret: options.routerSecret,
    production: options.production,
    bodyLimit: options.bodyLimit,
    log: options.log,
    ...(options.ready ? { ready: options.ready } : {}),
    context: (base) => ({ ...base, deps: options.deps, loaders: createLoaders(options.deps.db) }),
  });
}
