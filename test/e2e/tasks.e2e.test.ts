import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnyEvent } from '#lib/events/envelope.js';
import { tapEvents, type EventTap } from '../support/amqp.js';
import {
  asRouter,
  postGraphQL,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.js';
import {
  assignTask,
  assignWhenKnown,
  createTask,
  TASK_FIELDS,
  TASK_PAGE,
  tasksKnow,
  type TaskNode,
  type TaskPage,
} from '../support/tasks.js';
import { errorOf, isMailRecipientRead, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * The tasks subgraph through the router, with real Postgres and RabbitMQ: permissions,
 * cross-subgraph references, events, user stubs, bad input and the cost in SQL statements.
 * Filters, orderings and pagination are checked against a model in tasks.model.e2e.test.ts.
 */

let sg: TestSupergraph;
let tap: EventTap;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

beforeAll(async () => {
  sg = await startTestSupergraph();
  tap = await tapEvents(sg.namespace, 'task.*');
  admin = await registerUser(sg, 'admin', 'The Admin');
  alice = await registerUser(sg, 'alice', 'Alice A.');
  bob = await registerUser(sg, 'bob', 'Bob B.');
  carol = await registerUser(sg, 'carol', 'Carol C.');
  await tasksKnow(sg, alice, [admin, alice, bob, carol]);
});
afterAll(async () => {
  await tap?.close();
  await sg?.stop();
});

const eventsOf = (taskId: string) =>
  tap.events.filter(
    e => e.type.startsWith('task.') && 'task' in e.data && e.data.task.id === taskId,
  );
const typesOf = (events: AnyEvent[]) => events.map(e => e.type);

const update = (user: TestUser, id: string, input: Record<string, unknown>) =>
  sg.gql<{ updateTask: TaskNode }>(
    `mutation ($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { ${TASK_FIELDS} } }`,
    {
      token: user.accessToken,
      variables: { id, input },
    },
  );
const remove = (user: TestUser, id: string) =>
  sg.gql<{ deleteTask: string }>('mutation ($id: ID!) { deleteTask(id: $id) }', {
    token: user.accessToken,
    variables: { id },
  });
const taskById = async (user: TestUser, id: string) => {
  const res = await sg.gql<{ task: TaskNode | null }>(
    `query ($id: ID!) { task(id: $id) { ${TASK_FIELDS} } }`,
    {
      token: user.accessToken,
      variables: { id },
    },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.task;
};
const visibleIds = async (user: TestUser, filter: Record<string, unknown> = {}) => {
  const res = await sg.gql<{ tasks: TaskPage }>(
    `query ($f: TaskFilter, $n: Int) { tasks(filter: $f, first: $n) { ${TASK_PAGE} } }`,
    {
      token: user.accessToken,
      variables: { f: filter, n: 100 },
    },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.tasks.edges.map(e => e.node.id);
};

describe('Alice, Bob and Carol', () => {
  let task: TaskNode;

  beforeAll(async () => {
    task = await createTask(sg, alice, {
      title: '  Write the quarterly report ',
      description: 'Numbers first.',
      priority: 'HIGH',
      dueDate: '2026-12-01',
    });
    task = await assignWhenKnown(sg, alice, task.id, bob.id);
  });

  it('Alice creates a task and assigns it to Bob', () => {
    expect(task).toMatchObject({
      title: 'Write the quarterly report',
      description: 'Numbers first.',
      status: 'TODO',
      priority: 'HIGH',
      dueDate: '2026-12-01',
      owner: { id: alice.id },
      assignee: { id: bob.id },
    });
    expect(new Date(task.createdAt).toISOString()).toBe(task.createdAt);
    expect(task.updatedAt >= task.createdAt).toBe(true);
  });

  it('Bob sees it in assignedTasks, with owner and assignee resolved by the users subgraph', async () => {
    const res = await sg.gql<{
      me: {
        assignedTasks: TaskPage<{
          id: string;
          title: string;
          owner: { displayName: string };
          assignee: { displayName: string };
        }>;
      };
    }>(
      '{ me { assignedTasks { totalCount edges { node { id title owner { displayName } assignee { displayName } } } } } }',
      { token: bob.accessToken },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.me.assignedTasks.totalCount).toBe(1);
    expect(res.data!.me.assignedTasks.edges[0]!.node).toEqual({
      id: task.id,
      title: 'Write the quarterly report',
      owner: { displayName: 'Alice A.' },
      assignee: { displayName: 'Bob B.' },
    });
    expect(await visibleIds(bob)).toContain(task.id);
    expect((await taskById(bob, task.id))?.id).toBe(task.id);
  });

  it('Bob may set the status, but not the title, and may not assign or delete', async () => {
    const status = await update(bob, task.id, { status: 'IN_PROGRESS' });
    expect(status.errors).toBeUndefined();
    expect(status.data!.updateTask.status).toBe('IN_PROGRESS');

    expect(errorOf(await update(bob, task.id, { title: 'Mine now' }))?.code).toBe('FORBIDDEN');
    // Nothing partial: the status in the same refused update is not applied either.
    expect(errorOf(await update(bob, task.id, { status: 'DONE', priority: 'LOW' }))?.code).toBe(
      'FORBIDDEN',
    );
    expect(await taskById(bob, task.id)).toMatchObject({
      title: 'Write the quarterly report',
      status: 'IN_PROGRESS',
      priority: 'HIGH',
    });
    // Sending a field unchanged is not changing it.
    expect(
      (await update(bob, task.id, { title: task.title, status: 'IN_PROGRESS' })).errors,
    ).toBeUndefined();

    expect(errorOf(await assignTask(sg, bob, task.id, carol.id))?.code).toBe('FORBIDDEN');
    expect(errorOf(await assignTask(sg, bob, task.id, null))?.code).toBe('FORBIDDEN');
    expect(errorOf(await remove(bob, task.id))?.code).toBe('FORBIDDEN');
  });

  it('Carol sees nothing of it, and her changes are NOT_FOUND as if it did not exist', async () => {
    expect(await taskById(carol, task.id)).toBeNull();
    expect(await visibleIds(carol)).not.toContain(task.id);
    expect(await visibleIds(carol, { ownerId: alice.id })).toEqual([]);
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const id of [task.id, missing, 'not-a-uuid']) {
      expect(errorOf(await update(carol, id, { status: 'DONE' }))?.code, id).toBe('NOT_FOUND');
      expect(errorOf(await assignTask(sg, carol, id, carol.id))?.code, id).toBe('NOT_FOUND');
      expect(errorOf(await remove(carol, id))?.code, id).toBe('NOT_FOUND');
    }
    // Through the users of the task: only what Carol herself may see, i.e. nothing.
    const res = await sg.gql<{ a: { tasks: TaskPage }; b: { assignedTasks: TaskPage } }>(
      `{ a: user(id: "${alice.id}") { tasks { ${TASK_PAGE} } } b: user(id: "${bob.id}") { assignedTasks { ${TASK_PAGE} } } }`,
      { token: carol.accessToken },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.a.tasks).toMatchObject({ totalCount: 0, edges: [] });
    expect(res.data!.b.assignedTasks).toMatchObject({ totalCount: 0, edges: [] });
  });

  it('Alice sees it among Bob’s assigned tasks; an admin sees everything', async () => {
    const asAlice = await sg.gql<{ user: { assignedTasks: TaskPage } }>(
      `{ user(id: "${bob.id}") { assignedTasks { ${TASK_PAGE} } } }`,
      {
        token: alice.accessToken,
      },
    );
    expect(asAlice.data!.user.assignedTasks.edges.map(e => e.node.id)).toEqual([task.id]);

    const carols = await createTask(sg, carol, { title: 'Carol’s own' });
    expect(await taskById(admin, task.id)).toMatchObject({ id: task.id });
    const all = await visibleIds(admin);
    expect(all).toEqual(expect.arrayContaining([task.id, carols.id]));
    expect(await visibleIds(alice)).not.toContain(carols.id);
    expect(await visibleIds(bob)).not.toContain(carols.id);
  });

  it('an admin may change every field, assign and delete', async () => {
    const scratch = await createTask(sg, carol, { title: 'Admin will handle it' });
    const changed = await update(admin, scratch.id, {
      title: 'Handled',
      priority: 'LOW',
      dueDate: '2027-01-31',
    });
    expect(changed.data!.updateTask).toMatchObject({
      title: 'Handled',
      priority: 'LOW',
      dueDate: '2027-01-31',
    });
    expect((await assignTask(sg, admin, scratch.id, alice.id)).data!.assignTask.assignee).toEqual({
      id: alice.id,
    });
    expect((await remove(admin, scratch.id)).data!.deleteTask).toBe(scratch.id);
    expect(await taskById(admin, scratch.id)).toBeNull();
  });

  it('publishes task.created, task.assigned and task.updated with changed and previous', async () => {
    await waitFor(() => eventsOf(task.id).filter(e => e.type === 'task.updated').length >= 1);
    const events = eventsOf(task.id);
    expect(typesOf(events).slice(0, 3)).toEqual(['task.created', 'task.assigned', 'task.updated']);
    const [created, assigned, updated] = events as [AnyEvent, AnyEvent, AnyEvent];
    expect(created).toMatchObject({
      producer: 'tasks',
      version: 1,
      actorId: alice.id,
      data: { task: { id: task.id, assigneeId: null, ownerId: alice.id } },
    });
    expect(assigned).toMatchObject({
      actorId: alice.id,
      data: { previousAssigneeId: null, task: { assigneeId: bob.id } },
    });
    expect(updated).toMatchObject({
      actorId: bob.id,
      data: {
        changed: ['status'],
        previous: { status: 'TODO' },
        task: { status: 'IN_PROGRESS', dueDate: '2026-12-01' },
      },
    });
    // The unchanged resend and the refused updates published nothing.
    expect(events.filter(e => e.type === 'task.updated')).toHaveLength(1);
  });
});

describe('changes and their events', () => {
  it('a task created with an assignee emits task.created, then task.assigned', async () => {
    const task = await createTask(sg, alice, {
      title: 'Born assigned',
      assigneeId: bob.id,
      status: 'IN_PROGRESS',
    });
    expect(task.assignee).toEqual({ id: bob.id });
    await waitFor(() => eventsOf(task.id).length >= 2);
    expect(typesOf(eventsOf(task.id))).toEqual(['task.created', 'task.assigned']);
    expect(eventsOf(task.id)[1]!.data).toMatchObject({
      previousAssigneeId: null,
      task: { assigneeId: bob.id },
    });
  });

  it('reassigning, unassigning and deleting each emit their event; no-ops emit nothing', async () => {
    const task = await createTask(sg, alice, {
      title: 'Passed around',
      description: 'x',
      dueDate: '2026-05-05',
    });
    expect((await assignTask(sg, alice, task.id, bob.id)).errors).toBeUndefined();
    expect((await assignTask(sg, alice, task.id, bob.id)).errors).toBeUndefined();
    expect((await assignTask(sg, alice, task.id, carol.id)).data!.assignTask.assignee).toEqual({
      id: carol.id,
    });
    expect((await assignTask(sg, alice, task.id, null)).data!.assignTask.assignee).toBeNull();
    expect(
      (await update(alice, task.id, { description: 'x', dueDate: '2026-05-05' })).errors,
    ).toBeUndefined();
    const cleared = await update(alice, task.id, {
      description: null,
      dueDate: null,
      title: 'Renamed',
    });
    expect(cleared.data!.updateTask).toMatchObject({
      description: null,
      dueDate: null,
      title: 'Renamed',
    });
    expect((await remove(alice, task.id)).data!.deleteTask).toBe(task.id);

    await waitFor(() => eventsOf(task.id).some(e => e.type === 'task.deleted'));
    const events = eventsOf(task.id);
    expect(typesOf(events)).toEqual([
      'task.created',
      'task.assigned',
      'task.assigned',
      'task.assigned',
      'task.updated',
      'task.deleted',
    ]);
    expect(
      events.map(e => (e.type === 'task.assigned' ? e.data.previousAssigneeId : null)),
    ).toEqual([null, null, bob.id, carol.id, null, null]);
    expect(events[4]!.data).toMatchObject({
      changed: ['title', 'description', 'dueDate'],
      previous: { title: 'Passed around', description: 'x', dueDate: '2026-05-05' },
    });
    expect(events[5]).toMatchObject({
      actorId: alice.id,
      data: { task: { id: task.id, title: 'Renamed' } },
    });
  });

  it('refuses an unknown assignee with BAD_USER_INPUT and writes nothing', async () => {
    const before = await visibleIds(alice);
    const unknown = '00000000-0000-4000-8000-00000000abcd';
    const res = await sg.gql(
      `mutation { createTask(input: { title: "Nobody’s", assigneeId: "${unknown}" }) { id } }`,
      { token: alice.accessToken },
    );
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.assigneeId' });
    expect(await visibleIds(alice)).toEqual(before);
    const task = await createTask(sg, alice, { title: 'Will not be assigned' });
    for (const id of [unknown, 'not-a-uuid']) {
      expect(errorOf(await assignTask(sg, alice, task.id, id))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'assigneeId',
      });
    }
    expect((await taskById(alice, task.id))?.assignee).toBeNull();
  });
});

describe('anonymous callers', () => {
  it('get UNAUTHENTICATED for every tasks operation', async () => {
    for (const op of [
      '{ tasks { totalCount } }',
      '{ task(id: "00000000-0000-4000-8000-000000000000") { id } }',
      'mutation { createTask(input: { title: "x" }) { id } }',
      'mutation { updateTask(id: "00000000-0000-4000-8000-000000000000", input: { title: "x" }) { id } }',
      'mutation { assignTask(id: "00000000-0000-4000-8000-000000000000", assigneeId: null) { id } }',
      'mutation { deleteTask(id: "00000000-0000-4000-8000-000000000000") }',
    ]) {
      expect(errorOf(await sg.gql(op))?.code, op).toBe('UNAUTHENTICATED');
    }
  });
});

describe('bad input', () => {
  const create = (input: Record<string, unknown>) =>
    sg.gql('mutation ($input: CreateTaskInput!) { createTask(input: $input) { id } }', {
      token: alice.accessToken,
      variables: { input },
    });
  const list = (args: Record<string, unknown>, user = alice) =>
    sg.gql<{ tasks: TaskPage }>(
      'query ($f: TaskFilter, $o: TaskOrder, $first: Int, $after: String) { tasks(filter: $f, orderBy: $o, first: $first, after: $after) { totalCount edges { cursor } pageInfo { endCursor } } }',
      {
        token: user.accessToken,
        variables: args,
      },
    );

  let before: string[];
  beforeEach(async () => {
    before = await visibleIds(alice);
  });

  it.each([
    ['an empty title', { title: '' }, 'input.title'],
    ['a blank title', { title: '   ' }, 'input.title'],
    ['a title over 200 characters', { title: 't'.repeat(201) }, 'input.title'],
    [
      'a description over 10,000 characters',
      { title: 'ok', description: 'd'.repeat(10_001) },
      'input.description',
    ],
    ['an impossible date', { title: 'ok', dueDate: '2026-02-30' }, 'input.dueDate'],
    ['a month 13', { title: 'ok', dueDate: '2026-13-01' }, 'input.dueDate'],
    ['a date with a time', { title: 'ok', dueDate: '2026-01-01T00:00:00Z' }, 'input.dueDate'],
    ['a word for a date', { title: 'ok', dueDate: 'tomorrow' }, 'input.dueDate'],
    ['year zero', { title: 'ok', dueDate: '0000-01-01' }, 'input.dueDate'],
  ])(
    'createTask refuses %s with BAD_USER_INPUT naming the field, and writes nothing',
    async (_name, input, field) => {
      expect(errorOf(await create(input))).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(await visibleIds(alice)).toEqual(before);
    },
  );

  it('accepts a title of exactly 200 characters and a description of exactly 10,000', async () => {
    expect(
      (
        await create({
          title: 't'.repeat(200),
          description: 'd'.repeat(10_000),
          dueDate: '2028-02-29',
        })
      ).errors,
    ).toBeUndefined();
  });

  it('refuses a malformed date written inline in the query the same way', async () => {
    const inline = await sg.gql(
      'mutation { createTask(input: { title: "ok", dueDate: "2026-02-30" }) { id } }',
      { token: alice.accessToken },
    );
    expect(errorOf(inline)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.dueDate' });
    const filter = await sg.gql('{ tasks(filter: { dueAfter: "yesterday" }) { totalCount } }', {
      token: alice.accessToken,
    });
    expect(errorOf(filter)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.dueAfter' });
  });

  it('updateTask refuses bad fields and changes nothing', async () => {
    const task = await createTask(sg, alice, { title: 'Stays' });
    for (const [input, field] of [
      [{ title: '' }, 'input.title'],
      [{ title: null }, 'input.title'],
      [{ status: null }, 'input.status'],
      [{ description: 'd'.repeat(10_001) }, 'input.description'],
      [{ status: 'DONE', dueDate: '2026-04-31' }, 'input.dueDate'],
    ] as const) {
      expect(errorOf(await update(alice, task.id, input)), field).toMatchObject({
        code: 'BAD_USER_INPUT',
        field,
      });
    }
    expect(await taskById(alice, task.id)).toMatchObject({
      title: 'Stays',
      status: 'TODO',
      dueDate: null,
    });
  });

  it.each([
    [
      'dueBefore before dueAfter',
      { f: { dueAfter: '2026-03-02', dueBefore: '2026-03-01' } },
      'filter.dueBefore',
    ],
    ['a malformed dueBefore', { f: { dueBefore: '2026-3-1' } }, 'filter.dueBefore'],
    ['a search over 200 characters', { f: { search: 's'.repeat(201) } }, 'filter.search'],
    ['first over 100', { first: 101 }, 'first'],
    ['a negative first', { first: -1 }, 'first'],
    ['a cursor that is not one', { after: 'bogus' }, 'after'],
    ['a cursor of another list', { after: 'eyJrIjoidXNlcnMiLCJwIjoiYWxpY2UifQ' }, 'after'],
  ])('tasks refuses %s with BAD_USER_INPUT naming the argument', async (_name, args, field) => {
    expect(errorOf(await list(args))).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('refuses a cursor issued for another ordering', async () => {
    await createTask(sg, alice, { title: 'one' });
    await createTask(sg, alice, { title: 'two' });
    const page = await list({ first: 1, o: { field: 'PRIORITY', direction: 'ASC' } });
    const cursor = page.data!.tasks.pageInfo.endCursor!;
    expect(
      (await list({ first: 1, after: cursor, o: { field: 'PRIORITY', direction: 'ASC' } })).errors,
    ).toBeUndefined();
    for (const o of [
      null,
      { field: 'PRIORITY', direction: 'DESC' },
      { field: 'DUE_DATE', direction: 'ASC' },
    ]) {
      expect(errorOf(await list({ first: 1, after: cursor, o })), JSON.stringify(o)).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
    }
  });

  it('same checks on User.tasks and User.assignedTasks', async () => {
    const res = await sg.gql(`{ me { tasks(first: 101) { totalCount } } }`, {
      token: alice.accessToken,
    });
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    const res2 = await sg.gql(
      `{ me { assignedTasks(filter: { dueBefore: "2026-01-01", dueAfter: "2026-02-01" }) { totalCount } } }`,
      {
        token: alice.accessToken,
      },
    );
    expect(errorOf(res2)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.dueBefore' });
  });
});

describe('a deleted user', () => {
  it('loses their own tasks and their assignments, each with its event', async () => {
    const dave = await registerUser(sg, 'dave', 'Dave D.');
    const erin = await registerUser(sg, 'erin', 'Erin E.');
    const davesOwn = await createTask(sg, dave, { title: 'Dave’s own' });
    const davesForErin = await createTask(sg, dave, { title: 'Dave’s, for Erin' });
    await assignWhenKnown(sg, dave, davesForErin.id, erin.id);
    const erinsForDave = await createTask(sg, erin, { title: 'Erin’s, for Dave' });
    await assignWhenKnown(sg, erin, erinsForDave.id, dave.id);
    const alicesForDave = await createTask(sg, alice, {
      title: 'Alice’s, for Dave',
      assigneeId: dave.id,
    });

    const res = await sg.gql<{ deleteAccount: boolean }>(
      `mutation { deleteAccount(password: "${dave.password}") }`,
      { token: dave.accessToken },
    );
    expect(res.data!.deleteAccount).toBe(true);

    await waitFor(async () => (await taskById(admin, davesOwn.id)) === null, {
      message: 'Dave’s tasks were not deleted',
    });
    expect(await taskById(admin, davesForErin.id)).toBeNull();
    expect(await taskById(erin, davesForErin.id)).toBeNull();
    expect((await taskById(erin, erinsForDave.id))?.assignee).toBeNull();
    expect((await taskById(alice, alicesForDave.id))?.assignee).toBeNull();

    await waitFor(
      () =>
        eventsOf(alicesForDave.id).length >= 3 &&
        eventsOf(davesForErin.id).some(e => e.type === 'task.deleted'),
    );
    for (const t of [davesOwn, davesForErin]) {
      expect(eventsOf(t.id).at(-1)).toMatchObject({
        type: 'task.deleted',
        actorId: dave.id,
        data: { task: { id: t.id, ownerId: dave.id } },
      });
    }
    for (const t of [erinsForDave, alicesForDave]) {
      expect(eventsOf(t.id).at(-1)).toMatchObject({
        type: 'task.assigned',
        actorId: dave.id,
        data: { previousAssigneeId: dave.id, task: { id: t.id, assigneeId: null } },
      });
    }

    // Dave can no longer be assigned, and his still-unexpired token no longer works here.
    expect(errorOf(await assignTask(sg, erin, erinsForDave.id, dave.id))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'assigneeId',
    });
    expect(
      errorOf(
        await sg.gql('mutation { createTask(input: { title: "ghost" }) { id } }', {
          token: dave.accessToken,
        }),
      )?.code,
    ).toBe('UNAUTHENTICATED');
  });
});

describe('roles', () => {
  it('follow the users service: a promotion or demotion counts as soon as its event arrives', async () => {
    const frank = await registerUser(sg, 'frank');
    const task = await createTask(sg, alice, { title: 'Not Frank’s business' });
    const setRole = (role: string) =>
      sg.gql(`mutation { setUserRole(userId: "${frank.id}", role: ${role}) { id } }`, {
        token: admin.accessToken,
      });
    // Asked straight at the subgraph with claims that say `role` (the router refuses Frank's
    // old token once his role changed): the tasks service goes by the role users published.
    const taskAs = async (role: 'USER' | 'ADMIN') => {
      const res = await postGraphQL<{ task: { id: string } | null }>(
        `${sg.supergraph.subgraphs.tasks!.url}/graphql`,
        'query ($id: ID!) { task(id: $id) { id } }',
        {
          variables: { id: task.id },
          headers: asRouter('tasks', sg.config.routerSecret, {
            userId: frank.id,
            role,
            username: frank.username,
          }),
        },
      );
      expect(res.errors).toBeUndefined();
      return res.data!.task;
    };
    expect(await taskById(frank, task.id)).toBeNull();
    expect((await setRole('ADMIN')).errors).toBeUndefined();
    await waitFor(async () => (await taskAs('USER'))?.id === task.id, {
      message: 'promotion never reached tasks',
    });
    expect((await setRole('USER')).errors).toBeUndefined();
    await waitFor(async () => (await taskAs('ADMIN')) === null, {
      message: 'demotion never reached tasks',
    });
  });
});

describe('Task entities for other subgraphs', () => {
  it('resolve a reference only for a viewer who may see the task', async () => {
    const task = await createTask(sg, alice, { title: 'Referenced' });
    const url = `${sg.supergraph.subgraphs.tasks!.url}/graphql`;
    const entities = (user: TestUser) =>
      postGraphQL<{ _entities: Array<{ title: string } | null> }>(
        url,
        `{ _entities(representations: [{ __typename: "Task", id: "${task.id}" }, { __typename: "Task", id: "not-a-uuid" }]) { ... on Task { title } } }`,
        {
          headers: asRouter('tasks', sg.config.routerSecret, {
            userId: user.id,
            role: user === admin ? 'ADMIN' : 'USER',
            username: user.username,
          }),
        },
      );
    expect((await entities(alice)).data!._entities).toEqual([{ title: 'Referenced' }, null]);
    expect((await entities(carol)).data!._entities).toEqual([null, null]);
    expect((await entities(admin)).data!._entities).toEqual([{ title: 'Referenced' }, null]);
  });
});

describe('cost in SQL statements', () => {
  const PAGE =
    '{ tasks(first: 100) { totalCount edges { node { title owner { displayName } assignee { displayName } } } } }';

  // The outbox relays poll their databases meanwhile; only statements on the data count.
  const reads = (statements: string[], table: RegExp) =>
    statements.filter(q => /^select/i.test(q) && table.test(q) && !isMailRecipientRead(q)).length;

  /** Runs `query` as `user` and returns what it cost per database. */
  async function cost(user: TestUser, query: string, variables: Record<string, unknown> = {}) {
    sg.queries.tasks.length = 0;
    sg.queries.users.length = 0;
    const res = await sg.gql<{ tasks: TaskPage }>(query, { token: user.accessToken, variables });
    expect(res.errors).toBeUndefined();
    return {
      tasks: reads(sg.queries.tasks, /from "(tasks|user_stubs)"/),
      users: reads(sg.queries.users, /from "users"/),
      data: res.data!,
    };
  }

  it('is the same for 10 and for 100 tasks with owner and assignee', async () => {
    const few = await registerUser(sg, 'few', 'Few F.');
    const many = await registerUser(sg, 'many', 'Many M.');
    const helpers = [bob, carol, alice];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        createTask(sg, few, {
          title: `few ${i}`,
          ...(i % 2 ? {} : { assigneeId: helpers[i % 3]!.id }),
        }),
      ),
    );
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          createTask(sg, many, {
            title: `many ${batch}.${i}`,
            ...(i % 2 ? {} : { assigneeId: helpers[i % 3]!.id }),
          }),
        ),
      );
    }
    const ten = await cost(few, PAGE);
    const hundred = await cost(many, PAGE);
    expect(ten.data.tasks.edges).toHaveLength(10);
    expect(hundred.data.tasks.edges).toHaveLength(100);
    expect(
      hundred.data.tasks.edges.filter(e => (e.node as unknown as { assignee: unknown }).assignee)
        .length,
    ).toBe(50);
    expect(hundred.data.tasks.edges[0]!.node).toMatchObject({ owner: { displayName: 'Many M.' } });
    console.info(
      `SQL statements for 10 tasks: tasks ${ten.tasks}, users ${ten.users}; for 100 tasks: tasks ${hundred.tasks}, users ${hundred.users}`,
    );
    expect(hundred.tasks).toBe(ten.tasks);
    expect(hundred.users).toBe(ten.users);
    // Tasks: the viewer's stub, the page, its count. Users: one statement for owners and
    // assignees together (the plan's two entity fetches reach users as one batched request).
    expect(hundred.tasks).toBe(3);
    expect(hundred.users).toBe(1);
  });

  it('User.tasks and User.assignedTasks of many users at once cost a constant number too', async () => {
    const query =
      'query ($n: Int) { users(first: $n) { edges { node { username tasks(first: 3) { totalCount edges { node { title } } } assignedTasks(first: 3) { totalCount } } } } }';
    const one = await cost(admin, query, { n: 1 });
    const all = await cost(admin, query, { n: 100 });
    const users = (
      all.data as unknown as {
        users: { edges: Array<{ node: { tasks: TaskPage; assignedTasks: TaskPage } }> };
      }
    ).users.edges;
    expect(users.length).toBeGreaterThan(5);
    expect(users.some(u => u.node.tasks.totalCount > 3 && u.node.tasks.edges.length === 3)).toBe(
      true,
    );
    expect(all.tasks).toBe(one.tasks);
  });
});
