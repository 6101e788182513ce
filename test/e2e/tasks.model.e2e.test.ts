import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import {
  createTask,
  TASK_FIELDS,
  TASK_PAGE,
  tasksKnow,
  type TaskNode,
  type TaskPage,
} from '../support/tasks.js';
import { registerUser, type TestUser } from '../support/users.js';

/**
 * Filters, orderings and pagination of task lists against an in-memory model of the same
 * data: every page of every walk must be exactly what the model computes. A supergraph of
 * its own, so the admin's "every task" is exactly the model's tasks.
 */

let sg: TestSupergraph;
let admin: TestUser;
let m1: TestUser;
let m2: TestUser;
let m3: TestUser;
/** The model: every task as the API last returned it. */
const model = new Map<string, TaskNode>();

type Field = 'CREATED_AT' | 'UPDATED_AT' | 'DUE_DATE' | 'PRIORITY';
type Order = { field: Field; direction: 'ASC' | 'DESC' } | null;
interface Filter {
  status?: string[];
  priority?: string[];
  ownerId?: string;
  assigneeId?: string;
  dueBefore?: string;
  dueAfter?: string;
  search?: string;
}

const STATUSES = ['TODO', 'IN_PROGRESS', 'DONE'];
const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH'];
// Ties on purpose; null is "no due date".
const DUE_DATES = [
  '2026-01-10',
  null,
  '2026-02-01',
  '2026-01-10',
  '2025-12-31',
  null,
  '2026-03-15',
  '2026-01-11',
];
const TITLES = [
  'Alpha report',
  'beta 50% done',
  'under_score',
  'Plain',
  'REPORTING',
  'back\\slash',
  'Percent sign',
  'misc',
];
const DESCRIPTIONS = [null, 'contains Report inside', 'nothing', null, '100% sure', 'x_y'];

beforeAll(async () => {
  sg = await startTestSupergraph();
  admin = await registerUser(sg, 'madmin');
  m1 = await registerUser(sg, 'm1');
  m2 = await registerUser(sg, 'm2');
  m3 = await registerUser(sg, 'm3');
  await tasksKnow(sg, m1, [admin, m1, m2, m3]);

  const owners = [m1, m2, m3, m1, admin];
  const assignees = [null, m1, m2, m3];
  // In parallel batches, so some tasks share a createdAt (ties broken by id).
  for (let batch = 0; batch < 5; batch++) {
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, j) => {
        const i = batch * 8 + j;
        return createTask(sg, owners[i % owners.length]!, {
          title: `${TITLES[i % TITLES.length]} #${i}`,
          description: DESCRIPTIONS[i % DESCRIPTIONS.length] ?? null,
          status: STATUSES[i % 3]!,
          priority: PRIORITIES[Math.floor(i / 3) % 3]!,
          dueDate: DUE_DATES[i % DUE_DATES.length] ?? null,
          assigneeId: assignees[(i * 7) % assignees.length]?.id ?? null,
        });
      }),
    );
    for (const task of created) model.set(task.id, task);
  }
  // Some updates, so updatedAt differs from createdAt (again in parallel: ties).
  const tasks = [...model.values()];
  const owner = (t: TaskNode) => [admin, m1, m2, m3].find(u => u.id === t.owner.id)!;
  const updated = await Promise.all(
    tasks
      .filter((_, i) => i % 3 === 0)
      .map(async t => {
        const res = await sg.gql<{ updateTask: TaskNode }>(
          `mutation ($id: ID!) { updateTask(id: $id, input: { status: DONE, priority: HIGH }) { ${TASK_FIELDS} } }`,
          { token: owner(t).accessToken, variables: { id: t.id } },
        );
        expect(res.errors).toBeUndefined();
        return res.data!.updateTask;
      }),
  );
  for (const task of updated) model.set(task.id, task);
}, 60_000);
afterAll(async () => {
  await sg?.stop();
});

// ------------------------------------------------------------------ the model

const RANK: Record<string, number> = { LOW: 0, MEDIUM: 1, HIGH: 2 };

