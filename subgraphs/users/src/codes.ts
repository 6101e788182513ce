import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '#lib/db.js';
import { badUserInput } from '#lib/errors.js';
import type { UsersDeps } from './context.js';
import { emailCodes, type schema, type UserRow } from './db/schema.js';
import { enqueueMail, type Mail } from './mail/outbox.js';

/**
 * One-time codes mailed to a user's address: to verify it, or to reset the password. Stored
 * only as an HMAC, compared in constant time, dead after CODE_TTL_MS or MAX_CODE_FAILURES.
 */
type Db = Executor<typeof schema>;
export type Purpose = 'VERIFY_EMAIL' | 'RESET_PASSWORD';

/** A code lives this long (README, "Email"). */
export const CODE_TTL_MS = 10 * 60_000;
/** Wrong tries that kill a code. */
export const MAX_CODE_FAILURES = 5;
/** A new code of the same purpose is mailed at most this often. */
export const RESEND_INTERVAL_MS = 60_000;

export const BAD_CODE = 'The code is wrong or expired; ask for a new one';
const CODE_FORMAT = /^[0-9]{6}$/;

/** The code's HMAC under the JWT secret, bound to its user and purpose: only this is stored. */
function codeHash(deps: UsersDeps, userId: string, purpose: Purpose, code: string): string {
  return createHmac('sha256', deps.jwt.secret)
    .update(`${purpose}:${userId}:${code}`)
    .digest('base64url');
}

function codeMail(purpose: Purpose, to: string, code: string): Mail {
  const what =
    purpose === 'VERIFY_EMAIL'
      ? { subject: 'Your verification code', line: 'Your code to verify this email address is' }
      : { subject: 'Your password reset code', line: 'Your code to reset your password is' };
  const text = `${what.line} ${code}.\n\nIt works for 10 minutes. If you did not ask for it, ignore this message.\n`;
  const html = `<p>${what.line} <strong>${code}</strong>.</p><p>It works for 10 minutes. If you did not ask for it, ignore this message.</p>`;
  return { id: `code-${randomUUID()}`, to, subject: what.subject, text, html };
}

/**
 * Makes a fresh code of `purpose` for `user` (the previous one dies) and writes its mail, in
 * `tx`. The code itself exists only in the mail.
 */
export async function issueCode(deps: UsersDeps, tx: Db, user: UserRow, purpose: Purpose) {
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const row = {
    userId: user.id,
    purpose,
    email: user.email,
    codeHash: codeHash(deps, user.id, purpose, code),
    failures: 0,
    expiresAt: new Date(Date.now() + CODE_TTL_MS),
    sentAt: new Date(),
  };
  await tx
    .insert(emailCodes)
    .values(row)
    .onConflictDoUpdate({ target: [emailCodes.userId, emailCodes.purpose], set: row });
  await enqueueMail(tx, [codeMail(purpose, user.email, code)]);
}

/** After register and an email change: a verification code to the (new) address. */
export const issueVerificationCode = (deps: UsersDeps, tx: Db, user: UserRow) =>
  issueCode(deps, tx, user, 'VERIFY_EMAIL');

/** Seconds until another code of `purpose` may be mailed to the user; 0 when now. */
export async function resendWait(tx: Db, userId: string, purpose: Purpose): Promise<number> {
  const [row] = await tx
    .select({ sentAt: emailCodes.sentAt })
    .from(emailCodes)
    .where(and(eq(emailCodes.userId, userId), eq(emailCodes.purpose, purpose)))
    .for('update');
  if (!row) return 0;
  const left = row.sentAt.getTime() + RESEND_INTERVAL_MS - Date.now();
  return left > 0 ? Math.ceil(left / 1000) : 0;
}

export function presentedCode(code: string, field: string): string {
  if (!CODE_FORMAT.test(code)) throw badUserInput('A code is 6 digits', field);
  return code;
}

/**
 * Checks `code` against the user's live code of `purpose`, in `tx`, which must commit either
 * way: a wrong try counts. True when right (the code is then used up).
 */
export async function consumeCode(
  deps: UsersDeps,
  tx: Db,
  user: UserRow,
  purpose: Purpose,
  code: string,
): Promise<boolean> {
  const [row] = await tx
    .select()
    .from(emailCodes)
    .where(and(eq(emailCodes.userId, user.id), eq(emailCodes.purpose, purpose)))
    .for('update');
  const presented = Buffer.from(codeHash(deps, user.id, purpose, code));
  // Compared (in constant time) even without a live code, so timing tells nothing.
  const stored = Buffer.from(row?.codeHash ?? codeHash(deps, user.id, purpose, 'xxxxxx'));
  const matches = timingSafeEqual(presented, stored);
  const live =
    row !== undefined &&
    row.failures < MAX_CODE_FAILURES &&
    row.expiresAt.getTime() > Date.now() &&
    row.email === user.email;
  if (!live) return false;
  if (!matches) {
    await tx
      .update(emailCodes)
      .set({ failures: sql`${emailCodes.failures} + 1` })
      .where(and(eq(emailCodes.userId, user.id), eq(emailCodes.purpose, purpose)));
    return false;
  }
  await tx
    .delete(emailCodes)
    .where(and(eq(emailCodes.userId, user.id), eq(emailCodes.purpose, purpose)));
  return true;
}
