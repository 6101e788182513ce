import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '#lib/pagination.js';
import { notificationsArrive } from '../support/notifications.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask, tasksKnow, type TaskNode } from '../support/tasks.js';
import {
  AUTH_FIELDS,
  errorOf,
  freshUsername,
  registerUser,
  type TestUser,
} from '../support/users.js';

/**
 * Hostile input through the router: whatever a client sends as an argument, the answer is
 * the one the API documents (BAD_USER_INPUT naming the field, null, NOT_FOUND), never an
 * INTERNAL_SERVER_ERROR from Postgres refusing what it was handed.
 */

let sg: TestSupergraph;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;
let task: TaskNode;

beforeAll(async () => {
  sg = await startTestSupergraph();
  admin = await registerUser(sg, 'admin');
  alice = await registerUser(sg, 'alice');
  bob = await registerUser(sg, 'bob');
  await tasksKnow(sg, alice, [alice, bob]);
  task = await createTask(sg, alice, { title: 'Hostile input', assigneeId: bob.id });
});
afterAll(async () => {
  await sg?.stop();
});

const NUL = '\u0000';

/** One operation with one hostile value in it, and the field the answer must name. */
interface Case {
  name: string;
  query: string;
  variables: Record<string, unknown>;
  /** Who sends it (anonymous when absent). */
  as?: TestUser;
  field: string;
}

/** A registration of a fresh user, with `override` applied to its input. */
function registration(override: Record<string, string>) {
  const username = freshUsername('hostile');
  return {
    query: `mutation ($input: RegisterInput!) { register(input: $input) { ${AUTH_FIELDS} } }`,
    variables: {
      input: {
        username,
        email: `${username}@example.com`,
        password: 'long enough pw',
        displayName: 'Hostile Person',
        ...override,
      },
    },
  };
}

const updateProfile = (input: Record<string, string>) => ({
  query: 'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }',
  variables: { input },
  as: alice,
});
const createTaskWith = (input: Record<string, unknown>) => ({
  query: 'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id } }',
  variables: { input: { title: 'A title', ...input } },
  as: alice,
});
const updateTaskWith = (input: Record<string, unknown>) => ({
  query:
    'mutation ($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { id } }',
  variables: { id: task.id, input },
  as: alice,
});
const taskSearch = (path: 'tasks' | 'me.tasks' | 'me.assignedTasks', search: string) => ({
  query:
    path === 'tasks'
      ? 'query ($f: TaskFilter) { tasks(filter: $f) { totalCount } }'
      : `query ($f: TaskFilter) { me { ${path.slice(3)}(filter: $f) { totalCount } } }`,
  variables: { f: { search } },
  as: alice,
});
const userSearch = (search: string) => ({
  query: 'query ($s: String) { users(search: $s) { totalCount } }',
  variables: { s: search },
  as: admin,
});

async function send(c: Pick<Case, 'query' | 'variables' | 'as'>) {
  return sg.gql(c.query, { variables: c.variables, token: c.as?.accessToken ?? null });
}

/**
 * Sends every case and expects each to be BAD_USER_INPUT naming its field, with a message that
 * says why; compared all at once, so a failure lists every case that answered otherwise.
 */
async function expectRefused(cases: Case[], why: RegExp) {
  const answers: Record<string, unknown> = {};
  for (const c of cases) answers[c.name] = errorOf(await send(c)) ?? 'accepted';
  expect(answers).toEqual(
    Object.fromEntries(
      cases.map(c => [
        c.name,
        { code: 'BAD_USER_INPUT', field: c.field, message: expect.stringMatching(why) },
      ]),
    ),
  );
}

