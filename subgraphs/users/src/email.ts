import { eq } from 'drizzle-orm';
import type { Claims } from '#lib/auth/claims.js';
import { badUserInput, rateLimited, unauthenticated } from '#lib/errors.js';
import type { EventHandler } from '#lib/events/bus.js';
import { applyOnce } from '#lib/events/inbox.js';
import type { ConsumerInfo } from '#lib/subgraph/descriptor.js';
import type { NotificationKind } from './__generated__/resolvers-types.js';
import { revokeAccess } from './accounts.js';
import {
  BAD_CODE,
  consumeCode,
  issueCode,
  issueVerificationCode,
  presentedCode,
  resendWait,
} from './codes.js';
import type { UsersDeps } from './context.js';
import * as q from './db/queries.js';
import { users } from './db/schema.js';
import { enqueueMail } from './mail/outbox.js';
import * as valid from './validation.js';

/** The email flows of the users service (README, "Email"): verification, reset, notifications. */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);

export async function requestEmailVerification(deps: UsersDeps, claims: Claims) {
  const userId = requireSignedIn(claims);
  await deps.db.transaction(async tx => {
    const user = await q.userForTokens(tx, userId);
    if (!user) throw unauthenticated('Your account no longer exists');
    if (user.emailVerified) return;
    const wait = await resendWait(tx, userId, 'VERIFY_EMAIL');
    if (wait > 0) throw rateLimited(`A code was sent just now; ask again in ${wait} seconds`, wait);
    await issueVerificationCode(deps, tx, user);
  });
  deps.onOutboxWrite();
  return true;
}

function requireSignedIn(claims: Claims): string {
  if (!claims.userId) throw unauthenticated();
  return claims.userId;
}

export async function verifyEmail(deps: UsersDeps, claims: Claims, code: string) {
  const userId = requireSignedIn(claims);
  presentedCode(code, 'code');
  const verified = await deps.db.transaction(async tx => {
    const user = await q.userForTokens(tx, userId);
    if (!user) throw unauthenticated('Your account no longer exists');
    if (!(await consumeCode(deps, tx, user, 'VERIFY_EMAIL', code))) return null;
    const [after] = await tx
      .update(users)
      .set({ emailVerified: true, updatedAt: new Date() })
      .where(eq(users.id, userId))
      .returning();
    return after ?? null;
  });
  if (!verified) throw badUserInput(BAD_CODE, 'code');
  return verified;
}

export async function requestPasswordReset(deps: UsersDeps, email: string) {
  const address = valid.email(email, 'email');
  const started = Date.now();
  const wrote = await deps.db.transaction(async tx => {
    const user = await q.userByLogin(tx, address);
    if (!user || user.email !== address || !user.emailVerified) return false;
    // Throttled silently: the answer must not tell a known address from an unknown one.
    if ((await resendWait(tx, user.id, 'RESET_PASSWORD')) > 0) return false;
    await issueCode(deps, tx, user, 'RESET_PASSWORD');
    return true;
  });
  if (wrote) deps.onOutboxWrite();
  // The same time either way (mail goes later, through the outbox).
  const floor = 50 - (Date.now() - started);
  if (floor > 0) await new Promise(resolve => setTimeout(resolve, floor));
  return true;
}

export async function resetPassword(
  deps: UsersDeps,
  email: string,
  code: string,
  newPassword: string,
) {
  const address = valid.email(email, 'email');
  presentedCode(code, 'code');
  valid.password(newPassword, 'newPassword');
  const user = await q.userByLogin(deps.db, address);
  if (!user || user.email !== address) throw badUserInput(BAD_CODE, 'code');
  const passwordHash = await deps.passwords.hash(newPassword);
  const done = await deps.db.transaction(async tx => {
    const current = await q.userForTokens(tx, user.id);
    if (!current || !(await consumeCode(deps, tx, current, 'RESET_PASSWORD', code))) return false;
    await tx
      .update(users)
      .set({ passwordHash, updatedAt: new Date() })
      .where(eq(users.id, user.id));
    // Every session ends: refresh tokens here, access tokens at every router.
    await q.revokeAllOfUser(tx, user.id);
    await revokeAccess(deps, tx, user.id, { before: new Date() }, null);
    return true;
  });
  if (!done) throw badUserInput(BAD_CODE, 'code');
  deps.onOutboxWrite();
  return true;
}

export async function updateNotificationSettings(
  deps: UsersDeps,
  claims: Claims,
  input: { emailKinds: readonly NotificationKind[] },
) {
  const userId = requireSignedIn(claims);
  const kinds = [...new Set(input.emailKinds)].sort();
  const [after] = await deps.db
    .update(users)
    .set({ notificationEmailKinds: kinds, updatedAt: new Date() })
    .where(eq(users.id, userId))
    .returning();
  if (!after) throw unauthenticated('Your account no longer exists');
  return { emailKinds: after.notificationEmailKinds as NotificationKind[] };
}

const KIND_WORDS: Record<string, string> = {
  TASK_ASSIGNED: 'A task was assigned to you',
  TASK_UNASSIGNED: 'A task was unassigned from you',
  TASK_UPDATED: 'A task was updated',
  TASK_COMPLETED: 'A task was completed',
  TASK_DELETED: 'A task was deleted',
};

/**
 * `users.notification-mail`: a `notification.created` for a user who chose its kind and has a
 * verified address becomes a mail, once per notification (the mail's id is the notification's,
 * and the event is applied once).
 */
export function notificationMailHandler(deps: UsersDeps, consumer: ConsumerInfo): EventHandler {
  return async event => {
    if (event.type !== 'notification.created') return;
    const { notification } = event.data;
    let wrote = false;
    await applyOnce(deps.db, consumer.queue, event, async tx => {
      const user = await q.mailRecipient(tx, notification.userId);
      if (!user?.emailVerified || !user.notificationEmailKinds.includes(notification.kind)) return;
      const subject = KIND_WORDS[notification.kind] ?? 'A notification';
      const task = notification.taskId ? `\nTask: ${notification.taskId}` : '';
      await enqueueMail(tx, [
        {
          id: `notification-${notification.id}`,
          to: user.email,
          subject,
          text: `${notification.message}${task}\n`,
          html: `<p>${escapeHtml(notification.message)}</p>${
            notification.taskId
              ? `<p>Task: <code>${escapeHtml(notification.taskId)}</code></p>`
              : ''
          }`,
        },
      ]);
      wrote = true;
    });
    if (wrote) deps.onOutboxWrite();
  };
}
