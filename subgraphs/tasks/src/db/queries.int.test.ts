import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '#lib/db.js';
import { openTasksDb, type OpenedTasksDb } from '../__fixtures__/db.js';
import { listOptions, parseListArgs, type TaskListArgs } from '../listing.js';
import { encodeTaskCursor, type TaskOrdering } from '../ordering.js';
import { taskListStatements, tasksOfUsersStatements } from './queries.js';
import { tasks, type TaskRow } from './schema.js';

/**
 * Every ordering and the usual filters are index scans, checked with EXPLAIN on 20,000
 * ANALYZE'd tasks of 500 users (no planner settings forced). Not covered by an index on
 * purpose: `search` (ILIKE '%…%' would need pg_trgm, which PGlite lacks by default) and the
 * admin's unfiltered totalCount (a count of the whole table).
 */

const TASKS = 20_000;
const USERS = 500;
const user = (n: number) => sql`md5('user' || ${sql.raw(String(n))})::uuid`;

let opened: OpenedTasksDb;
let client: postgres.Sql;

beforeAll(async () => {
  opened = await openTasksDb('postgres');
  client = postgres(opened.url!, { max: 1, onnotice: () => {} });
  await opened.db.execute(sql`
    insert into tasks (title, description, status, priority, due_date, owner_id, assignee_id, created_at, updated_at)
    select 'task ' || g,
           case when g % 3 = 0 then 'about ' || g end,
           (array['TODO', 'IN_PROGRESS', 'DONE'])[1 + g % 3]::task_status,
           (array['LOW', 'MEDIUM', 'HIGH'])[1 + (g / 3) % 3]::task_priority,
           case when g % 5 <> 0 then date '2026-01-01' + g % 730 end,
           md5('user' || g % ${sql.raw(String(USERS))})::uuid,
           case when g % 10 >= 3 then md5('user' || (g * 7) % ${sql.raw(String(USERS))})::uuid end,
           timestamptz '2025-01-01' + g * interval '1 minute',
           timestamptz '2025-01-01' + g * interval '1 minute' + (g % 100) * interval '1 hour'
    from generate_series(1, ${sql.raw(String(TASKS))}) as g`);
  await opened.db.execute(sql`analyze tasks`);
}, 60_000);
afterAll(async () => {
  await client?.end();
  await opened?.close();
});

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** Node types and index names of the plan of a Drizzle query, e.g. `Index Scan tasks_created_idx`. */
async function plan(query: { toSQL(): { sql: string; params: unknown[] } }): Promise<string[]> {
  const { sql: text, params } = query.toSQL();
  const [row] = await client.unsafe(
    `explain (format json) ${text}`,
    params as postgres.ParameterOrJSON<never>[],
  );
  const nodes: string[] = [];
  const walk = (node: PlanNode) => {
    nodes.push(
      [node['Node Type'], node['Index Name'] ?? node['Relation Name']].filter(Boolean).join(' '),
    );
    node.Plans?.forEach(walk);
  };
  walk((row!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan);
  return nodes;
}

const someTask = async (): Promise<TaskRow> => {
  const [row] = await opened.db
    .select()
    .from(tasks)
    .where(sql`${tasks.title} = 'task 12345'`);
  return row!;
};
const [admin, viewer] = [null, 42];
const userId = async (n: number) =>
  (await queryRows<{ id: string }>(opened.db, sql`select ${user(n)} as id`))[0]!.id;
const statements = async (args: TaskListArgs, who: number | null, after?: TaskRow) => {
  const request = parseListArgs({
    ...args,
    after: after ? encodeTaskCursor(after, parseListArgs(args).order) : null,
  });
  return taskListStatements(
    opened.db,
    listOptions(request, who === null ? null : await userId(who)),
  );
};
const noSeqScan = (nodes: string[]) =>
  expect(nodes.filter(n => n.startsWith('Seq Scan'))).toEqual([]);

describe('task lists on 20,000 tasks', () => {
  const orders: [TaskOrdering, string][] = [
    [{ field: 'CREATED_AT', direction: 'DESC' }, 'tasks_created_idx'],
    [{ field: 'CREATED_AT', direction: 'ASC' }, 'tasks_created_idx'],
    [{ field: 'UPDATED_AT', direction: 'DESC' }, 'tasks_updated_idx'],
    [{ field: 'UPDATED_AT', direction: 'ASC' }, 'tasks_updated_idx'],
    [{ field: 'DUE_DATE', direction: 'ASC' }, 'tasks_due_idx'],
    [{ field: 'DUE_DATE', direction: 'DESC' }, 'tasks_due_idx'],
    [{ field: 'PRIORITY', direction: 'ASC' }, 'tasks_priority_idx'],
    [{ field: 'PRIORITY', direction: 'DESC' }, 'tasks_priority_idx'],
  ];

  it.each(orders)(
    'an admin’s page in %o reads its index in order, first page and after a cursor',
    async (order, index) => {
      for (const after of [undefined, await someTask()]) {
        const nodes = await plan((await statements({ orderBy: order }, admin, after)).rows);
        expect(nodes).toContain(`Index Scan ${index}`);
        expect(nodes.join()).not.toMatch(/Sort/);
        noSeqScan(nodes);
      }
    },
  );

  // Pages are LIMITed: the planner may also walk the ordering's index and filter, which it
  // prices below a bitmap scan and sort; either way no page reads the whole table.
  it('a user’s page and count read their owned and assigned tasks by index', async () => {
    for (const order of orders.map(([o]) => o)) {
      const { rows, count } = await statements({ orderBy: order }, viewer, await someTask());
      noSeqScan(await plan(rows));
      const counted = await plan(count);
      expect(counted.join()).toMatch(/tasks_owner_idx.*tasks_assignee_idx/);
      noSeqScan(counted);
    }
  });

  it('a due-date range reads the due-date index', async () => {
    const args = {
      filter: { dueAfter: '2026-03-01', dueBefore: '2026-03-07' },
      orderBy: { field: 'PRIORITY', direction: 'DESC' },
    } as const;
    const { rows, count } = await statements(args, admin);
    noSeqScan(await plan(rows));
    const counted = await plan(count);
    expect(counted.join()).toMatch(/tasks_due_idx/);
    noSeqScan(counted);
  });

  it('User.tasks and User.assignedTasks of 20 users at once read the owner and assignee indexes', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => userId(i * 3)));
    for (const [relation, index] of [
      ['owner', 'tasks_owner_idx'],
      ['assignee', 'tasks_assignee_idx'],
    ] as const) {
      for (const who of [admin, viewer]) {
        const request = parseListArgs({
          orderBy: { field: 'DUE_DATE', direction: 'ASC' },
          first: 5,
        });
        const { rows, counts } = tasksOfUsersStatements(
          opened.db,
          relation,
          ids,
          listOptions(request, who === null ? null : await userId(who)),
        );
        for (const nodes of [await plan(rows), await plan(counts)]) {
          expect(nodes.join()).toMatch(index);
          noSeqScan(nodes);
        }
      }
    }
  });
});
