import { jwtSecretKey } from '#lib/auth/jwt.js';
import { defineSubgraph, subgraphFiles } from '#lib/subgraph/descriptor.js';
import type { UsersContext, UsersDeps } from './context.js';
import { schema } from './db/schema.js';
import { notificationMailHandler } from './email.js';
import { createLoaders } from './loaders.js';
import { createMailTransport, startMailSender } from './mail/outbox.js';
import { createPasswords } from './passwords.js';
import { resolvers } from './resolvers/index.js';

/** Identity, profile, roles, credentials and tokens; publishes `user.*`, consumes `notification.created` (to mail it), sends every email. */
export const users = defineSubgraph({
  name: 'users',
  port: 4001,
  ...subgraphFiles(import.meta.url),
  resolvers,
  tables: schema,
  codegen: { context: '../context.js#UsersContext', mappers: { User: '../models.js#UserModel' } },
  deps: ({ config, db, log, onOutboxWrite }): UsersDeps => {
    const mail = startMailSender({
      db,
      transport: createMailTransport({
        smtpUrl: config.mail.smtpUrl,
        dataDir: config.dataDir,
        log,
      }),
      from: config.mail.from,
      log,
    });
    return {
      db,
      // The key made once: jsonwebtoken would import a string secret anew on every sign.
      jwt: { ...config.jwt, secret: jwtSecretKey(config.jwt.secret) },
      // A turn not come by half the request's deadline is refused: the hash must fit in the rest.
      passwords: createPasswords({
        ...config.passwordHashing,
        maxWaitMs: config.requestTimeoutMs / 2,
      }),
      refreshTokenTtl: config.jwt.refreshTokenTtl,
      onOutboxWrite: () => {
        onOutboxWrite();
        mail.wake();
      },
      emailVerification: config.mail.verification,
      mail,
    };
  },
  stop: deps => deps.mail?.stop() ?? Promise.resolve(),
  context: (base, deps): UsersContext => ({ ...base, deps, loaders: createLoaders(deps.db) }),
  queues: {
    // Emails for notification.created, to users who chose the kind (email.ts).
    'notification-mail': {
      bindings: ['notification.created'],
      handler: (deps, consumer) => notificationMailHandler(deps, consumer),
    },
  },
  // Their answers hold tokens; refresh tokens are stored only as hashes, never in a record.
  unrecorded: ['register', 'login', 'refreshToken'],
});
