import { connect } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  postGraphQL,
  startRouterReplica,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { proxyInFront, type TcpProxy } from '../support/tcp-proxy.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';

let sg: TestSupergraph;
/** A router that reaches users through `usersLink`, which a test cuts. */
let router: Awaited<ReturnType<typeof startRouterReplica>>;
let usersLink: TcpProxy;
let alice: TestUser;
let bob: TestUser;
/** The tasks database, to count what was really written. */
let tasksDb: postgres.Sql;

beforeAll(async () => {
  sg = await startTestSupergraph();
  const proxied = await proxyInFront(`${sg.supergraph.subgraphs.users!.url}/graphql`);
  usersLink = proxied.proxy;
  router = await startRouterReplica(sg, { subgraphUrls: { users: proxied.url } });
  alice = await registerUser(sg, 'idem');
  bob = await registerUser(sg, 'idemb');
  tasksDb = postgres(sg.databaseUrls.tasks, { max: 1, onnotice: () => {} });
}, 120_000);
afterAll(async () => {
  await tasksDb?.end();
  await router?.stop();
  await usersLink?.stop();
  await sg?.stop();
});

describe('a mutation whose own change committed while another subgraph is down', () => {
  it('answers with its data, and the error on the field that needed the other subgraph', async () => {
    const task = await createTask(sg, alice, { title: 'Assigned while users is down' });
    await usersLink.stop();
    try {
      const res = await postGraphQL<{
        assignTask: { id: string; title: string; assignee: { id: string; username: string } };
      }>(
        router.url,
        'mutation ($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id title assignee { id username } } }',
        { token: alice.accessToken, variables: { id: task.id, a: alice.id } },
      );
      expect(res.status).toBe(200);
      expect(res.data?.assignTask).toMatchObject({ id: task.id, title: task.title });
      expect(res.errors).toHaveLength(1);
      expect(res.errors?.[0]).toMatchObject({
        path: ['assignTask', 'assignee'],
        extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter: expect.any(Number) },
      });
    } finally {
      await usersLink.start();
    }
    // It did commit: the task is assigned, as a read through the router shows.
    const after = await sg.gql<{ task: { assignee: { username: string } | null } }>(
      'query ($id: ID!) { task(id: $id) { assignee { username } } }',
      { token: alice.accessToken, variables: { id: task.id } },
    );
    expect(after.data?.task.assignee?.username).toBe(alice.username);
  }, 60_000);

  it('says a mutation nulled by a non-null field of a subgraph that is down ran (no 503), and a keyed retry gets it once', async () => {
    const title = unique('Owner needed');
    const key = unique('key');
    const create = () =>
      postGraphQL<{ createTask: { id: string; owner: { username: string } } }>(
        router.url,
        'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id owner { username } } }',
        {
          token: alice.accessToken,
          variables: { input: { title } },
          headers: { 'idempotency-key': key },
        },
      );
    await usersLink.stop();
    let lost;
    try {
      lost = await create();
    } finally {
      await usersLink.start();
    }
    // Task.owner is User!, its username comes from users: the null reaches the root.
    expect(lost.data).toBeNull();
    expect(lost.errors?.[0]).toMatchObject({
      path: ['createTask', 'owner'],
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    });
    // Not 503 "nothing ran": the task was created.
    expect(lost.status).toBe(200);
    expect(await tasksTitled(title)).toBe(1);
    const retried = await create();
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.createTask.owner.username).toBe(alice.username);
    expect(await tasksTitled(title)).toBe(1);
  }, 60_000);

  it('keeps a query’s other data, with an error at each entity and root field that failed', async () => {
    await createTask(sg, alice, { title: 'One', assigneeId: alice.id });
    await createTask(sg, alice, { title: 'Two', assigneeId: alice.id });
    await usersLink.stop();
    try {
      const res = await postGraphQL<{
        me: null;
        tasks: { edges: Array<{ node: { title: string; assignee: null } }> };
      }>(
        router.url,
        '{ me { id } tasks(first: 2, orderBy: { field: CREATED_AT, direction: DESC }) { edges { node { title assignee { username } } } } }',
        { token: alice.accessToken },
      );
      expect(res.status).toBe(200);
      expect(res.data?.me).toBeNull();
      expect(res.data?.tasks.edges.map(e => e.node)).toEqual([
        { title: 'Two', assignee: null },
        { title: 'One', assignee: null },
      ]);
      expect(res.errors?.map(e => [e.path, e.extensions?.code])).toEqual(
        expect.arrayContaining([
          [['me'], 'SERVICE_UNAVAILABLE'],
          [['tasks', 'edges', 0, 'node', 'assignee'], 'SERVICE_UNAVAILABLE'],
          [['tasks', 'edges', 1, 'node', 'assignee'], 'SERVICE_UNAVAILABLE'],
        ]),
      );
      expect(res.errors).toHaveLength(3);
    } finally {
      await usersLink.start();
    }
  }, 60_000);
});