describe('a NUL byte in a string argument', () => {
  it('is BAD_USER_INPUT naming the field, for every text argument', async () => {
    await expectRefused(
      [
        {
          name: 'register username',
          ...registration({ username: `nul${NUL}user` }),
          field: 'input.username',
        },
        {
          name: 'register email',
          ...registration({ email: `nul${NUL}@example.com` }),
          field: 'input.email',
        },
        {
          name: 'register displayName',
          ...registration({ displayName: `Nul${NUL}Person` }),
          field: 'input.displayName',
        },
        {
          name: 'login login',
          query: 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
          variables: { input: { login: `${alice.username}${NUL}`, password: alice.password } },
          field: 'input.login',
        },
        {
          name: 'updateProfile displayName',
          ...updateProfile({ displayName: `A${NUL}` }),
          field: 'input.displayName',
        },
        { name: 'updateProfile bio', ...updateProfile({ bio: `Bio${NUL}` }), field: 'input.bio' },
        {
          name: 'updateProfile email',
          ...updateProfile({ email: `a${NUL}@example.com` }),
          field: 'input.email',
        },
        { name: 'users search', ...userSearch(`ali${NUL}`), field: 'search' },
        { name: 'tasks search', ...taskSearch('tasks', `re${NUL}port`), field: 'filter.search' },
        { name: 'User.tasks search', ...taskSearch('me.tasks', NUL), field: 'filter.search' },
        {
          name: 'User.assignedTasks search',
          ...taskSearch('me.assignedTasks', NUL),
          field: 'filter.search',
        },
        { name: 'createTask title', ...createTaskWith({ title: `T${NUL}` }), field: 'input.title' },
        {
          name: 'createTask description',
          ...createTaskWith({ description: `D${NUL}` }),
          field: 'input.description',
        },
        { name: 'updateTask title', ...updateTaskWith({ title: `T${NUL}` }), field: 'input.title' },
        {
          name: 'updateTask description',
          ...updateTaskWith({ description: `D${NUL}` }),
          field: 'input.description',
        },
      ],
      /must not contain/,
    );
  });

  it('is BAD_USER_INPUT in a password, wherever one is sent', async () => {
    // Carol's password would change (and her sessions end) if a case were let through.
    const carol = await registerUser(sg, 'carol');
    await expectRefused(
      [
        {
          name: 'register password',
          ...registration({ password: `long enough${NUL}pw` }),
          field: 'input.password',
        },
        {
          name: 'login password',
          query: 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
          variables: { input: { login: carol.username, password: `${carol.password}${NUL}` } },
          field: 'input.password',
        },
        {
          name: 'changePassword currentPassword',
          query:
            'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
          variables: { c: `${carol.password}${NUL}`, n: 'a new long password' },
          as: carol,
          field: 'currentPassword',
        },
        {
          name: 'changePassword newPassword',
          query:
            'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
          variables: { c: carol.password, n: `a new long${NUL}password` },
          as: carol,
          field: 'newPassword',
        },
        {
          name: 'deleteAccount password',
          query: 'mutation ($p: String!) { deleteAccount(password: $p) }',
          variables: { p: `${carol.password}${NUL}` },
          as: carol,
          field: 'password',
        },
      ],
      /must not contain NUL/,
    );
    // Every other character of a password is the user's own business.
    const odd = await send(registration({ password: 'tab\there\nand\u0007bell' }));
    expect(odd.errors).toBeUndefined();
  });

  it('written inline as \\u0000 is refused the same way', async () => {
    const res = await sg.gql(
      'mutation { updateProfile(input: { displayName: "A\\u0000B" }) { id } }',
      {
        token: alice.accessToken,
      },
    );
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.displayName' });
  });

  it('in a refresh token is an invalid token, as any token not issued by this API', async () => {
    const refreshed = await sg.gql(
      'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }',
      {
        variables: { t: `${alice.refreshToken}${NUL}` },
      },
    );
    expect(errorOf(refreshed)?.code).toBe('UNAUTHENTICATED');
    const loggedOut = await sg.gql<{ logout: boolean }>(
      'mutation ($t: String!) { logout(refreshToken: $t) }',
      {
        variables: { t: `${NUL}${alice.refreshToken}` },
        token: alice.accessToken,
      },
    );
    expect(loggedOut.errors).toBeUndefined();
    expect(loggedOut.data?.logout).toBe(false);
  });
});

