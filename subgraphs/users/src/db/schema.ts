import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
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
    /** Set by a verification code mailed to `email`; an email change clears it. */
    emailVerified: boolean('email_verified').notNull().default(false),
    /** Notification kinds also mailed (to a verified address): NotificationKind values. */
    notificationEmailKinds: text('notification_email_kinds').array().notNull().default([]),
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

/**
 * Failed logins (and those in progress: a row is written before the password is checked and
 * deleted when it was right), counted in the database so the limits hold across replicas.
 * Each is of one client address and either an account (`userId`) or a login that names none
 * (`unknownLogin`, its SHA-256): an unknown login is limited as a known one, so the answers
 * do not tell which accounts exist.
 */
export const loginFailures = pgTable(
  'login_failures',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    unknownLogin: text('unknown_login'),
    /** As the router saw it (TRUSTED_PROXIES); '' when it did not say. */
    clientAddress: text('client_address').notNull().default(''),
    failedAt: timestamp('failed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [
    index('login_failures_user_time_idx').on(t.userId, t.failedAt),
    index('login_failures_unknown_time_idx').on(t.unknownLogin, t.failedAt),
    index('login_failures_address_time_idx').on(t.clientAddress, t.failedAt),
    index('login_failures_time_idx').on(t.failedAt),
  ],
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

export const emailCodePurpose = pgEnum('email_code_purpose', ['VERIFY_EMAIL', 'RESET_PASSWORD']);

/**
 * The one live code of a user per purpose (a new one replaces it), for `email`, the address it
 * was mailed to. Stored only as its HMAC (codes.ts); it dies at `expiresAt` or after
 * MAX_CODE_FAILURES wrong tries.
 */
export const emailCodes = pgTable(
  'email_codes',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: emailCodePurpose('purpose').notNull(),
    email: text('email').notNull(),
    codeHash: text('code_hash').notNull(),
    failures: integer('failures').notNull().default(0),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [uniqueIndex('email_codes_user_purpose_key').on(t.userId, t.purpose)],
);

/**
 * Mail to send, written in the transaction that causes it (mail/outbox.ts) and sent by one
 * sender at a time; `id` is the message's Message-ID and the key that makes a redelivered
 * event write nothing twice.
 */
export const mailOutbox = pgTable(
  'mail_outbox',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: text('id').notNull(),
    to: text('to').notNull(),
    subject: text('subject').notNull(),
    text: text('text').notNull(),
    html: text('html').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
    /** A permanent failure (an SMTP 5xx): never tried again. */
    failedAt: timestamp('failed_at', { withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [
    uniqueIndex('mail_outbox_id_key').on(t.id),
    index('mail_outbox_pending_idx')
      .on(t.nextAttemptAt)
      .where(sql`sent_at is null and failed_at is null`),
  ],
);

export type UserRow = typeof users.$inferSelect;

/** Everything the users service's Drizzle client knows about. */
export const schema = {
  users,
  refreshTokens,
  loginFailures,
  sessionRevocations,
  userRole,
  emailCodePurpose,
  emailCodes,
  mailOutbox,
  outbox,
  processedEvents,
  idempotencyKeys,
};