const CREATE =
  'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id title owner { id } } }';
type Created = { createTask: { id: string; title: string; owner: { id: string } } };

/** `createTask` through `url` (the router by default) under `key`. */
const createKeyed = (
  user: TestUser,
  key: string | undefined,
  title: string,
  url: string = sg.url,
  more: Record<string, string> = {},
) =>
  postGraphQL<Created>(url, CREATE, {
    token: user.accessToken,
    variables: { input: { title } },
    headers: { ...(key === undefined ? {} : { 'idempotency-key': key }), ...more },
  });

/** How many tasks have this title, in the database itself. */
async function tasksTitled(title: string): Promise<number> {
  const [row] = await tasksDb<
    { n: number }[]
  >`select count(*)::int as n from tasks where title = ${title}`;
  return row!.n;
}

const unique = (prefix: string) => `${prefix} ${Math.random().toString(36).slice(2, 10)}`;

describe('Idempotency-Key', () => {
  it('answers a repeat with the first answer, and does the change once', async () => {
    const title = unique('Once');
    const key = unique('key');
    const first = await createKeyed(alice, key, title);
    expect(first.errors).toBeUndefined();
    const again = await createKeyed(alice, key, title);
    expect(again.status).toBe(200);
    expect(again.data).toEqual(first.data);
    expect(await tasksTitled(title)).toBe(1);
    // Without a key, the same request is a new one.
    const unkeyed = await createKeyed(alice, undefined, title);
    expect(unkeyed.data?.createTask.id).not.toBe(first.data?.createTask.id);
    expect(await tasksTitled(title)).toBe(2);
  });

  it('runs concurrent repeats once: every one gets the same task', async () => {
    const title = unique('Concurrent');
    const key = unique('key');
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => createKeyed(alice, key, title)),
    );
    const ids = new Set(answers.map(a => a.data?.createTask.id));
    expect(answers.every(a => a.errors === undefined)).toBe(true);
    expect(ids.size).toBe(1);
    expect(await tasksTitled(title)).toBe(1);
  });

  it('refuses a key reused with other variables, and changes nothing', async () => {
    const key = unique('key');
    const title = unique('First');
    await createKeyed(alice, key, title);
    const other = unique('Other');
    const reused = await createKeyed(alice, key, other);
    expect(reused.data).toBeNull();
    expect(errorOf(reused)).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'idempotency-key',
      message: expect.stringMatching(/already used for another operation or other variables/),
    });
    expect(await tasksTitled(other)).toBe(0);
    // And with another operation altogether.
    const elsewhere = await postGraphQL(
      sg.url,
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }',
      {
        token: alice.accessToken,
        variables: { input: { bio: 'x' } },
        headers: { 'idempotency-key': key },
      },
    );
    // updateProfile is the users subgraph's: its own record, which this key has not been used for.
    expect(elsewhere.errors).toBeUndefined();
    const notTasks = await postGraphQL<{ updateTask: unknown }>(
      sg.url,
      'mutation ($id: ID!) { updateTask(id: $id, input: { title: "changed" }) { id } }',
      { token: alice.accessToken, variables: { id: 'x' }, headers: { 'idempotency-key': key } },
    );
    expect(errorOf(notTasks)?.code).toBe('BAD_USER_INPUT');
    expect(errorOf(notTasks)?.field).toBe('idempotency-key');
  });

  it('keeps two users’ keys apart: the same key is each one’s own, nothing leaks', async () => {
    const key = unique('shared');
    const mine = await createKeyed(alice, key, unique('Alice’s'));
    const theirs = await createKeyed(bob, key, unique('Bob’s'));
    expect(theirs.errors).toBeUndefined();
    expect(theirs.data?.createTask.owner.id).toBe(bob.id);
    expect(theirs.data?.createTask.id).not.toBe(mine.data?.createTask.id);
    // Bob sending Alice's exact request under her key gets a task of his own, not hers.
    const again = unique('key');
    const title = unique('Same request');
    const hers = await createKeyed(alice, again, title);
    const his = await createKeyed(bob, again, title);
    expect(his.errors).toBeUndefined();
    expect(his.data?.createTask.owner.id).toBe(bob.id);
    expect(his.data?.createTask.id).not.toBe(hers.data?.createTask.id);
    expect(JSON.stringify(his)).not.toContain(hers.data!.createTask.id);
    expect(await tasksTitled(title)).toBe(2);
  });

  it('keeps an answer that refused for good, and runs again once the key has expired', async () => {
    const key = unique('key');
    const missing = '00000000-0000-4000-8000-000000000000';
    const update = () =>
      postGraphQL(sg.url, 'mutation ($id: ID!) { deleteTask(id: $id) }', {
        token: alice.accessToken,
        variables: { id: missing },
        headers: { 'idempotency-key': key },
      });
    expect(errorOf(await update())?.code).toBe('NOT_FOUND');
    expect(errorOf(await update())?.code).toBe('NOT_FOUND');
    const [row] = await tasksDb<{ n: number }[]>`
      select count(*)::int as n from idempotency_keys where viewer = ${alice.id} and key = ${`1:${key}`}`;
    expect(row!.n).toBe(1);

    const title = unique('Expired');
    const expiring = unique('key');
    const first = await createKeyed(alice, expiring, title);
    await tasksDb`update idempotency_keys set created_at = now() - interval '25 hours'
      where viewer = ${alice.id} and key = ${`1:${expiring}`}`;
    const later = await createKeyed(alice, expiring, title);
    expect(later.data?.createTask.id).not.toBe(first.data?.createTask.id);
    expect(await tasksTitled(title)).toBe(2);
  });

  it('records each mutation request of one operation to a subgraph on its own', async () => {
    // tasks, users, tasks: the plan sends tasks two requests, `1:key` and `2:key`.
    const [first, second] = [unique('Before'), unique('After')];
    const key = unique('key');
    const operation = () =>
      postGraphQL<{ a: { id: string }; b: { id: string } }>(
        sg.url,
        `mutation ($a: CreateTaskInput!, $b: CreateTaskInput!) {
          a: createTask(input: $a) { id }
          updateProfile(input: { bio: "between" }) { id }
          b: createTask(input: $b) { id }
        }`,
        {
          token: alice.accessToken,
          variables: { a: { title: first }, b: { title: second } },
          headers: { 'idempotency-key': key },
        },
      );
    const once = await operation();
    expect(once.errors).toBeUndefined();
    const twice = await operation();
    expect(twice.data).toEqual(once.data);
    expect(await tasksTitled(first)).toBe(1);
    expect(await tasksTitled(second)).toBe(1);
    const records = await tasksDb<{ key: string }[]>`
      select key from idempotency_keys where viewer = ${alice.id} and key like ${`%:${key}`}
      order by key`;
    expect(records.map(r => r.key)).toEqual([`1:${key}`, `2:${key}`]);
  });

  it('is ignored on anonymous mutations: their answers hold tokens, never stored or replayed', async () => {
    const username = unique('anon').replace(' ', '_');
    const register = () =>
      postGraphQL<{ register: { accessToken: string } }>(
        sg.url,
        'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }',
        {
          variables: {
            input: { username, email: `${username}@example.com`, password: 'long enough secret' },
          },
          headers: { 'idempotency-key': 'anonymous-key' },
        },
      );
    expect((await register()).errors).toBeUndefined();
    expect(errorOf(await register())?.code).toBe('CONFLICT');
    const usersDb = postgres(sg.databaseUrls.users, { max: 1, onnotice: () => {} });
    try {
      const [stored] = await usersDb<{ n: number }[]>`
        select count(*)::int as n from idempotency_keys where key like '%anonymous-key'`;
      expect(stored!.n).toBe(0);
    } finally {
      await usersDb.end();
    }
  });

  it('never records a mutation whose answer holds tokens, even for a signed-in caller', async () => {
    const carol = await registerUser(sg, 'idemc');
    const refresh = () =>
      postGraphQL<{ refreshToken: { refreshToken: string } }>(
        sg.url,
        'mutation ($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }',
        {
          token: carol.accessToken,
          variables: { t: carol.refreshToken },
          headers: { 'idempotency-key': 'refresh-key' },
        },
      );
    const rotated = await refresh();
    expect(rotated.errors).toBeUndefined();
    // A replay would hand the new tokens out again; instead the spent token is refused.
    const again = await refresh();
    expect(again.data).toBeNull();
    expect(JSON.stringify(again)).not.toContain(rotated.data!.refreshToken.refreshToken);
    const usersDb = postgres(sg.databaseUrls.users, { max: 1, onnotice: () => {} });
    try {
      const [stored] = await usersDb<{ n: number }[]>`
        select count(*)::int as n from idempotency_keys where viewer = ${carol.id}`;
      expect(stored!.n).toBe(0);
    } finally {
      await usersDb.end();
    }
  });

  it('is ignored on a query', async () => {
    const res = await postGraphQL<{ me: { id: string } }>(sg.url, '{ me { id } }', {
      token: alice.accessToken,
      headers: { 'idempotency-key': unique('key') },
    });
    expect(res.data?.me.id).toBe(alice.id);
  });

  it('refuses a malformed key with BAD_USER_INPUT before anything runs', async () => {
    const title = unique('Hostile');
    const keys = ['', ' ', 'k'.repeat(10_000), 'k'.repeat(256), 'tab\there', 'caf\u00e9'];
    for (const key of keys) {
      const res = await postGraphQL<Created>(sg.url, CREATE, {
        token: alice.accessToken,
        variables: { input: { title } },
        headers: { 'idempotency-key': key },
      });
      expect(res.status, JSON.stringify(key.slice(0, 20))).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotency-key' });
    }
    // 255 characters is the longest key there is.
    const longest = await createKeyed(alice, 'k'.repeat(255), unique('Longest'));
    expect(longest.errors).toBeUndefined();
    expect(await tasksTitled(title)).toBe(0);
  });

  it('refuses a key given twice, and one with a NUL byte', async () => {
    const title = unique('Twice');
    const body = JSON.stringify({ query: CREATE, variables: { input: { title } } });
    /** node:http and fetch check header values themselves: the request is written by hand. */
    const send = (rawHeaders: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(sg.url);
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(
            `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
              `authorization: Bearer ${alice.accessToken}\r\n${rawHeaders}` +
              `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
          );
        });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('end', () => {
          const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
          resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
        });
        socket.on('error', reject);
      });
    const twice = await send('idempotency-key: a\r\nidempotency-key: b\r\n');
    expect(twice.status).toBe(400);
    expect(twice.body).toMatch(/BAD_USER_INPUT/);
    expect(twice.body).toMatch(/given once/);
    // A NUL byte never reaches the router: Node's HTTP parser refuses the request as malformed.
    const nul = await send('idempotency-key: a\u0000b\r\n');
    expect(nul.status).toBe(400);
    expect(await tasksTitled(title)).toBe(0);
  });
});
