import { jwtSecretKey } from '#lib/auth/jwt.js';
import { defineSubgraph, subgraphFiles } from '#lib/subgraph/descriptor.js';
import type { UsersContext, UsersDeps } from './context.js';
import { schema } from './db/schema.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';

/** Identity, profile, roles, credentials and tokens; publishes `user.*`, consumes nothing. */
export const users = defineSubgraph({
  name: 'users',
  port: 4001,
  ...subgraphFiles(import.meta.url),
  resolvers,
  tables: schema,
  codegen: { context: '../context.js#UsersContext', mappers: { User: '../models.js#UserModel' } },
  deps: ({ config, db, onOutboxWrite }): UsersDeps => ({
    db,
    // The key made once: jsonwebtoken would import a string secret anew on every sign.
    jwt: { ...config.jwt, secret: jwtSecretKey(config.jwt.secret) },
    refreshTokenTtl: config.jwt.refreshTokenTtl,
    onOutboxWrite,
  }),
  context: (base, deps): UsersContext => ({ ...base, deps, loaders: createLoaders(deps.db) }),
  // Their answers hold tokens; refresh tokens are stored only as hashes, never in a record.
  unrecorded: ['register', 'login', 'refreshToken'],
});
