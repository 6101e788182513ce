import { badUserInput } from '#lib/errors.js';
import { isCalendarDate, text } from '#lib/input.js';

/**
 * Input rules of the tasks API; each failure names the offending field. Text goes through
 * `text` first (#lib/input: no NUL, no control characters where the field is one line).
 */

const TITLE_MAX = 200;
const DESCRIPTION_MAX = 10_000;
const SEARCH_MAX = 200;

export function title(value: string | null | undefined, field = 'input.title'): string {
  const trimmed = text(value?.trim() ?? '', field);
  if (trimmed.length === 0 || trimmed.length > TITLE_MAX) {
    throw badUserInput(`title must be 1 to ${TITLE_MAX} characters`, field);
  }
  return trimmed;
}

/** A blank description is no description. */
export function description(
  value: string | null | undefined,
  field = 'input.description',
): string | null {
  if (value == null) return null;
  if (text(value, field, 'lines').length > DESCRIPTION_MAX)
    throw badUserInput(`description must be at most ${DESCRIPTION_MAX} characters`, field);
  return value.trim() === '' ? null : value;
}

/**
 * A real calendar date as YYYY-MM-DD, years 0001 to 9999 (Postgres has no year 0).
 * The `Date` scalar passes strings through and every resolver checks them here, so a
 * malformed date is BAD_USER_INPUT naming its field whether it came inline or as a variable.
 */
export function calendarDate(value: string, field: string): string {
  if (!isCalendarDate(value))
    throw badUserInput(`${field} must be a calendar date as YYYY-MM-DD`, field);
  return value;
}

export function optionalDate(value: string | null | undefined, field: string): string | null {
  return value == null ? null : calendarDate(value, field);
}

/** Case-insensitive search text; blank means no search. */
export function search(value: string | null | undefined, field = 'filter.search'): string | null {
  const trimmed = text(value?.trim() ?? '', field);
  if (trimmed.length > SEARCH_MAX)
    throw badUserInput(`search must be at most ${SEARCH_MAX} characters`, field);
  return trimmed === '' ? null : trimmed;
}