function sortKey(t: TaskNode, field: Field): string | number {
  switch (field) {
    case 'CREATED_AT':
      return t.createdAt;
    case 'UPDATED_AT':
      return t.updatedAt;
    case 'PRIORITY':
      return RANK[t.priority]!;
    case 'DUE_DATE':
      // No due date counts as later than every date.
      return t.dueDate ?? '9999-99-99';
  }
}

function compare(order: Order) {
  const { field, direction } = order ?? { field: 'CREATED_AT', direction: 'DESC' };
  const sign = direction === 'ASC' ? 1 : -1;
  return (a: TaskNode, b: TaskNode) => {
    const ka = sortKey(a, field);
    const kb = sortKey(b, field);
    if (ka !== kb) return ka < kb ? -sign : sign;
    return a.id < b.id ? -sign : a.id > b.id ? sign : 0;
  };
}

function matches(t: TaskNode, f: Filter): boolean {
  const search = f.search?.toLowerCase();
  return (
    (!f.status || f.status.includes(t.status)) &&
    (!f.priority || f.priority.includes(t.priority)) &&
    (!f.ownerId || t.owner.id === f.ownerId) &&
    (!f.assigneeId || t.assignee?.id === f.assigneeId) &&
    (!f.dueBefore || (t.dueDate !== null && t.dueDate <= f.dueBefore)) &&
    (!f.dueAfter || (t.dueDate !== null && t.dueDate >= f.dueAfter)) &&
    (!search ||
      t.title.toLowerCase().includes(search) ||
      (t.description ?? '').toLowerCase().includes(search))
  );
}

const sees = (viewer: TestUser, t: TaskNode) =>
  viewer === admin || t.owner.id === viewer.id || t.assignee?.id === viewer.id;

function expected(
  viewer: TestUser,
  filter: Filter,
  order: Order,
  scope: (t: TaskNode) => boolean = () => true,
): string[] {
  return [...model.values()]
    .filter(t => sees(viewer, t) && scope(t) && matches(t, filter))
    .sort(compare(order))
    .map(t => t.id);
}

// ------------------------------------------------------------------ walking the API

type ListArgs = { filter: Filter; order: Order; first: number; after: string | null };

const tasksPage = async (viewer: TestUser, args: ListArgs): Promise<TaskPage> => {
  const res = await sg.gql<{ tasks: TaskPage }>(
    `query ($f: TaskFilter, $o: TaskOrder, $n: Int, $a: String) { tasks(filter: $f, orderBy: $o, first: $n, after: $a) { ${TASK_PAGE} } }`,
    {
      token: viewer.accessToken,
      variables: { f: args.filter, o: args.order, n: args.first, a: args.after },
    },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.tasks;
};

/** Walks every page of a list and checks each against the model; returns the ids in order. */
async function walk(
  fetchPage: (args: ListArgs) => Promise<TaskPage>,
  want: string[],
  filter: Filter,
  order: Order,
  first: number,
) {
  const seen: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages <= want.length + 1; pages++) {
    const page: TaskPage = await fetchPage({ filter, order, first, after });
    expect(page.totalCount).toBe(want.length);
    expect(page.edges.map(e => e.node.id)).toEqual(want.slice(seen.length, seen.length + first));
    seen.push(...page.edges.map(e => e.node.id));
    expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
    expect(page.pageInfo.hasNextPage).toBe(seen.length < want.length);
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  expect(seen).toEqual(want);
}

/** Runs `jobs` a few at a time. */
async function inParallel<T>(jobs: (() => Promise<T>)[], width = 6): Promise<void> {
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );
}

const ORDERS: Order[] = [
  null,
  ...(['CREATED_AT', 'UPDATED_AT', 'DUE_DATE', 'PRIORITY'] as const).flatMap(field =>
    (['ASC', 'DESC'] as const).map(direction => ({ field, direction })),
  ),
];
/** Enough orderings to cover each kind of sort key, for the slower nested walks. */
const SOME_ORDERS: Order[] = [
  null,
  { field: 'DUE_DATE', direction: 'ASC' },
  { field: 'PRIORITY', direction: 'DESC' },
  { field: 'UPDATED_AT', direction: 'ASC' },
];
const label = (order: Order) => (order ? `${order.field} ${order.direction}` : 'default order');

