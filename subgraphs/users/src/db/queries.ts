import { and, asc, count, eq, gt, ilike, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import { isUuid, queryRows, type Executor } from '#lib/db.js';
import {
  loginFailures,
  refreshTokens,
  sessionRevocations,
  users,
  type schema,
  type UserRow,
} from './schema.js';

type Db = Executor<typeof schema>;

export async function usersByIds(db: Db, ids: readonly string[]): Promise<UserRow[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  return db.select().from(users).where(inArray(users.id, valid));
}

/**
 * What a notification email needs of its recipient, and nothing else: read by the
 * notification-mail consumer for every `notification.created`, apart from the loaders' reads.
 */
export async function mailRecipient(db: Db, id: string) {
  if (!isUuid(id)) return undefined;
  const [row] = await db
    .select({
      email: users.email,
      emailVerified: users.emailVerified,
      notificationEmailKinds: users.notificationEmailKinds,
    })
    .from(users)
    .where(eq(users.id, id));
  return row;
}

/**
 * The user a token is about to be issued for, locked FOR SHARE until the transaction ends: a
 * role or password change committing meanwhile waits for it, or it for the change, so a token
 * never carries a role (or follows a password) that a revocation issued before it has ended.
 */
export async function userForTokens(tx: Db, id: string): Promise<UserRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await tx.select().from(users).where(eq(users.id, id)).for('share');
  return row;
}

export async function userByLogin(db: Db, login: string): Promise<UserRow | undefined> {
  const value = login.trim().toLowerCase();
  const [row] = await db
    .select()
    .from(users)
    .where(or(eq(users.username, value), eq(users.email, value)))
    .limit(1);
  return row;
}

export async function anyUserExists(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: users.id }).from(users).limit(1);
  return row !== undefined;
}

/**
 * Key of the lock below: its own, not the outbox relay's (7_301_995) nor the migrations'
 * (7_301_994), which a registration used to hold and so stall the relay with.
 */
const ADMIN_SET_LOCK = 7_301_996;

/** Serialises the decisions that depend on who the admins are (first user, last admin). */
export async function lockAdminSet(tx: Db): Promise<void> {
  await queryRows(tx, sql`select pg_advisory_xact_lock(${sql.raw(String(ADMIN_SET_LOCK))})`);
}

export async function countAdmins(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(users).where(eq(users.role, 'ADMIN'));
  return row?.n ?? 0;
}

export async function countUsers(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(users);
  return row?.n ?? 0;
}

function searchCondition(search: string | null) {
  if (!search) return undefined;
  const pattern = `%${search.replace(/[\\%_]/g, c => `\\${c}`)}%`;
  return or(
    ilike(users.username, pattern),
    ilike(users.displayName, pattern),
    ilike(users.email, pattern),
  );
}

/** A page of users by username, after `afterUsername`, with `limit` rows at most. */
export async function listUsers(
  db: Db,
  options: { search: string | null; afterUsername: string | null; limit: number },
): Promise<{ rows: UserRow[]; totalCount: number }> {
  const where = searchCondition(options.search);
  const page = options.afterUsername
    ? and(where, gt(users.username, options.afterUsername))
    : where;
  const [rows, [total]] = await Promise.all([
    db.select().from(users).where(page).orderBy(asc(users.username)).limit(options.limit),
    db.select({ n: count() }).from(users).where(where),
  ]);
  return { rows, totalCount: total?.n ?? 0 };
}

export async function refreshTokenByHash(db: Db, tokenHash: string) {
  const [row] = await db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .limit(1);
  return row;
}

/** Marks a live token used; false when it was already used (a concurrent or replayed refresh). */
export async function consumeRefreshToken(db: Db, id: string): Promise<boolean> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.revokedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length === 1;
}

/** Revokes every live token of a family; returns how many were live. */
export async function revokeFamily(db: Db, familyId: string): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length;
}

