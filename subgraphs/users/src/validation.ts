import { badUserInput } from '#lib/errors.js';
import { text } from '#lib/input.js';

/**
 * Input rules of the users API; each failure names the offending field. Text goes through
 * `text` first (#lib/input: no NUL, no control characters where the field is one line).
 */

const USERNAME = /^[a-z0-9_.-]{3,32}$/;
// Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mail
// server's business; this only refuses what is clearly not an address.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SEARCH_MAX = 100;
const PASSWORD_MAX = 256;

/** Whether `value` could be a username: a cursor of `users` holds one, and nothing else. */
export const isUsername = (value: string): boolean => USERNAME.test(value);

export function username(value: string, field = 'input.username'): string {
  if (!isUsername(text(value, field))) {
    throw badUserInput('username must be 3 to 32 characters of a-z, 0-9, _ . -', field);
  }
  return value;
}

export function email(value: string, field = 'input.email'): string {
  const normalized = text(value.trim().toLowerCase(), field);
  if (normalized.length > 254 || !EMAIL.test(normalized))
    throw badUserInput('email is not a valid address', field);
  return normalized;
}

/** A new password, to be hashed and stored. */
export function password(value: string, field = 'input.password'): string {
  if (text(value, field, 'secret').length < 8 || value.length > PASSWORD_MAX)
    throw badUserInput(`password must be 8 to ${PASSWORD_MAX} characters`, field);
  return value;
}

/**
 * A password presented to be checked against the stored hash: NUL is refused as in a new one,
 * since the hash cannot tell it apart, and so is one longer than any password can be, before
 * it costs a hash (scrypt reads all of it: 900 KB took seconds).
 */
export function presentedPassword(value: string, field: string): string {
  if (text(value, field, 'secret').length > PASSWORD_MAX)
    throw badUserInput(`password must be at most ${PASSWORD_MAX} characters`, field);
  return value;
}

/** A username or an email address to log in with. */
export function login(value: string, field = 'input.login'): string {
  return text(value.trim(), field);
}

export function displayName(value: string, field = 'input.displayName'): string {
  const trimmed = text(value.trim(), field);
  if (trimmed.length === 0 || trimmed.length > 100) {
    throw badUserInput('displayName must be 1 to 100 characters', field);
  }
  return trimmed;
}

export function bio(value: string, field = 'input.bio'): string | null {
  if (text(value, field, 'lines').length > 1000)
    throw badUserInput('bio must be at most 1000 characters', field);
  return value.trim() === '' ? null : value;
}

/** Search text of `users`; blank means no search. */
export function search(value: string | null | undefined, field = 'search'): string | null {
  const trimmed = text(value?.trim() ?? '', field);
  if (trimmed.length > SEARCH_MAX)
    throw badUserInput(`search must be at most ${SEARCH_MAX} characters`, field);
  return trimmed === '' ? null : trimmed;
}
