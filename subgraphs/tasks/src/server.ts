import { fileURLToPath } from 'node:url';
import { createSubgraphServer, type SubgraphServiceOptions } from '#lib/subgraph.js';
import type { TasksContext, TasksDeps } from './context.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

const TASKS_SCHEMA_PATH = fileURLToPath(new URL('../schema.graphql', import.meta.url));
export const TASKS_MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

/** The tasks subgraph as a request handler: a pure factory over its dependencies. */
export function createTasksService({ deps, ready, ...common }: SubgraphServiceOptions<TasksDeps>) {
  return createSubgraphServer<TasksContext>({
    name: 'tasks',
    schemaPath: TASKS_SCHEMA_PATH,
    resolvers,
    ...common,
    ...(ready ? { ready } : {}),
    context: base => ({ ...base, deps, loaders: createLoaders(deps.db) }),
  });
}
