import { fileURLToPath } from 'node:url';
import type { Logger } from '#lib/log.js';
import { createSubgraphServer } from '#lib/subgraph.js';
import type { UsersContext, UsersDeps } from './context.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

export const USERS_SCHEMA_PATH = fileURLToPath(new URL('../schema.graphql', import.meta.url));
export const USERS_MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

export interface UsersServiceOptions {
  deps: UsersDeps;
  routerSecret: string;
  production: boolean;
  bodyLimit: number;
  log: Logger;
  ready?: () => Promise<void>;
}

/** The users subgraph as a request handler: a pure factory over its dependencies. */
export function createUsersService(options: UsersServiceOptions) {
  return createSubgraphServer<UsersContext>({
    name: 'users',
    schemaPath: USERS_SCHEMA_PATH,
    resolvers,
    routerSecret: options.routerSecret,
    production: options.production,
    bodyLimit: options.bodyLimit,
    log: options.log,
    ...(options.ready ? { ready: options.ready } : {}),
    context: (base) => ({ ...base, deps: options.deps, loaders: createLoaders(options.deps.db) }),
  });
}
