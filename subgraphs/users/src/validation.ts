import { badUserInput } from '#lib/errors.js';

/** Input rules of the users API; each failure names the offending field. */

const USERNAME = /^[a-z0-9_.-]{3,32}$/;
// Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mail
// server's business; this only refuses what is clearly not an address.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function username(value: string, field = 'input.username'): string {
  if (!USERNAME.test(value)) {
    throw badUserInput('username must be 3 to 32 characters of a-z, 0-9, _ . -', field);
  }
  return value;
}

export function email(value: string, field = 'input.email'): string {
  const normalized = value.trim().toLowerCase();
  if (normalized.length > 254 || !EMAIL.test(normalized))
    throw badUserInput('email is not a valid address', field);
  return normalized;
}

export function password(value: string, field = 'input.password'): string {
  if (value.length < 8 || value.length > 256)
    throw badUserInput('password must be 8 to 256 characters', field);
  return value;
}

export function displayName(value: string, field = 'input.displayName'): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > 100) {
    throw badUserInput('displayName must be 1 to 100 characters', field);
  }
  return trimmed;
}

export function bio(value: string, field = 'input.bio'): string | null {
  if (value.length > 1000) throw badUserInput('bio must be at most 1000 characters', field);
  return value.trim() === '' ? null : value;
}