/** Revokes every live refresh token of the user but those of `exceptFamily`. */
export async function revokeAllOfUser(
  db: Db,
  userId: string,
  exceptFamily: string | null = null,
): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(
      and(
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        exceptFamily === null ? undefined : ne(refreshTokens.familyId, exceptFamily),
      ),
    );
}

/**
 * Records a revocation for routers that start later, and forgets those older than
 * `keepSince` (no access token issued before then is still valid).
 */
export async function recordRevocation(
  tx: Db,
  revocation: { userId: string; sessionId: string | null; before: Date | null },
  keepSince: Date,
): Promise<void> {
  await tx.insert(sessionRevocations).values(revocation);
  await tx.delete(sessionRevocations).where(lt(sessionRevocations.revokedAt, keepSince));
}

/** The revocations made since `since`, oldest first. */
export async function revocationsSince(db: Db, since: Date) {
  return db
    .select({
      userId: sessionRevocations.userId,
      sessionId: sessionRevocations.sessionId,
      before: sessionRevocations.before,
      revokedAt: sessionRevocations.revokedAt,
    })
    .from(sessionRevocations)
    .where(gt(sessionRevocations.revokedAt, since))
    .orderBy(asc(sessionRevocations.id));
}

export async function insertRefreshToken(
  db: Db,
  token: { userId: string; familyId: string; tokenHash: string; expiresAt: Date },
): Promise<void> {
  await db.insert(refreshTokens).values(token);
}

/** Records a login attempt and returns the attempts (this one included) still on record in the window. */
/** Who a login attempt counts against: an account or a login naming none, and an address. */
export interface LoginAttempt {
  userId: string | null;
  /** SHA-256 of the login, when it names no account. */
  unknownLogin: string | null;
  clientAddress: string;
}

/** Failures (this attempt included) since the window start, and the oldest of them. */
export interface FailureCount {
  count: number;
  oldest: Date | null;
}

/**
 * Records `attempt` as a failure until it succeeds, and counts the failures since
 * `windowStart` of its account (from anywhere), of its account from its address, and of its
 * address (any account). Rows older than the window go as new ones come.
 */
export async function recordLoginAttempt(db: Db, attempt: LoginAttempt, windowStart: Date) {
  // A few at a time, skipping rows another attempt is deleting: pruning never waits or deadlocks.
  const expired = db
    .select({ id: loginFailures.id })
    .from(loginFailures)
    .where(lt(loginFailures.failedAt, windowStart))
    .limit(100)
    .for('update', { skipLocked: true });
  await db.delete(loginFailures).where(inArray(loginFailures.id, expired));
  const [row] = await db.insert(loginFailures).values(attempt).returning({ id: loginFailures.id });
  const ofAccount =
    attempt.userId === null
      ? eq(loginFailures.unknownLogin, attempt.unknownLogin ?? '')
      : eq(loginFailures.userId, attempt.userId);
  const ofAddress = eq(loginFailures.clientAddress, attempt.clientAddress);
  const counted = (where: ReturnType<typeof and>) => ({
    count: sql<number>`count(*) filter (where ${where})`.mapWith(Number),
    oldest: sql<Date | null>`min(${loginFailures.failedAt}) filter (where ${where})`.mapWith(
      loginFailures.failedAt,
    ),
  });
  const [counts] = await db
    .select({
      account: counted(ofAccount),
      pair: counted(and(ofAccount, ofAddress)),
      address: counted(ofAddress),
    })
    .from(loginFailures)
    .where(and(gt(loginFailures.failedAt, windowStart), or(ofAccount, ofAddress)));
  return {
    attemptId: row!.id,
    counts: counts! as Record<'account' | 'pair' | 'address', FailureCount>,
  };
}

export async function forgetLoginAttempt(db: Db, attemptId: number): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.id, attemptId));
}

/** After a login that succeeded: the failures of that account from that address are forgiven. */
export async function clearLoginFailures(
  db: Db,
  userId: string,
  clientAddress: string,
): Promise<void> {
  await db
    .delete(loginFailures)
    .where(and(eq(loginFailures.userId, userId), eq(loginFailures.clientAddress, clientAddress)));
}