describe('control characters in a single-line field', () => {
  it('are refused; tabs and line breaks are kept where text may span lines', async () => {
    await expectRefused(
      [
        {
          name: 'displayName newline',
          ...updateProfile({ displayName: 'Ali\nce' }),
          field: 'input.displayName',
        },
        {
          name: 'displayName escape',
          ...updateProfile({ displayName: '\u001b[31mAlice' }),
          field: 'input.displayName',
        },
        {
          name: 'email bell',
          ...updateProfile({ email: 'a\u0007@example.com' }),
          field: 'input.email',
        },
        { name: 'title tab', ...createTaskWith({ title: 'a\tb' }), field: 'input.title' },
        { name: 'title DEL', ...createTaskWith({ title: 'a\u007fb' }), field: 'input.title' },
        { name: 'search escape', ...taskSearch('tasks', '\u001b'), field: 'filter.search' },
        { name: 'users search newline', ...userSearch('a\nb'), field: 'search' },
        {
          name: 'login control',
          query: 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
          variables: { input: { login: 'a\u0001b', password: 'whatever pw' } },
          field: 'input.login',
        },
        {
          name: 'description bell',
          ...createTaskWith({ description: 'ding\u0007' }),
          field: 'input.description',
        },
        { name: 'bio escape', ...updateProfile({ bio: '\u001b[2J' }), field: 'input.bio' },
      ],
      /must not contain control characters/,
    );
    const multiLine = 'line one\n\tline two\r\nline three';
    const created = await sg.gql<{ createTask: { description: string } }>(
      'mutation ($input: CreateTaskInput!) { createTask(input: $input) { description } }',
      {
        variables: { input: { title: '  Multi-line  \n', description: multiLine } },
        token: alice.accessToken,
      },
    );
    expect(created.errors).toBeUndefined();
    expect(created.data?.createTask.description).toBe(multiLine);
    const profile = await sg.gql<{ updateProfile: { bio: string; displayName: string } }>(
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { bio displayName } }',
      {
        variables: { input: { bio: multiLine, displayName: ' Alice\n' } },
        token: alice.accessToken,
      },
    );
    expect(profile.errors).toBeUndefined();
    expect(profile.data?.updateProfile).toEqual({ bio: multiLine, displayName: 'Alice' });
  });

  it('lone surrogates (text that is not Unicode) are refused', async () => {
    await expectRefused(
      [
        {
          name: 'displayName',
          ...updateProfile({ displayName: 'A\ud800' }),
          field: 'input.displayName',
        },
        { name: 'title', ...createTaskWith({ title: '\udc00' }), field: 'input.title' },
        {
          name: 'description',
          ...createTaskWith({ description: 'x\ud83d' }),
          field: 'input.description',
        },
      ],
      /must be valid Unicode/,
    );
  });
});

