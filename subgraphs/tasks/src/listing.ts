import { badUserInput } from '#lib/errors.js';
import { connection, pageSize } from '#lib/pagination.js';
import type { TaskFilter, TaskOrder } from './__generated__/resolvers-types.js';
import type { TaskFilterValues, TaskListOptions, TaskPage } from './db/queries.js';
import {
  decodeTaskCursor,
  DEFAULT_ORDERING,
  encodeTaskCursor,
  type TaskOrdering,
  type TaskPosition,
} from './ordering.js';
import * as valid from './validation.js';

/** The arguments every task list takes: `Query.tasks`, `User.tasks`, `User.assignedTasks`. */
export interface TaskListArgs {
  filter?: TaskFilter | null;
  orderBy?: TaskOrder | null;
  first?: number | null;
  after?: string | null;
}

/** A task list request with every argument checked. */
export interface TaskListRequest {
  filter: TaskFilterValues;
  order: TaskOrdering;
  first: number;
  after: TaskPosition | null;
}

function taskFilter(filter: TaskFilter | null | undefined): TaskFilterValues {
  if (!filter) return {};
  const dueBefore = valid.optionalDate(filter.dueBefore, 'filter.dueBefore');
  const dueAfter = valid.optionalDate(filter.dueAfter, 'filter.dueAfter');
  // Same-format dates compare as strings.
  if (dueBefore && dueAfter && dueBefore < dueAfter) {
    throw badUserInput('filter.dueBefore must not be before filter.dueAfter', 'filter.dueBefore');
  }
  return {
    status: filter.status ?? null,
    priority: filter.priority ?? null,
    ownerId: filter.ownerId ?? null,
    assigneeId: filter.assigneeId ?? null,
    dueBefore,
    dueAfter,
    search: valid.search(filter.search),
  };
}

/** Checks the arguments of a task list: BAD_USER_INPUT naming the first one that is wrong. */
export function parseListArgs(args: TaskListArgs): TaskListRequest {
  const first = pageSize(args.first);
  const filter = taskFilter(args.filter);
  const order = args.orderBy
    ? { field: args.orderBy.field, direction: args.orderBy.direction }
    : DEFAULT_ORDERING;
  return { filter, order, first, after: decodeTaskCursor(args.after, order) };
}

/** Equal for equal requests: loaders batch the same page of many users together. */
export const requestKey = (request: TaskListRequest): string => JSON.stringify(request);

export const listOptions = (
  request: TaskListRequest,
  visibleTo: string | null,
): TaskListOptions => ({
  visibleTo,
  filter: request.filter,
  order: request.order,
  after: request.after,
  limit: request.first + 1,
});

export const taskConnection = (page: TaskPage, request: TaskListRequest) =>
  connection(
    page.rows,
    request.first,
    task => encodeTaskCursor(task, request.order),
    page.totalCount,
  );
