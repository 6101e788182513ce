import { fileURLToPath } from 'node:url';
import { createSubgraphServer, type SubgraphServiceOptions } from '#lib/subgraph.js';
import type { UsersContext, UsersDeps } from './context.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

const USERS_SCHEMA_PATH = fileURLToPath(new URL('../schema.graphql', import.meta.url));
export const USERS_MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

/** The users subgraph as a request handler: a pure factory over its dependencies. */
export function createUsersService({ deps, ready, ...common }: SubgraphServiceOptions<UsersDeps>) {
  return createSubgraphServer<UsersContext>({
    name: 'users',
    schemaPath: USERS_SCHEMA_PATH,
    resolvers,
    ...common,
    ...(ready ? { ready } : {}),
    context: base => ({ ...base, deps, loaders: createLoaders(deps.db) }),
  });
}