describe('ids of the wrong shape', () => {
  const assign = (assigneeId: string) => ({
    query: 'mutation ($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }',
    variables: { id: task.id, a: assigneeId },
    as: alice,
  });

  it('an assigneeId of no user, "" included, is BAD_USER_INPUT naming it', async () => {
    const cases = ['', NUL, 'not-a-uuid', randomUUID()].flatMap((id): Case[] => [
      {
        name: `createTask ${JSON.stringify(id)}`,
        ...createTaskWith({ assigneeId: id }),
        field: 'input.assigneeId',
      },
      { name: `assignTask ${JSON.stringify(id)}`, ...assign(id), field: 'assigneeId' },
    ]);
    await expectRefused(cases, /No such user/);
  });

  it('elsewhere name nothing: null, NOT_FOUND or an empty list, as the API documents', async () => {
    for (const id of ['', NUL, 'not-a-uuid', `${randomUUID()}${NUL}`]) {
      const label = JSON.stringify(id);
      const read = await sg.gql('query ($id: ID!) { task(id: $id) { id } user(id: $id) { id } }', {
        variables: { id },
        token: alice.accessToken,
      });
      expect(read, label).toMatchObject({ data: { task: null, user: null } });
      expect(read.errors, label).toBeUndefined();
      const listed = await sg.gql('query ($f: TaskFilter) { tasks(filter: $f) { totalCount } }', {
        variables: { f: { ownerId: id, assigneeId: id } },
        token: alice.accessToken,
      });
      expect(listed, label).toMatchObject({ data: { tasks: { totalCount: 0 } } });
      expect(listed.errors, label).toBeUndefined();
      for (const [mutation, user] of [
        ['updateTask(id: $id, input: { title: "x" }) { id }', alice],
        ['deleteTask(id: $id)', alice],
        ['assignTask(id: $id, assigneeId: null) { id }', alice],
        ['markNotificationRead(id: $id) { id }', alice],
        ['setUserRole(userId: $id, role: ADMIN) { id }', admin],
      ] as const) {
        const res = await sg.gql(`mutation ($id: ID!) { ${mutation} }`, {
          variables: { id },
          token: user.accessToken,
        });
        expect(errorOf(res)?.code, `${mutation} ${label}`).toBe('NOT_FOUND');
      }
    }
  });
});

describe('a dueDate that is not a date string', () => {
  it('is BAD_USER_INPUT naming dueDate, inline or as a variable, with HTTP 400', async () => {
    const cases: Case[] = [
      {
        name: 'createTask variable',
        ...createTaskWith({ dueDate: 20240101 }),
        field: 'input.dueDate',
      },
      {
        name: 'updateTask variable',
        ...updateTaskWith({ dueDate: 20240101 }),
        field: 'input.dueDate',
      },
      {
        name: 'createTask object',
        ...createTaskWith({ dueDate: { y: 2024 } }),
        field: 'input.dueDate',
      },
      {
        name: 'createTask inline',
        query: 'mutation { createTask(input: { title: "t", dueDate: 20240101 }) { id } }',
        variables: {},
        as: alice,
        field: 'input.dueDate',
      },
      {
        name: 'updateTask inline',
        query: `mutation { updateTask(id: "${task.id}", input: { dueDate: 2024.5 }) { id } }`,
        variables: {},
        as: alice,
        field: 'input.dueDate',
      },
      {
        name: 'dueDate variable',
        query: 'mutation ($d: Date) { createTask(input: { title: "t", dueDate: $d }) { id } }',
        variables: { d: 20240101 },
        as: alice,
        field: 'input.dueDate',
      },
    ];
    await expectRefused(cases, /must be a calendar date as YYYY-MM-DD/);
    for (const c of cases) expect((await send(c)).status, c.name).toBe(400);
  });
});

