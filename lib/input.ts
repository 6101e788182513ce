import { z } from 'zod';
import { badUserInput } from './errors.js';

/**
 * Rules every argument of every subgraph follows, before its own (lengths, shapes). Each
 * subgraph's validation.ts passes its text through `text`, so a new string argument gets them
 * by using it, and Postgres is never what refuses a client's value (an internal error).
 */

/**
 * What a text argument may hold:
 * - `line`: a name, title, username, login or search: no control characters at all;
 * - `lines`: text that may span lines (a description, a bio): tabs and line breaks too;
 * - `secret`: a password, hashed and never stored as text: anything but NUL.
 */
export type TextKind = 'line' | 'lines' | 'secret';

// \p{Cc}: C0 (U+0000–U+001F), DEL and C1 (U+007F–U+009F). Postgres cannot store NUL at all;
// the others are invisible, reorder or rewrite a terminal, and no name or title needs one.
const CONTROL = /\p{Cc}/u;
const CONTROL_BUT_LINE_BREAKS = /[^\P{Cc}\t\n\r]/u;
// scrypt keys HMAC with the password, and HMAC pads short keys with zeros: "pw" and "pw\0"
// would be the same password. Other characters of a password are the user's own business.
const NUL = /\0/;
// A lone surrogate is not Unicode: the database would quietly store U+FFFD instead.
const LONE_SURROGATE = /\p{Cs}/u;

/** `input.displayName` → `displayName`: messages name the field as a person would. */
const nameOf = (field: string) => field.slice(field.lastIndexOf('.') + 1);

/** `value` if it is text of `kind`; otherwise BAD_USER_INPUT naming `field`. */
export function text(value: string, field: string, kind: TextKind = 'line'): string {
  const name = nameOf(field);
  if (kind === 'secret') {
    if (NUL.test(value)) throw badUserInput(`${name} must not contain NUL characters`, field);
    return value;
  }
  if (kind === 'line' && CONTROL.test(value))
    throw badUserInput(`${name} must not contain control characters`, field);
  if (kind === 'lines' && CONTROL_BUT_LINE_BREAKS.test(value)) {
    throw badUserInput(
      `${name} must not contain control characters other than tabs and line breaks`,
      field,
    );
  }
  if (LONE_SURROGATE.test(value)) throw badUserInput(`${name} must be valid Unicode text`, field);
  return value;
}

// zod's ISO patterns check the calendar (month lengths, leap years) and allow years 0000 to
// 9999; Postgres has no year 0, so a cursor or an argument holding one would reach it and fail.
const isoDate = z.iso.date();
const isoTimestamp = z.iso.datetime();
const yearZero = (value: string) => value.startsWith('0000');

/** A real calendar date as YYYY-MM-DD, years 0001 to 9999. */
export const isCalendarDate = (value: string): boolean =>
  isoDate.safeParse(value).success && !yearZero(value);

/** An ISO-8601 timestamp in UTC (`…Z`, as `toISOString` writes it), years 0001 to 9999. */
export const isTimestamp = (value: string): boolean =>
  isoTimestamp.safeParse(value).success && !yearZero(value);
