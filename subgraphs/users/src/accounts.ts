import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Claims } from '#lib/auth/claims.js';
import { issueAccessToken } from '#lib/auth/jwt.js';
import { uniqueViolation, type Executor } from '#lib/db.js';
import {
  badUserInput,
  conflict,
  forbidden,
  notFound,
  rateLimited,
  unauthenticated,
} from '#lib/errors.js';
import { enqueueEvents } from '#lib/events/outbox.js';
import { issueVerificationCode } from './codes.js';
import type { UsersDeps } from './context.js';
import * as q from './db/queries.js';
import { users, type schema, type UserRow } from './db/schema.js';
import {
  sessionRevoked,
  sessionsRevoked,
  userCreated,
  userDeleted,
  userUpdated,
} from './events.js';
import { asAuthenticatedSelf, type UserModel } from './models.js';
import * as valid from './validation.js';

/**
 * Failed logins allowed within the window (README, "Limits"), each limit counting the attempt
 * in progress: of one account from one address (a guesser is slowed down, and the owner
 * elsewhere is not locked out by them); of one account from everywhere (brute force from many
 * addresses stays slow, at the price that so many addresses can lock the owner out); of one
 * address whatever the account (password spraying across accounts).
 */
const MAX_FAILED_LOGINS = { pair: 5, account: 50, address: 30 } as const;
const FAILED_LOGIN_WINDOW_MS = 15 * 60 * 1000;

const BAD_CREDENTIALS = 'Invalid login or password';
const BAD_REFRESH_TOKEN = 'Invalid or expired refresh token';

type Db = Executor<typeof schema>;