describe('forged cursors', () => {
  // Well-formed dates of a year Postgres has no date for, and what is no date at all.
  const badTimestamps: unknown[] = [
    '0000-01-01T00:00:00.000Z',
    '0000-12-31T23:59:59Z',
    '10000-01-01T00:00:00.000Z',
    '+010000-01-01T00:00:00.000Z',
    '-000001-01-01T00:00:00.000Z',
    'NaN',
    'Invalid Date',
    1e308,
    -8.64e15,
    null,
  ];
  const badDates: unknown[] = [
    '0000-01-01',
    '0000-02-29',
    '10000-01-01',
    '+010000-01-01',
    'NaN',
    1e308,
  ];

  /** A forged cursor sent through one list field. */
  interface Forged {
    name: string;
    query: string;
    after: string;
    as: TestUser;
  }

  /** Every forged cursor must be BAD_USER_INPUT naming `after`; compared all at once. */
  const expectCursorsRefused = (forged: Forged[]) =>
    expectRefused(
      forged.map(f => ({
        name: f.name,
        query: f.query,
        variables: { a: f.after },
        as: f.as,
        field: 'after',
      })),
      /after is not a cursor issued by this API/,
    );

  it('of tasks, holding a date Postgres cannot take, are BAD_USER_INPUT naming after', async () => {
    const orderings = [
      ['CREATED_AT', badTimestamps],
      ['UPDATED_AT', badTimestamps],
      ['DUE_DATE', badDates],
    ] as const;
    const forged = orderings.flatMap(([field, values]) =>
      ['ASC', 'DESC'].flatMap(direction => {
        const order = `{ field: ${field}, direction: ${direction} }`;
        return values.flatMap(value => {
          const after = encodeCursor(`tasks:${field}:${direction}`, [value, task.id]);
          const label = `${field} ${direction} ${JSON.stringify(value)}`;
          return [
            {
              name: `tasks ${label}`,
              query: `query ($a: String) { tasks(orderBy: ${order}, after: $a) { totalCount } }`,
              after,
              as: alice,
            },
            {
              name: `User.tasks ${label}`,
              query: `query ($a: String) { me { tasks(orderBy: ${order}, after: $a) { totalCount } } }`,
              after,
              as: alice,
            },
          ];
        });
      }),
    );
    await expectCursorsRefused(forged);
  });

  it('of notifications, holding a date Postgres cannot take, are BAD_USER_INPUT naming after', async () => {
    await expectCursorsRefused(
      badTimestamps.flatMap(value => {
        const after = encodeCursor('notifications', [value, randomUUID()]);
        return [
          {
            name: `notifications ${JSON.stringify(value)}`,
            query: 'query ($a: String) { notifications(after: $a) { totalCount } }',
            after,
            as: bob,
          },
          {
            name: `User.notifications ${JSON.stringify(value)}`,
            query: 'query ($a: String) { me { notifications(after: $a) { totalCount } } }',
            after,
            as: bob,
          },
        ];
      }),
    );
  });

  it('of users, holding what no username is, are BAD_USER_INPUT naming after', async () => {
    await expectCursorsRefused(
      [`ali${NUL}ce`, NUL, 'bell\u0007', 'a\nb', '', 'UPPER', 42].map(value => ({
        name: `users ${JSON.stringify(value)}`,
        query: 'query ($a: String) { users(after: $a) { totalCount } }',
        after: encodeCursor('users', value),
        as: admin,
      })),
    );
  });

  it('that this API issued still page on, whatever their position holds', async () => {
    // Bob's notification of his assignment arrives by an event: wait for it, not a while.
    await notificationsArrive(sg, bob, 1);
    // The tasks have no due date (a null position); the other cursors hold timestamps.
    const lists = {
      created: 'tasks(first: 1, after: $a) { pageInfo { endCursor } }',
      updated:
        'tasks(first: 1, after: $a, orderBy: { field: UPDATED_AT, direction: ASC }) { pageInfo { endCursor } }',
      due: 'tasks(first: 1, after: $a, orderBy: { field: DUE_DATE, direction: ASC }) { pageInfo { endCursor } }',
      users: 'users(first: 1, after: $a) { pageInfo { endCursor } }',
      notifications: 'notifications(first: 1, after: $a) { pageInfo { endCursor } }',
    };
    for (const [name, list] of Object.entries(lists)) {
      const page = async (after: string | null) => {
        const res = await sg.gql<Record<string, { pageInfo: { endCursor: string | null } }>>(
          `query ($a: String) { list: ${list} }`,
          { variables: { a: after }, token: (name === 'notifications' ? bob : admin).accessToken },
        );
        expect(res.errors, name).toBeUndefined();
        return res.data!.list!.pageInfo.endCursor;
      };
      const cursor = await page(null);
      expect(cursor, name).toEqual(expect.any(String));
      await page(cursor);
    }
  });
});
