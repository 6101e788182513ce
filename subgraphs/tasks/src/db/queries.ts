import {
  and,
  asc,
  count,
  desc,
  eq,
  getTableColumns,
  gte,
  ilike,
  inArray,
  isNull,
  lt,
  lte,
  or,
  sql,
  type SQL,
  type SQLWrapper,
} from 'drizzle-orm';
import { isUuid, type Executor } from '#lib/db.js';
import type { TaskOrdering, TaskPosition } from '../ordering.js';
import {
  dueKeyOf,
  tasks,
  userStubs,
  type NewTaskRow,
  type schema,
  type TaskPriority,
  type TaskRow,
  type TaskStatus,
  type UserStubRow,
} from './schema.js';

type Db = Executor<typeof schema>;

/** A task filter with its input already checked (dates valid, search trimmed). */
export interface TaskFilterValues {
  status?: readonly TaskStatus[] | null;
  priority?: readonly TaskPriority[] | null;
  ownerId?: string | null;
  assigneeId?: string | null;
  /** Inclusive bounds, YYYY-MM-DD. */
  dueBefore?: string | null;
  dueAfter?: string | null;
  search?: string | null;
}

export interface TaskListOptions {
  /** Only tasks this user owns or is assigned; null for an admin, who sees every task. */
  visibleTo: string | null;
  filter: TaskFilterValues;
  order: TaskOrdering;
  after: TaskPosition | null;
  /** Rows to fetch: the page size plus one, to tell whether there is a next page. */
  limit: number;
}

export interface TaskPage {
  rows: TaskRow[];
  totalCount: number;
}

const dueKey = dueKeyOf(tasks.dueDate);
const NOTHING = sql`false`;

function sortKey(order: TaskOrdering): SQLWrapper {
  switch (order.field) {
    case 'CREATED_AT':
      return tasks.createdAt;
    case 'UPDATED_AT':
      return tasks.updatedAt;
    case 'PRIORITY':
      return tasks.priority;
    case 'DUE_DATE':
      return dueKey;
  }
}

/** The cursor's sort value as SQL of the sort key's type. */
function positionValue(order: TaskOrdering, value: string | null): SQL {
  switch (order.field) {
    case 'CREATED_AT':
    case 'UPDATED_AT':
      return sql`${value}::timestamptz`;
    case 'PRIORITY':
      return sql`${value}::task_priority`;
    case 'DUE_DATE':
      return sql`coalesce(${value}::date, 'infinity'::date)`;
  }
}

/** ORDER BY of an ordering: the sort key, then id, both in its direction (index order). */
function orderByOf(order: TaskOrdering): SQL[] {
  const by = order.direction === 'ASC' ? asc : desc;
  return [by(sortKey(order)), by(tasks.id)];
}

/**
 * Tasks strictly after `position` in `order`: one row comparison on (sort key, id), which a
 * btree index on the same pair answers with a range scan.
 */
function afterPosition(order: TaskOrdering, position: TaskPosition): SQL {
  const op = sql.raw(order.direction === 'ASC' ? '>' : '<');
  return sql`(${sortKey(order)}, ${tasks.id}) ${op} (${positionValue(order, position.value)}, ${position.id}::uuid)`;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, c => `\\${c}`);

function filterConditions(filter: TaskFilterValues): (SQL | undefined)[] {
  const ids = (
    column: typeof tasks.ownerId | typeof tasks.assigneeId,
    id: string | null | undefined,
  ) => (id == null ? undefined : isUuid(id) ? eq(column, id) : NOTHING);
  // An empty list matches nothing (a value must be one of none); null means no condition.
  const oneOf = <T>(values: readonly T[] | null | undefined, condition: (values: T[]) => SQL) =>
    values == null ? undefined : values.length === 0 ? NOTHING : condition([...values]);
  const pattern = filter.search ? `%${escapeLike(filter.search)}%` : null;
  return [
    oneOf(filter.status, values => inArray(tasks.status, values)),
    oneOf(filter.priority, values => inArray(tasks.priority, values)),
    ids(tasks.ownerId, filter.ownerId),
    ids(tasks.assigneeId, filter.assigneeId),
    // On the DUE_DATE sort key, so its index serves ranges too; 'infinity' (no due date) never matches.
    filter.dueBefore ? lte(dueKey, sql`${filter.dueBefore}::date`) : undefined,
    filter.dueAfter
      ? and(gte(dueKey, sql`${filter.dueAfter}::date`), lt(dueKey, sql`'infinity'::date`))
      : undefined,
    pattern ? or(ilike(tasks.title, pattern), ilike(tasks.description, pattern)) : undefined,
  ];
}

function listConditions(options: Pick<TaskListOptions, 'visibleTo' | 'filter'>): SQL | undefined {
  const viewer = options.visibleTo;
  const visible = viewer ? or(eq(tasks.ownerId, viewer), eq(tasks.assigneeId, viewer)) : undefined;
  return and(visible, ...filterConditions(options.filter));
}

/** The statements of a page, apart, so tests can EXPLAIN exactly what runs. */
export function taskListStatements(db: Db, options: TaskListOptions) {
  const where = listConditions(options);
  const page = options.after ? and(where, afterPosition(options.order, options.after)) : where;
  return {
    rows: db
      .select()
      .from(tasks)
      .where(page)
      .orderBy(...orderByOf(options.order))
      .limit(options.limit),
    count: db.select({ n: count() }).from(tasks).where(where),
  };
}

/** One page of tasks and the number of tasks matching, in two statements. */
export async function listTasks(db: Db, options: TaskListOptions): Promise<TaskPage> {
  const statements = taskListStatements(db, options);
  const [rows, [total]] = await Promise.all([statements.rows, statements.count]);
  return { rows, totalCount: total?.n ?? 0 };
}

