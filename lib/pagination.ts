import { z } from 'zod';
import { isUuid } from './db.js';
import { badUserInput } from './errors.js';
import { isCalendarDate, isTimestamp } from './input.js';

/** Page size when `first` is not given, and the most one page may hold (docs/architecture.md). */
const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;

/** `first` checked: 0..100, default 20. `field` names the argument in the error. */
export function pageSize(first: number | null | undefined, field = 'first'): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badUserInput(`${field} must be between 0 and ${MAX_PAGE_SIZE}`, field);
  }
  return first;
}

/**
 * Opaque cursors: base64url of a small JSON object with a `k` (kind) tag, so a cursor of
 * one list is refused by another. The position inside is validated against `schema`.
 */
export function encodeCursor(kind: string, position: unknown): string {
  return Buffer.from(JSON.stringify({ k: kind, p: position })).toString('base64url');
}

/**
 * What a position may hold, for `decodeCursor`'s schema. A cursor is the client's to forge,
 * and its values go to Postgres as parameters: each is checked to be one Postgres takes
 * (years 1 to 9999, a uuid), so a forged one is BAD_USER_INPUT, not an internal error.
 */
export const cursorValue = {
  /** An ISO timestamp, as `toISOString` writes it. */
  timestamp: z.string().refine(isTimestamp),
  /** A calendar date, YYYY-MM-DD. */
  date: z.string().refine(isCalendarDate),
  id: z.string().refine(isUuid),
};

export function decodeCursor<T>(
  cursor: string | null | undefined,
  kind: string,
  schema: z.ZodType<T>,
  field = 'after',
): T | null {
  if (cursor === null || cursor === undefined) return null;
  const invalid = () => badUserInput(`${field} is not a cursor issued by this API`, field);
  if (cursor.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = z.object({ k: z.literal(kind), p: schema }).safeParse(json);
  if (!parsed.success) throw invalid();
  return parsed.data.p;
}

/** Connection shape from rows fetched with `limit first + 1`. */
export function connection<TRow, TNode = TRow>(
  rows: readonly TRow[],
  first: number,
  cursorOf: (row: TRow) => string,
  totalCount: number,
  nodeOf: (row: TRow) => TNode = row => row as unknown as TNode,
) {
  const page = rows.slice(0, first);
  const edges = page.map(row => ({ cursor: cursorOf(row), node: nodeOf(row) }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount,
  };
}
