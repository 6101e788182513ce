import { defineSubgraph, subgraphFiles } from '#lib/subgraph/descriptor.js';
import type { NotificationsContext, NotificationsDeps } from './context.js';
import { schema } from './db/schema.js';
import { taskEventsHandler, userEventsHandler } from './events.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

/**
 * Notifications from `task.*` for every stakeholder but the actor, read state; keeps its user
 * stubs from `user.*`, publishes `notification.created` and serves `notificationReceived`.
 */
export const notifications = defineSubgraph({
  name: 'notifications',
  port: 4003,
  ...subgraphFiles(import.meta.url),
  resolvers,
  tables: schema,
  codegen: {
    context: '../context.js#NotificationsContext',
    mappers: {
      Notification: '../db/schema.js#NotificationRow',
      User: '../models.js#UserRef',
      Task: '../models.js#TaskRef',
    },
  },
  deps: ({ db, onOutboxWrite, live }): NotificationsDeps => ({ db, onOutboxWrite, live }),
  context: (base, deps): NotificationsContext => ({
    ...base,
    deps,
    loaders: createLoaders(deps.db),
  }),
  queues: {
    'task-events': {
      bindings: ['task.*'],
      handler: (deps, consumer) => taskEventsHandler(deps, consumer),
    },
    'user-sync': {
      bindings: ['user.*'],
      handler: (deps, consumer) => userEventsHandler(deps, consumer),
    },
  },
  live: ['notification.created'],
});
