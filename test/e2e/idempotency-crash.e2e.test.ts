import { spawn, type ChildProcess } from 'node:child_process';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestVhost, type TestVhost } from '../support/amqp.js';
import { freePort } from '../support/ports.js';
import {
  postGraphQL,
  startRouterReplica,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * The tasks subgraph as its own process (`subgraphs/main.ts tasks`, as a container runs it),
 * killed with SIGKILL after it committed a mutation and wrote its answer, before the answer
 * reached the router: the client hears only that it failed. Restarted, the retry under the
 * same Idempotency-Key answers with the task the first attempt created, and nothing exists
 * twice. The child uses the production exchange names, so it runs in a RabbitMQ virtual host
 * of its own; the rest of the supergraph runs in this process.
 */
let sg: TestSupergraph;
let vhost: TestVhost;
let tasksDb: postgres.Sql;
let port: number;
let link: TcpProxy;
let router: Awaited<ReturnType<typeof startRouterReplica>>;
let child: { process: ChildProcess; exited: Promise<number | null> } | undefined;
let alice: TestUser;

/** Starts tasks as a child process on `port` and the test's tasks database; resolves when ready. */
async function startTasks(): Promise<void> {
  const spawned = spawn(process.execPath, ['--import', 'tsx', 'subgraphs/main.ts', 'tasks'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      TASKS_PORT: String(port),
      TASKS_DATABASE_URL: sg.databaseUrls.tasks,
      AMQP_URL: vhost.url,
      ROUTER_SECRET: sg.config.routerSecret,
      JWT_SECRET: sg.config.jwt.secret,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child = {
    process: spawned,
    exited: new Promise(resolve => spawned.once('exit', code => resolve(code))),
  };
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null))?.ok === true,
    { timeoutMs: 60_000 },
  );
}

beforeAll(async () => {
  sg = await startTestSupergraph();
  vhost = await createTestVhost('idemcrash');
  tasksDb = postgres(sg.databaseUrls.tasks, { max: 1, onnotice: () => {} });
  port = await freePort();
  await startTasks();
  link = new TcpProxy('127.0.0.1', port);
  await link.start();
  router = await startRouterReplica(sg, {
    subgraphUrls: { tasks: `http://127.0.0.1:${link.port}/graphql` },
  });
  alice = await registerUser(sg, 'crash');
}, 120_000);

afterAll(async () => {
  await router?.stop();
  await link?.stop();
  if (child && child.process.exitCode === null && child.process.signalCode === null) {
    child.process.kill('SIGKILL');
    await child.exited;
  }
  await tasksDb?.end();
  await sg?.stop();
  await vhost?.delete();
});

const CREATE =
  'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id title owner { id } } }';

const create = (title: string, key?: string) =>
  postGraphQL<{ createTask: { id: string; title: string } }>(router.url, CREATE, {
    token: alice.accessToken,
    variables: { input: { title } },
    headers: key ? { 'idempotency-key': key } : {},
  });

/** The tasks with this title, and the `task.created` events written for them, in the database. */
async function written(title: string) {
  const tasks = await tasksDb<{ id: string }[]>`select id from tasks where title = ${title}`;
  const [events] = await tasksDb<{ n: number }[]>`
    select count(*)::int as n from outbox
    where type = 'task.created' and envelope -> 'data' -> 'task' ->> 'title' = ${title}`;
  return { ids: tasks.map(t => t.id), events: events!.n };
}

it('answers the retry of a mutation whose answer died with its process, and creates nothing twice', async () => {
  const title = `Survives kill -9 ${Date.now()}`;
  const key = `crash-${Date.now()}`;

  // The answer is on its way when the process dies: committed, never delivered.
  link.dropNextAnswer(() => child?.process.kill('SIGKILL'));
  const lost = await create(title, key);
  expect(await child?.exited).toBeNull();
  expect(lost.data ?? null).toBeNull();
  expect(lost.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
  const committed = await written(title);
  expect(committed.ids).toHaveLength(1);

  await startTasks();
  const retried = await create(title, key);
  expect(retried.errors).toBeUndefined();
  expect(retried.data?.createTask).toEqual({
    id: committed.ids[0],
    title,
    owner: { id: alice.id },
  });
  // Again, for good measure: still the same task.
  expect((await create(title, key)).data?.createTask.id).toBe(committed.ids[0]);
  expect(await written(title)).toEqual({ ids: committed.ids, events: 1 });

  // What the key prevents: the same retry without one is a second task.
  const unkeyed = await create(title);
  expect(unkeyed.data?.createTask.id).not.toBe(committed.ids[0]);
  expect((await written(title)).ids).toHaveLength(2);
}, 120_000);
