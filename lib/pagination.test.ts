import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connection, decodeCursor, encodeCursor, pageSize } from './pagination.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof GraphQLError ? [err.extensions.code, err.extensions.field] : err;
  }
  return 'no error';
};

describe('pagination', () => {
  it('defaults first to 20, allows 0..100 and names the argument otherwise', () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(null)).toBe(20);
    expect(pageSize(0)).toBe(0);
    expect(pageSize(100)).toBe(100);
    expect(codeOf(() => pageSize(101))).toEqual(['BAD_USER_INPUT', 'first']);
    expect(codeOf(() => pageSize(-1))).toEqual(['BAD_USER_INPUT', 'first']);
  });

  it('decodes its own cursors and refuses anyone else’s', () => {
    const cursor = encodeCursor('users', 'alice');
    expect(decodeCursor(cursor, 'users', z.string())).toBe('alice');
    expect(decodeCursor(null, 'users', z.string())).toBeNull();
    expect(codeOf(() => decodeCursor(cursor, 'tasks', z.string()))).toEqual([
      'BAD_USER_INPUT',
      'after',
    ]);
    expect(codeOf(() => decodeCursor('bm90IGpzb24', 'users', z.string()))).toEqual([
      'BAD_USER_INPUT',
      'after',
    ]);
    expect(codeOf(() => decodeCursor('!!', 'users', z.string()))).toEqual([
      'BAD_USER_INPUT',
      'after',
    ]);
    expect(codeOf(() => decodeCursor(encodeCursor('users', 42), 'users', z.string()))).toEqual([
      'BAD_USER_INPUT',
      'after',
    ]);
  });

  it('builds a connection from first + 1 rows', () => {
    const rows = ['a', 'b', 'c'];
    const page = connection(rows, 2, r => `c-${r}`, 10);
    expect(page.edges.map(e => e.node)).toEqual(['a', 'b']);
    expect(page.pageInfo).toEqual({ hasNextPage: true, endCursor: 'c-b' });
    expect(connection([], 2, (r: string) => r, 0).pageInfo).toEqual({
      hasNextPage: false,
      endCursor: null,
    });
  });
});
