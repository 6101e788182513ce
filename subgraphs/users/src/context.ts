import type { JwtOptions } from '#lib/auth/jwt.js';
import type { Database } from '#lib/db.js';
import type { SubgraphContext } from '#lib/subgraph/descriptor.js';
import type { schema } from './db/schema.js';
import type { UsersLoaders } from './loaders.js';
import type { MailSender } from './mail/outbox.js';
import type { Passwords } from './passwords.js';

/** What the users service is built from; its descriptor (subgraph.ts) builds them, tests build their own. */
export interface UsersDeps {
  db: Database<typeof schema>;
  jwt: JwtOptions;
  /** Every scrypt of the service, bounded (passwords.ts). */
  passwords: Passwords;
  /** Lifetime of a refresh token, in seconds. */
  refreshTokenTtl: number;
  /**
   * Called after a transaction that wrote to the outbox or the mail outbox commits, so the
   * relay publishes and the mail sender sends now.
   */
  onOutboxWrite: () => void;
  /** EMAIL_VERIFICATION. */
  emailVerification: 'optional' | 'required';
  /** The sender of the mail outbox (mail/outbox.ts); stopped with the service. */
  mail?: MailSender;
}

export interface UsersContext extends SubgraphContext {
  deps: UsersDeps;
  loaders: UsersLoaders;
}
