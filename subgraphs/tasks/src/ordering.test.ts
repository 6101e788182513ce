import { describe, expect, it } from 'vitest';
import { encodeCursor } from '#lib/pagination.js';
import { thrown } from './__fixtures__/errors.js';
import type { TaskRow } from './db/schema.js';
import { decodeTaskCursor, encodeTaskCursor, sortValueOf, type TaskOrdering } from './ordering.js';

const task: TaskRow = {
  id: '0193a7c2-0000-4000-8000-000000000001',
  title: 't',
  description: null,
  status: 'TODO',
  priority: 'HIGH',
  dueDate: '2026-03-01',
  ownerId: '0193a7c2-0000-4000-8000-0000000000aa',
  assigneeId: null,
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
  updatedAt: new Date('2026-01-03T00:00:00.000Z'),
};

const ORDERS: TaskOrdering[] = (
  ['CREATED_AT', 'UPDATED_AT', 'DUE_DATE', 'PRIORITY'] as const
).flatMap(field => (['ASC', 'DESC'] as const).map(direction => ({ field, direction })));

describe('task cursors', () => {
  it('carry the sort value of their ordering and the id', () => {
    expect(sortValueOf(task, 'CREATED_AT')).toBe('2026-01-02T03:04:05.678Z');
    expect(sortValueOf(task, 'UPDATED_AT')).toBe('2026-01-03T00:00:00.000Z');
    expect(sortValueOf(task, 'DUE_DATE')).toBe('2026-03-01');
    expect(sortValueOf({ ...task, dueDate: null }, 'DUE_DATE')).toBeNull();
    expect(sortValueOf(task, 'PRIORITY')).toBe('HIGH');
    for (const order of ORDERS) {
      expect(decodeTaskCursor(encodeTaskCursor(task, order), order)).toEqual({
        value: sortValueOf(task, order.field),
        id: task.id,
      });
    }
    const undated = { ...task, dueDate: null };
    const order: TaskOrdering = { field: 'DUE_DATE', direction: 'ASC' };
    expect(decodeTaskCursor(encodeTaskCursor(undated, order), order)).toEqual({
      value: null,
      id: task.id,
    });
  });

  it('are accepted only by the ordering they were issued for', () => {
    for (const issued of ORDERS) {
      const cursor = encodeTaskCursor(task, issued);
      for (const used of ORDERS) {
        if (used === issued) continue;
        expect(thrown(() => decodeTaskCursor(cursor, used))).toEqual({
          code: 'BAD_USER_INPUT',
          field: 'after',
        });
      }
    }
  });

  it('refuse positions that could not come from a task', () => {
    const order: TaskOrdering = { field: 'PRIORITY', direction: 'ASC' };
    const forged = (position: unknown, o = order) =>
      encodeCursor(`tasks:${o.field}:${o.direction}`, position);
    expect(thrown(() => decodeTaskCursor(forged(['URGENT', task.id]), order))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(thrown(() => decodeTaskCursor(forged(['HIGH', 'not-a-uuid']), order))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(thrown(() => decodeTaskCursor(forged(['HIGH']), order))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(thrown(() => decodeTaskCursor(forged([null, task.id]), order))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    const byDate: TaskOrdering = { field: 'DUE_DATE', direction: 'DESC' };
    expect(thrown(() => decodeTaskCursor(forged(['2026-13-01', task.id], byDate), byDate))).toEqual(
      { code: 'BAD_USER_INPUT', field: 'after' },
    );
    const byTime: TaskOrdering = { field: 'CREATED_AT', direction: 'DESC' };
    expect(thrown(() => decodeTaskCursor(forged(['yesterday', task.id], byTime), byTime))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    // Well-formed, but of a year Postgres has no date for: refused before it reaches Postgres.
    for (const [value, o] of [
      ['0000-01-01', byDate],
      ['0000-01-01T00:00:00.000Z', byTime],
      ['0000-06-15T12:00:00Z', { field: 'UPDATED_AT', direction: 'ASC' }],
    ] as const) {
      expect(
        thrown(() => decodeTaskCursor(forged([value, task.id], o), o)),
        value,
      ).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
    }
    expect(thrown(() => decodeTaskCursor(encodeCursor('users', 'alice'), byTime))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(decodeTaskCursor(null, byTime)).toBeNull();
  });
});