describe('the model data', () => {
  it('has ties in every ordering that allows them, and tasks without a due date', () => {
    const tasks = [...model.values()];
    expect(tasks).toHaveLength(40);
    for (const field of ['DUE_DATE', 'PRIORITY'] as const) {
      expect(new Set(tasks.map(t => sortKey(t, field))).size).toBeLessThan(tasks.length);
    }
    expect(tasks.some(t => t.dueDate === null)).toBe(true);
    expect(tasks.some(t => t.updatedAt !== t.createdAt)).toBe(true);
  });
});

describe('Query.tasks against the model', () => {
  const filters = (): Filter[] => [
    {},
    { status: ['TODO'] },
    { status: ['TODO', 'DONE'], priority: ['HIGH'] },
    { priority: [] },
    { ownerId: m2.id },
    { assigneeId: m1.id },
    { ownerId: m1.id, assigneeId: m3.id },
    { dueAfter: '2026-01-10', dueBefore: '2026-02-01' },
    { dueAfter: '2026-01-10', dueBefore: '2026-01-10' },
    { dueBefore: '2025-12-31' },
    { dueAfter: '2026-01-11' },
    { search: 'report' },
    { search: '50%' },
    { search: '_' },
    { search: '\\' },
    { search: '  ALPHA ' },
    { ownerId: 'not-a-uuid' },
  ];

  it.each(ORDERS.map(order => [label(order), order] as const))(
    'walks every page in %s for every filter, as admin and as a user',
    async (_name, order) => {
      const jobs: (() => Promise<void>)[] = [];
      for (const [viewer, first] of [
        [admin, 6],
        [m1, 3],
      ] as const) {
        for (const filter of filters()) {
          const want = expected(viewer, { ...filter, search: filter.search?.trim() }, order);
          jobs.push(() => walk(args => tasksPage(viewer, args), want, filter, order, first));
        }
      }
      await inParallel(jobs);
    },
  );

  it.each(ORDERS.map(order => [label(order), order] as const))(
    'walks %s one task at a time and in pages that end exactly at the end',
    async (_name, order) => {
      const want = expected(admin, {}, order);
      await inParallel(
        [1, 8, 20, 39, 40, 41].map(
          first => () => walk(args => tasksPage(admin, args), want, {}, order, first),
        ),
      );
    },
  );

  it('resumes after any edge’s cursor, not only the end cursor', async () => {
    for (const order of ORDERS) {
      const want = expected(m1, {}, order);
      const page = await tasksPage(m1, { filter: {}, order, first: 6, after: null });
      for (const [i, edge] of page.edges.entries()) {
        const next = await tasksPage(m1, { filter: {}, order, first: 2, after: edge.cursor });
        expect(
          next.edges.map(e => e.node.id),
          `${label(order)} after #${i}`,
        ).toEqual(want.slice(i + 1, i + 3));
      }
    }
  });

  it('first: 0 gives an empty page that still tells whether there is more, and the count', async () => {
    const page = await tasksPage(admin, { filter: {}, order: null, first: 0, after: null });
    expect(page).toEqual({
      totalCount: 40,
      edges: [],
      pageInfo: { hasNextPage: true, endCursor: null },
    });
    const none = await tasksPage(admin, {
      filter: { status: [] },
      order: null,
      first: 0,
      after: null,
    });
    expect(none).toEqual({
      totalCount: 0,
      edges: [],
      pageInfo: { hasNextPage: false, endCursor: null },
    });
  });

  it('after the last task there is an empty page', async () => {
    for (const order of ORDERS) {
      const all = await tasksPage(admin, { filter: {}, order, first: 100, after: null });
      const last = all.edges.at(-1)!.cursor;
      const after = await tasksPage(admin, { filter: {}, order, first: 10, after: last });
      expect(after, label(order)).toEqual({
        totalCount: 40,
        edges: [],
        pageInfo: { hasNextPage: false, endCursor: null },
      });
    }
  });

  it('defaults to 20 tasks a page', async () => {
    const res = await sg.gql<{ tasks: TaskPage }>(`{ tasks { ${TASK_PAGE} } }`, {
      token: admin.accessToken,
    });
    expect(res.data!.tasks.edges.map(e => e.node.id)).toEqual(
      expected(admin, {}, null).slice(0, 20),
    );
    expect(res.data!.tasks.pageInfo.hasNextPage).toBe(true);
  });
});

