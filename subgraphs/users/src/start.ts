import { runSubgraph, subgraphRunOptions, type StartSubgraphOptions } from '#lib/service.js';
import { serviceOptions } from '#lib/subgraph.js';
import { schema } from './db/schema.js';
import { createUsersService, USERS_MIGRATIONS } from './server.js';

/** Opens the users database and serves the users subgraph. */
export function startUsers(options: StartSubgraphOptions) {
  const { config } = options;
  return runSubgraph({
    ...subgraphRunOptions('users', options),
    schema,
    migrationsFolder: USERS_MIGRATIONS,
    handler: ({ db, relay, ready }) => {
      const deps = {
        db,
        jwt: { ...config.jwt },
        refreshTokenTtl: config.jwt.refreshTokenTtl,
        onOutboxWrite: () => relay.wake(),
      };
      return createUsersService(
        serviceOptions(config, deps, options.log.child({ service: 'users' }), ready),
      );
    },
  });
}