export interface AuthResult {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: UserModel;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

/** The signed-in user's id, or UNAUTHENTICATED. */
export function requireUser(claims: Claims): string {
  if (!claims.userId) throw unauthenticated();
  return claims.userId;
}

/**
 * Ends access tokens at every router: `{ sessionId }` those of one session, `{ before }` every
 * one of the user issued before then. Written in `tx`, with the change that causes it: the
 * event through the outbox for the routers running, the row for those that start later.
 */
export async function revokeAccess(
  deps: UsersDeps,
  tx: Db,
  userId: string,
  what: { sessionId: string } | { before: Date },
  actorId: string | null,
): Promise<void> {
  const sessionId = 'sessionId' in what ? what.sessionId : null;
  const before = 'before' in what ? what.before : null;
  await enqueueEvents(tx, [
    sessionId === null
      ? sessionsRevoked(userId, before!, actorId)
      : sessionRevoked(userId, sessionId, actorId),
  ]);
  const keepSince = new Date(Date.now() - deps.jwt.accessTokenTtl * 1000);
  await q.recordRevocation(tx, { userId, sessionId, before }, keepSince);
}

/** The revocations routers must still apply: those of the last ACCESS_TOKEN_TTL. */
export async function recentRevocations(deps: UsersDeps) {
  return q.revocationsSince(deps.db, new Date(Date.now() - deps.jwt.accessTokenTtl * 1000));
}

/** Creates a refresh token of `familyId` (a new family when omitted) and an access token. */
async function issueTokens(
  deps: UsersDeps,
  tx: Db,
  user: UserRow,
  familyId: string = randomUUID(),
): Promise<AuthResult> {
  const refreshToken = randomBytes(32).toString('base64url');
  await q.insertRefreshToken(tx, {
    userId: user.id,
    familyId,
    tokenHash: hashToken(refreshToken),
    expiresAt: new Date(Date.now() + deps.refreshTokenTtl * 1000),
  });
  const access = issueAccessToken(user, familyId, deps.jwt);
  return {
    accessToken: access.token,
    refreshToken,
    expiresIn: access.expiresIn,
    user: asAuthenticatedSelf(user),
  };
}

function conflictFor(err: unknown): never {
  const constraint = uniqueViolation(err);
  if (constraint === 'users_username_key') throw conflict('username is taken', 'input.username');
  if (constraint === 'users_email_key')
    throw conflict('email is already registered', 'input.email');
  throw err;
}

export async function register(
  deps: UsersDeps,
  input: { username: string; email: string; password: string; displayName?: string | null },
): Promise<AuthResult> {
  const username = valid.username(input.username);
  const email = valid.email(input.email);
  valid.password(input.password);
  const displayName = input.displayName == null ? username : valid.displayName(input.displayName);
  const passwordHash = await deps.passwords.hash(input.password);
  const result = await deps.db
    .transaction(async tx => {
      // The first user ever becomes ADMIN: decided under a lock so two first
      // registrations cannot both see an empty table.
      let role: 'USER' | 'ADMIN' = 'USER';
      if (!(await q.anyUserExists(tx))) {
        await q.lockAdminSet(tx);
        if (!(await q.anyUserExists(tx))) role = 'ADMIN';
      }
      const [user] = await tx
        .insert(users)
        .values({ username, email, displayName, role, passwordHash })
        .returning();
      if (!user) throw new Error('insert returned no row');
      await enqueueEvents(tx, [userCreated(user, user.id)]);
      await issueVerificationCode(deps, tx, user);
      return issueTokens(deps, tx, user);
    })
    .catch(conflictFor);
  deps.onOutboxWrite();
  return result;
}

export async function login(
  deps: UsersDeps,
  input: { login: string; password: string },
  clientAddress: string | null,
): Promise<AuthResult> {
  const login = valid.login(input.login);
  valid.presentedPassword(input.password, 'input.password');
  const user = await q.userByLogin(deps.db, login);
  // The attempt is recorded before the password is checked, so concurrent guesses on
  // several replicas are all counted; a successful login forgets it. A login naming no
  // account is counted as one that does (by its digest), so the limits do not tell them apart.
  const now = Date.now();
  const address = clientAddress ?? '';
  const { attemptId, counts } = await q.recordLoginAttempt(
    deps.db,
    {
      userId: user?.id ?? null,
      unknownLogin: user ? null : hashToken(login.toLowerCase()),
      clientAddress: address,
    },
    new Date(now - FAILED_LOGIN_WINDOW_MS),
  );
  const over = (['pair', 'account', 'address'] as const).find(
    limit => counts[limit].count > MAX_FAILED_LOGINS[limit],
  );
  if (over) {
    await q.forgetLoginAttempt(deps.db, attemptId);
    const oldest = counts[over].oldest?.getTime() ?? now;
    const retryAfter = Math.max(1, Math.ceil((oldest + FAILED_LOGIN_WINDOW_MS - now) / 1000));
    throw rateLimited(`Too many failed logins; try again in ${retryAfter} seconds`, retryAfter);
  }
  // An unknown login costs a hash too, so it takes as long as a wrong password.
  const verified = await (
    user
      ? deps.passwords.verify(input.password, user.passwordHash)
      : deps.passwords.verifyAgainstDecoy(input.password)
  ).catch(async (err: unknown) => {
    // Refused for being busy (RATE_LIMITED): no password was checked, nothing to count.
    await q.forgetLoginAttempt(deps.db, attemptId);
    throw err;
  });
  if (!user || !verified) throw unauthenticated(BAD_CREDENTIALS);
  return deps.db.transaction(async tx => {
    // Locked, and still the password just verified: a password change that committed while
    // it was being checked wins (the old password no longer logs in).
    const current = await q.userForTokens(tx, user.id);
    if (current?.passwordHash !== user.passwordHash) throw unauthenticated(BAD_CREDENTIALS);
    await q.clearLoginFailures(tx, user.id, address);
    return issueTokens(deps, tx, current);
  });
}

// Refresh tokens reach the database only as their digest: whatever a client sends (a NUL
// included) is at worst a token that matches none, answered as any invalid token.
export async function refresh(deps: UsersDeps, refreshToken: string): Promise<AuthResult> {
  const token = await q.refreshTokenByHash(deps.db, hashToken(refreshToken));
  if (!token || token.expiresAt.getTime() <= Date.now()) throw unauthenticated(BAD_REFRESH_TOKEN);
  const outcome = await deps.db.transaction(async tx => {
    if (!(await q.consumeRefreshToken(tx, token.id))) return null;
    // The role as it is now, locked against a change committing meanwhile (userForTokens).
    const user = await q.userForTokens(tx, token.userId);
    if (!user) return null;
    return issueTokens(deps, tx, user, token.familyId);
  });
  if (!outcome) {
    // A rotated token came back: someone holds a copy. End every session of the family,
    // and the access tokens it was issued, at every router.
    await deps.db.transaction(async tx => {
      if ((await q.revokeFamily(tx, token.familyId)) === 0) return;
      await revokeAccess(deps, tx, token.userId, { sessionId: token.familyId }, null);
    });
    deps.onOutboxWrite();
    throw unauthenticated(BAD_REFRESH_TOKEN);
  }
  return outcome;
}

export async function logout(
  deps: UsersDeps,
  claims: Claims,
  refreshToken: string,
): Promise<boolean> {
  const userId = requireUser(claims);
  const token = await q.refreshTokenByHash(deps.db, hashToken(refreshToken));
  if (!token || token.userId !== userId || token.revokedAt) return false;
  const ended = await deps.db.transaction(async tx => {
    if ((await q.revokeFamily(tx, token.familyId)) === 0) return false;
    // The session's access tokens end with it, at every router; the user's others live on.
    await revokeAccess(deps, tx, userId, { sessionId: token.familyId }, userId);
    return true;
  });
  if (ended) deps.onOutboxWrite();
  return ended;
}

export async function updateProfile(
  deps: UsersDeps,
  claims: Claims,
  input: { displayName?: string | null; bio?: string | null; email?: string | null },
): Promise<UserRow> {
  const userId = requireUser(claims);
  const changes: Partial<Pick<UserRow, 'displayName' | 'bio' | 'email'>> = {};
  if (input.displayName !== undefined) {
    if (input.displayName === null)
      throw badUserInput('displayName cannot be null', 'input.displayName');
    changes.displayName = valid.displayName(input.displayName);
  }
  if (input.email !== undefined) {
    if (input.email === null) throw badUserInput('email cannot be null', 'input.email');
    changes.email = valid.email(input.email);
  }
  if (input.bio !== undefined) changes.bio = input.bio === null ? null : valid.bio(input.bio);
  const user = await deps.db
    .transaction(async tx => {
      const [before] = await q.usersByIds(tx, [userId]);
      if (!before) throw unauthenticated('Your account no longer exists');
      if (Object.keys(changes).length === 0) return before;
      // A new address is unverified until its code comes back.
      const emailChanged = changes.email !== undefined && changes.email !== before.email;
      const [after] = await tx
        .update(users)
        .set({
          ...changes,
          ...(emailChanged ? { emailVerified: false } : {}),
          updatedAt: new Date(),
        })
        .where(eq(users.id, userId))
        .returning();
      if (!after) throw new Error('update returned no row');
      if (emailChanged) await issueVerificationCode(deps, tx, after);
      // Only the public fields travel on the bus; an email or bio change is nobody else's business.
      if (after.displayName !== before.displayName)
        await enqueueEvents(tx, [userUpdated(after, userId)]);
      return after;
    })
    .catch(conflictFor);
  deps.onOutboxWrite();
  return user;
}

export async function changePassword(
  deps: UsersDeps,
  claims: Claims,
  currentPassword: string,
  newPassword: string,
): Promise<boolean> {
  const userId = requireUser(claims);
  valid.presentedPassword(currentPassword, 'currentPassword');
  valid.password(newPassword, 'newPassword');
  const [user] = await q.usersByIds(deps.db, [userId]);
  if (!user) throw unauthenticated('Your account no longer exists');
  if (!(await deps.passwords.verify(currentPassword, user.passwordHash))) {
    throw badUserInput('currentPassword is wrong', 'currentPassword');
  }
  const passwordHash = await deps.passwords.hash(newPassword);
  await deps.db.transaction(async tx => {
    const changed = await tx
      .update(users)
      .set({ passwordHash, updatedAt: new Date() })
      .where(and(eq(users.id, userId), eq(users.passwordHash, user.passwordHash)))
      .returning({ id: users.id });
    // Changed meanwhile by another request: the current password checked above is not current.
    if (changed.length === 0) throw badUserInput('currentPassword is wrong', 'currentPassword');
    // Whoever knew the old password may hold a session: end every other one, and every access
    // token issued until now (the viewer's own too: their refresh token gets them a new one).
    await q.revokeAllOfUser(tx, userId, claims.sessionId);
    await revokeAccess(deps, tx, userId, { before: new Date() }, userId);
  });
  deps.onOutboxWrite();
  return true;
}

export async function deleteAccount(
  deps: UsersDeps,
  claims: Claims,
  password: string,
): Promise<boolean> {
  const userId = requireUser(claims);
  valid.presentedPassword(password, 'password');
  const [user] = await q.usersByIds(deps.db, [userId]);
  if (!user) throw unauthenticated('Your account no longer exists');
  if (!(await deps.passwords.verify(password, user.passwordHash)))
    throw badUserInput('password is wrong', 'password');
  await deps.db.transaction(async tx => {
    await q.lockAdminSet(tx);
    if (user.role === 'ADMIN' && (await q.countAdmins(tx)) === 1 && (await q.countUsers(tx)) > 1) {
      throw conflict('The last admin cannot delete their account; make another user ADMIN first');
    }
    await tx.delete(users).where(eq(users.id, userId));
    await enqueueEvents(tx, [userDeleted(userId, userId)]);
    await revokeAccess(deps, tx, userId, { before: new Date() }, userId);
  });
  deps.onOutboxWrite();
  return true;
}

/** The viewer's row if they are an admin now (the database, not only the token, says so). */
export async function requireAdmin(deps: UsersDeps, claims: Claims): Promise<UserRow> {
  const userId = requireUser(claims);
  const [viewer] = await q.usersByIds(deps.db, [userId]);
  if (!viewer || viewer.role !== 'ADMIN') throw forbidden('Only admins may do this');
  return viewer;
}

export async function setUserRole(
  deps: UsersDeps,
  claims: Claims,
  targetId: string,
  role: 'USER' | 'ADMIN',
): Promise<UserRow> {
  const viewer = await requireAdmin(deps, claims);
  const user = await deps.db.transaction(async tx => {
    await q.lockAdminSet(tx);
    const [target] = await q.usersByIds(tx, [targetId]);
    if (!target) throw notFound('No such user');
    if (target.role === role) return target;
    if (target.role === 'ADMIN' && (await q.countAdmins(tx)) === 1) {
      throw conflict('The last admin cannot be demoted');
    }
    const [after] = await tx
      .update(users)
      .set({ role, updatedAt: new Date() })
      .where(eq(users.id, targetId))
      .returning();
    if (!after) throw new Error('update returned no row');
    await enqueueEvents(tx, [userUpdated(after, viewer.id)]);
    // Tokens carrying the old role end now; a refresh (the row is locked until commit, see
    // userForTokens) gets one with the new role.
    await revokeAccess(deps, tx, targetId, { before: new Date() }, viewer.id);
    return after;
  });
  deps.onOutboxWrite();
  return user;
}