describe('User.tasks and User.assignedTasks against the model', () => {
  type UserPages = { id: string; tasks: TaskPage; assignedTasks: TaskPage };
  const USER_LISTS = (args: string) =>
    `id tasks(${args}) { ${TASK_PAGE} } assignedTasks(${args}) { ${TASK_PAGE} }`;
  const ARGS = '$f: TaskFilter, $o: TaskOrder, $n: Int, $a: String';
  const PASS = 'filter: $f, orderBy: $o, first: $n, after: $a';

  it('walks one user’s lists as that user, another user and an admin', async () => {
    const jobs: (() => Promise<void>)[] = [];
    for (const viewer of [m1, m2, admin]) {
      for (const subject of [m1, m2, m3]) {
        for (const relation of ['tasks', 'assignedTasks'] as const) {
          const scope = (t: TaskNode) =>
            (relation === 'tasks' ? t.owner.id : t.assignee?.id) === subject.id;
          for (const order of SOME_ORDERS) {
            for (const filter of [{}, { status: ['TODO', 'IN_PROGRESS'] }] as Filter[]) {
              const fetchPage = async (args: ListArgs) => {
                const res = await sg.gql<{ user: UserPages }>(
                  `query ($id: ID!, ${ARGS}) { user(id: $id) { ${USER_LISTS(PASS)} } }`,
                  {
                    token: viewer.accessToken,
                    variables: {
                      id: subject.id,
                      f: args.filter,
                      o: args.order,
                      n: args.first,
                      a: args.after,
                    },
                  },
                );
                expect(res.errors).toBeUndefined();
                return res.data!.user[relation];
              };
              jobs.push(() =>
                walk(fetchPage, expected(viewer, filter, order, scope), filter, order, 4),
              );
            }
          }
        }
      }
    }
    await inParallel(jobs);
  });

  it('gives every user of a list their own first page when batched in one request', async () => {
    for (const order of ORDERS) {
      const res = await sg.gql<{ users: { edges: Array<{ node: UserPages }> } }>(
        `query (${ARGS}) { users(first: 10) { edges { node { ${USER_LISTS(PASS)} } } } }`,
        {
          token: admin.accessToken,
          variables: { f: { dueAfter: '2026-01-01' }, o: order, n: 2, a: null },
        },
      );
      expect(res.errors).toBeUndefined();
      const users = res.data!.users.edges.map(e => e.node);
      expect(users).toHaveLength(4);
      for (const user of users) {
        const owned = expected(
          admin,
          { dueAfter: '2026-01-01' },
          order,
          t => t.owner.id === user.id,
        );
        const assigned = expected(
          admin,
          { dueAfter: '2026-01-01' },
          order,
          t => t.assignee?.id === user.id,
        );
        expect(
          user.tasks.edges.map(e => e.node.id),
          label(order),
        ).toEqual(owned.slice(0, 2));
        expect(user.tasks.totalCount).toBe(owned.length);
        expect(user.tasks.pageInfo.hasNextPage).toBe(owned.length > 2);
        expect(
          user.assignedTasks.edges.map(e => e.node.id),
          label(order),
        ).toEqual(assigned.slice(0, 2));
        expect(user.assignedTasks.totalCount).toBe(assigned.length);
      }
    }
  });
});
