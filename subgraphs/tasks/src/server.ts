import { fileURLToPath } from 'node:url';
import type { Logger } from '#lib/log.js';
import { createSubgraphServer } from '#lib/subgraph.js';
import type { TasksContext, TasksDeps } from './context.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

export const TASKS_SCHEMA_PATH = fileURLToPath(new URL('../schema.graphql', import.meta.url));
export const TASKS_MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

export interface TasksServiceOptions {
  deps: TasksDeps;
  routerSecret: string;
  production: boolean;
  bodyLimit: number;
  log: Logger;
  ready?: () => Promise<void>;
}

/** The tasks subgraph as a request handler: a pure factory over its dependencies. */
export function createTasksService(options: TasksServiceOptions) {
  return createSubgraphServer<TasksContext>({
    name: 'tasks',
    schemaPath: TASKS_SCHEMA_PATH,
    resolvers,
    routerSecret: options.routerSecret,
    production: options.production,
    bodyLimit: options.bodyLimit,
    log: options.log,
    ...(options.ready ? { ready: options.ready } : {}),
    context: (base) => ({ ...base, deps: options.deps, loaders: createLoaders(options.deps.db) }),
  });
}
