import {
  bigserial,
  index,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { outbox, outboxPublishSeq, processedEvents } from '#lib/events/tables.js';
import { idempotencyKeys } from '#lib/subgraph/tables.js';

export { idempotencyKeys, outbox, outboxPublishSeq, processedEvents };

export const userRole = pgEnum('user_role', ['USER', 'ADMIN']);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Lower-case already (the API accepts only [a-z0-9_.-]). */
    username: text('username').notNull(),
    /** Stored trimmed and lower-cased, so uniqueness and login ignore case. */
    email: text('email').notNull(),
    displayName: text('display_name').notNull(),
    bio: text('bio'),
    role: userRole('role').notNull().default('USER'),
    /** `scrypt$N$r$p$salt$hash`; never leaves this service. */
    passwordHash: text('password_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [
    uniqueIndex('users_username_key').on(t.username),
    uniqueIndex('users_email_key').on(t.email),
    index('users_role_idx').on(t.role),
  ],
);

/** A refresh token is stored only as its SHA-256; rotation links tokens of one login in a family. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** Set when rotated, logged out or revoked with its family; a used token stays for reuse detection. */
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  t => [
    uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash),
    index('refresh_tokens_family_idx').on(t.familyId),
    index('refresh_tokens_user_idx').on(t.userId),
  ],
);

/** Failed logins per account, counted in the database so the limit holds across replicas. */
export const loginFailures = pgTable(
  'login_failures',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    failedAt: timestamp('failed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [index('login_failures_user_time_idx').on(t.userId, t.failedAt)],
);

/**
 * Revocations of access tokens, kept as long as an access token lives (ACCESS_TOKEN_TTL): what
 * a router that starts (or lost its live feed) reads to know which tokens to refuse
 * (`_revocations`). No foreign key: a deleted user's revocation must outlive the user.
 * `sessionId` set: that session's tokens; `before` set: every token issued before it.
 */
export const sessionRevocations = pgTable(
  'session_revocations',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: uuid('user_id').notNull(),
    sessionId: uuid('session_id'),
    before: timestamp('before', { withTimezone: true, mode: 'date', precision: 3 }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [index('session_revocations_time_idx').on(t.revokedAt)],
);

export type UserRow = typeof users.$inferSelect;

/** Everything the users service's Drizzle client knows about. */
export const schema = {
  users,
  refreshTokens,
  loginFailures,
  sessionRevocations,
  userRole,
  outbox,
  processedEvents,
  idempotencyKeys,
};
