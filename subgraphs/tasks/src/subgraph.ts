import { defineSubgraph, subgraphFiles } from '#lib/subgraph/descriptor.js';
import type { TasksContext, TasksDeps } from './context.js';
import { schema } from './db/schema.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';
import { applyUserEvent } from './user-sync.js';

/**
 * Tasks with permissions, filters and cursor pagination; keeps `user_stubs` from `user.*`,
 * publishes `task.*` and serves `taskChanged` from the live `task.*` fan-out.
 */
export const tasks = defineSubgraph({
  name: 'tasks',
  port: 4002,
  ...subgraphFiles(import.meta.url),
  resolvers,
  tables: schema,
  codegen: {
    context: '../context.js#TasksContext',
    mappers: {
      Task: '../db/schema.js#TaskRow',
      User: '../models.js#UserRef',
      TaskEvent: '../models.js#TaskEventModel',
    },
  },
  deps: ({ db, onOutboxWrite, live }): TasksDeps => ({ db, onOutboxWrite, live }),
  context: (base, deps): TasksContext => ({ ...base, deps, loaders: createLoaders(deps.db) }),
  queues: {
    'user-sync': {
      bindings: ['user.*'],
      handler:
        (deps, { queue, log }) =>
        event =>
          applyUserEvent({ ...deps, queue, log }, event),
    },
  },
  live: ['task.*'],
});
