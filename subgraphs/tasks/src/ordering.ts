import { z } from 'zod';
import { cursorValue, decodeCursor, encodeCursor } from '#lib/pagination.js';
import type { TaskRow } from './db/schema.js';

export type TaskOrderField = 'CREATED_AT' | 'UPDATED_AT' | 'DUE_DATE' | 'PRIORITY';
export type OrderDirection = 'ASC' | 'DESC';

/** How a task list is ordered; ties are always broken by id in the same direction. */
export interface TaskOrdering {
  field: TaskOrderField;
  direction: OrderDirection;
}

export const DEFAULT_ORDERING: TaskOrdering = { field: 'CREATED_AT', direction: 'DESC' };

/**
 * Where a page starts: the sort key of the last task seen and its id. The value is an ISO
 * timestamp (CREATED_AT, UPDATED_AT), a YYYY-MM-DD date or null (DUE_DATE), or a priority.
 */
export interface TaskPosition {
  value: string | null;
  id: string;
}

/** The sort key of a task under `field`, as a cursor carries it. */
export function sortValueOf(
  task: Pick<TaskRow, 'createdAt' | 'updatedAt' | 'dueDate' | 'priority'>,
  field: TaskOrderField,
): string | null {
  switch (field) {
    case 'CREATED_AT':
      return task.createdAt.toISOString();
    case 'UPDATED_AT':
      return task.updatedAt.toISOString();
    case 'DUE_DATE':
      return task.dueDate;
    case 'PRIORITY':
      return task.priority;
  }
}

const valueSchemas: Record<TaskOrderField, z.ZodType<string | null>> = {
  CREATED_AT: cursorValue.timestamp,
  UPDATED_AT: cursorValue.timestamp,
  DUE_DATE: cursorValue.date.nullable(),
  PRIORITY: z.enum(['LOW', 'MEDIUM', 'HIGH']),
};

/**
 * The cursor kind names the ordering, so a cursor is accepted only by a list in the same
 * order it was issued for: a position in one ordering means nothing in another.
 */
const cursorKind = (order: TaskOrdering) => `tasks:${order.field}:${order.direction}`;

export function encodeTaskCursor(task: TaskRow, order: TaskOrdering): string {
  return encodeCursor(cursorKind(order), [sortValueOf(task, order.field), task.id]);
}

export function decodeTaskCursor(
  after: string | null | undefined,
  order: TaskOrdering,
  field = 'after',
): TaskPosition | null {
  const position = decodeCursor(
    after,
    cursorKind(order),
    z.tuple([valueSchemas[order.field], cursorValue.id]),
    field,
  );
  return position && { value: position[0], id: position[1] };
}