export type UserRelation = 'owner' | 'assignee';
const relationColumn = (relation: UserRelation) =>
  relation === 'owner' ? tasks.ownerId : tasks.assigneeId;

/** The statements of `listTasksOfUsers`, apart, so tests can EXPLAIN them. */
export function tasksOfUsersStatements(
  db: Db,
  relation: UserRelation,
  userIds: readonly string[],
  options: TaskListOptions,
) {
  const column = relationColumn(relation);
  const where = and(inArray(column, [...userIds]), listConditions(options));
  const page = options.after ? and(where, afterPosition(options.order, options.after)) : where;
  const ranked = db
    .select({
      ...getTableColumns(tasks),
      rank: sql<number>`row_number() over (partition by ${column} order by ${sql.join(orderByOf(options.order), sql`, `)})`.as(
        'rank',
      ),
    })
    .from(tasks)
    .where(page)
    .as('ranked');
  return {
    rows: db.select().from(ranked).where(lte(ranked.rank, options.limit)).orderBy(asc(ranked.rank)),
    counts: db.select({ userId: column, n: count() }).from(tasks).where(where).groupBy(column),
  };
}

/**
 * The same page of tasks for many users at once (their own or their assigned tasks): one
 * window-function statement for the rows and one for the counts, however many users.
 */
export async function listTasksOfUsers(
  db: Db,
  relation: UserRelation,
  userIds: readonly string[],
  options: TaskListOptions,
): Promise<Map<string, TaskPage>> {
  const pages = new Map<string, TaskPage>(userIds.map(id => [id, { rows: [], totalCount: 0 }]));
  const valid = userIds.filter(isUuid);
  if (valid.length === 0) return pages;
  const statements = tasksOfUsersStatements(db, relation, valid, options);
  const [ranked, counts] = await Promise.all([statements.rows, statements.counts]);
  for (const { rank: _rank, ...row } of ranked) {
    const userId = relation === 'owner' ? row.ownerId : row.assigneeId;
    if (userId) pages.get(userId)?.rows.push(row);
  }
  for (const { userId, n } of counts) {
    const page = userId ? pages.get(userId) : undefined;
    if (page) page.totalCount = n;
  }
  return pages;
}

export async function tasksByIds(db: Db, ids: readonly string[]): Promise<TaskRow[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  return db.select().from(tasks).where(inArray(tasks.id, valid));
}

/** The task, locked until the transaction ends, so concurrent changes apply one after the other. */
export async function taskForUpdate(tx: Db, id: string): Promise<TaskRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await tx.select().from(tasks).where(eq(tasks.id, id)).for('update');
  return row;
}

export async function insertTask(tx: Db, values: NewTaskRow): Promise<TaskRow> {
  const [row] = await tx.insert(tasks).values(values).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

/** Applies `set` and stamps `updatedAt` with the database clock, like `createdAt`. */
export async function updateTask(tx: Db, id: string, set: Partial<NewTaskRow>): Promise<TaskRow> {
  const [row] = await tx
    .update(tasks)
    .set({ ...set, updatedAt: sql`now()` })
    .where(eq(tasks.id, id))
    .returning();
  if (!row) throw new Error('update returned no row');
  return row;
}

export async function deleteTask(tx: Db, id: string): Promise<void> {
  await tx.delete(tasks).where(eq(tasks.id, id));
}

/** Deletes every task `userId` owns and returns them as they were. */
export async function deleteTasksOwnedBy(tx: Db, userId: string): Promise<TaskRow[]> {
  return tx.delete(tasks).where(eq(tasks.ownerId, userId)).returning();
}

/** Unassigns every task assigned to `userId` and returns them as they are now. */
export async function unassignTasksOf(tx: Db, userId: string): Promise<TaskRow[]> {
  return tx
    .update(tasks)
    .set({ assigneeId: null, updatedAt: sql`now()` })
    .where(eq(tasks.assigneeId, userId))
    .returning();
}

// ------------------------------------------------------------------ user stubs

export async function stubsByIds(db: Db, ids: readonly string[]): Promise<UserStubRow[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  return db.select().from(userStubs).where(inArray(userStubs.id, valid));
}

/**
 * The stub, share-locked until the transaction ends: a `user.deleted` being applied
 * meanwhile waits for this transaction, then sees (and cleans up) what it wrote.
 */
export async function stubForShare(tx: Db, id: string): Promise<UserStubRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await tx.select().from(userStubs).where(eq(userStubs.id, id)).for('share');
  return row;
}

/** Creates or refreshes a stub, unless it is a tombstone or already holds newer data. */
export async function upsertStub(
  tx: Db,
  stub: {
    id: string;
    username: string;
    displayName: string;
    role: 'USER' | 'ADMIN';
    syncedAt: Date;
  },
): Promise<void> {
  await tx
    .insert(userStubs)
    .values(stub)
    .onConflictDoUpdate({
      target: userStubs.id,
      set: {
        username: sql`excluded.username`,
        displayName: sql`excluded.display_name`,
        role: sql`excluded.role`,
        syncedAt: sql`excluded.synced_at`,
      },
      setWhere: and(isNull(userStubs.deletedAt), lte(userStubs.syncedAt, sql`excluded.synced_at`)),
    });
}

/** Marks the user deleted for good (a tombstone, even for a user never seen before). */
export async function tombstoneStub(tx: Db, id: string, at: Date): Promise<void> {
  await tx
    .insert(userStubs)
    .values({ id, syncedAt: at, deletedAt: at })
    .onConflictDoUpdate({
      target: userStubs.id,
      set: { deletedAt: sql`coalesce(${userStubs.deletedAt}, excluded.deleted_at)` },
    });
}
