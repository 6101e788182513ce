import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProcessSupergraph, type ProcessSupergraph } from '../support/processes.js';
import { postGraphQL } from '../support/supergraph.js';
import { proxyInFront, type TcpProxy } from '../support/tcp-proxy.js';
import { registerAt } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe, type TestSocket, type TestSubscription } from '../support/ws.js';

/**
 * Chaos, as an operator meets it, each role its own process on real Postgres and RabbitMQ: a
 * mixed write load (registrations, tasks created with an assignee, updates) while subscribers
 * listen, and meanwhile the broker is cut for every role for 5 s, the tasks database's
 * connections are reset, and the tasks process is killed with SIGKILL and started again.
 * Clients create tasks with an Idempotency-Key and retry with it while the service is away.
 * Afterwards: every acknowledged registration has its user stubs in tasks and notifications,
 * every acknowledged assignment exactly one notification, every subscriber received exactly
 * the committed changes it may see, in order; no retried creation happened twice; nothing is
 * dead-lettered, every outbox is drained, and no process died that was not killed.
 */
let sg: ProcessSupergraph;
let broker: { proxy: TcpProxy; url: string } | undefined;
let tasksDb: { proxy: TcpProxy; url: string } | undefined;

interface Subscriber {
  id: string;
  socket: TestSocket;
  sub: TestSubscription<{ taskChanged: { kind: string; taskId: string } }>;
}
const subscribers: Subscriber[] = [];

beforeAll(async () => {
  sg = await startProcessSupergraph('chaos', {
    roleEnv: async (role, env): Promise<Record<string, string>> => {
      broker ??= await proxyInFront(env.AMQP_URL!);
      if (role !== 'tasks') return { AMQP_URL: broker.url };
      tasksDb ??= await proxyInFront(env.TASKS_DATABASE_URL!);
      return { AMQP_URL: broker.url, TASKS_DATABASE_URL: tasksDb.url };
    },
  });
}, 120_000);

afterAll(async () => {
  for (const s of subscribers) await s.socket.dispose();
  await sg?.stop();
  await broker?.proxy.stop();
  await tasksDb?.proxy.stop();
});

/** A registration, or undefined when the faults made it fail (it was not acknowledged). */
const register = () => registerAt(sg.routerUrl, 'chaos').catch(() => undefined);

async function rows<T extends Record<string, unknown>>(
  url: string,
  query: (sql: postgres.Sql) => Promise<T[]>,
): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await query(sql);
  } finally {
    await sql.end();
  }
}

it('loses nothing and applies nothing twice through a broker cut, a database reset and a kill -9', async () => {
  // The first account is the admin; the subscribers are ordinary users others assign tasks to.
  await register();
  for (let i = 0; i < 4; i++) {
    const user = (await register())!;
    const socket = openSocket(sg.routerUrl, user.token);
    const sub = subscribe<Subscriber['sub']['received'][number]['data'] & object>(
      socket,
      `subscription { taskChanged { kind taskId } }`,
    ) as Subscriber['sub'];
    subscribers.push({ id: user.id, socket, sub });
  }
  const registered: string[] = [];
  const assignments: { taskId: string; assigneeId: string }[] = [];
  let operations = 0;
  let retries = 0;
  let writing = true;
  const worker = async (n: number) => {
    for (let i = 0; writing; i++) {
      const user = await register();
      if (!user) {
        await new Promise(resolve => setTimeout(resolve, 100));
        continue;
      }
      registered.push(user.id);
      operations += 1;
      const assigneeId = subscribers[(n + i) % subscribers.length]!.id;
      // As a careful client does: a key per intended change, the same key on every retry.
      const key = `chaos-${n}-${i}-${randomBytes(4).toString('hex')}`;
      let taskId: string | undefined;
      for (let attempt = 0; attempt < 30 && !taskId && writing; attempt++) {
        if (attempt > 0) await new Promise(resolve => setTimeout(resolve, 200));
        const created = await postGraphQL<{ createTask: { id: string } }>(
          sg.routerUrl,
          `mutation ($a: ID!, $t: String!) { createTask(input: { title: $t, assigneeId: $a }) { id } }`,
          {
            token: user.token,
            variables: { a: assigneeId, t: `chaos ${n}.${i}` },
            headers: { 'idempotency-key': key },
          },
        ).catch(() => undefined);
        taskId = created?.data?.createTask?.id;
        // Retry what may not have happened; a refusal for good stays one.
        const code = created?.errors?.[0]?.extensions?.code;
        if (!taskId && created && code !== 'SERVICE_UNAVAILABLE' && created.status < 500) break;
        if (!taskId) retries += 1;
      }
      if (!taskId) continue;
      assignments.push({ taskId, assigneeId });
      operations += 1;
      const updated = await postGraphQL<{ updateTask: { id: string } }>(
        sg.routerUrl,
        `mutation ($id: ID!) { updateTask(id: $id, input: { status: IN_PROGRESS }) { id } }`,
        { token: user.token, variables: { id: taskId } },
      ).catch(() => undefined);
      if (updated?.data?.updateTask) operations += 1;
    }
  };
  const workers = Array.from({ length: 6 }, (_, n) => worker(n));
  const progress = async (more: number) => {
    const target = operations + more;
    await waitFor(() => operations >= target, { timeoutMs: 60_000, intervalMs: 100 });
  };

  await progress(30);
  await broker!.proxy.stop();
  await new Promise(resolve => setTimeout(resolve, 5_000));
  await broker!.proxy.start();
  await progress(30);
  await tasksDb!.proxy.stop();
  await tasksDb!.proxy.start();
  await progress(30);
  sg.subgraphs.tasks!.kill('SIGKILL');
  await sg.subgraphs.tasks!.exited;
  await new Promise(resolve => setTimeout(resolve, 1_000));
  await sg.subgraphs.tasks!.restart();
  await progress(30);
  writing = false;
  await Promise.all(workers);

  const databases = sg.databases;
  // Every outbox drained: everything committed was published.
  await waitFor(
    async () => {
      for (const db of Object.values(databases)) {
        const [left] = await rows(
          db.url,
          sql =>
            sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`,
        );
        if (left!.n > 0) return false;
      }
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 500, message: 'outboxes not drained' },
  );
  // Every acknowledged registration has its stubs in both consumers.
  for (const name of ['tasks', 'notifications'] as const) {
    await waitFor(
      async () => {
        const stubs = await rows(
          databases[name]!.url,
          sql => sql<{ id: string }[]>`select id from user_stubs where id = any(${registered})`,
        );
        return stubs.length === registered.length;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: `user stubs missing in ${name}` },
    );
  }
  const users = await rows(
    databases.users!.url,
    sql => sql<{ id: string }[]>`select id from users where id = any(${registered})`,
  );
  expect(users).toHaveLength(registered.length);
  // Every acknowledged assignment notified its assignee exactly once.
  const taskIds = assignments.map(a => a.taskId);
  await waitFor(
    async () => {
      const notified = await rows(
        databases.notifications!.url,
        sql => sql<{ task_id: string; user_id: string; n: number }[]>`
          select task_id, user_id, count(*)::int as n from notifications
          where kind = 'TASK_ASSIGNED' and task_id = any(${taskIds}) group by task_id, user_id`,
      );
      const byTask = new Map(notified.map(r => [r.task_id, r]));
      return assignments.every(a => byTask.get(a.taskId)?.user_id === a.assigneeId)
        ? notified
        : false;
    },
    { timeoutMs: 60_000, intervalMs: 500, message: 'assignments without their notification' },
  ).then(notified => expect(notified.filter(r => r.n !== 1)).toEqual([]));
  // Every subscriber received exactly the committed changes of the tasks assigned to it.
  const events = await rows(
    databases.tasks!.url,
    sql => sql<{ task_id: string; assignee_id: string | null }[]>`
      select envelope->'data'->'task'->>'id' as task_id,
             envelope->'data'->'task'->>'assigneeId' as assignee_id
      from outbox where type like 'task.%' order by publish_seq`,
  );
  for (const s of subscribers) {
    const expected = events.filter(e => e.assignee_id === s.id).map(e => e.task_id);
    const received = () => s.sub.received.map(r => r.data?.taskChanged.taskId);
    await waitFor(() => received().length >= expected.length, {
      timeoutMs: 30_000,
      message: `a subscriber did not receive all ${expected.length} changes`,
    });
    expect(s.sub.error).toBeUndefined();
    expect(received()).toEqual(expected);
  }
  // A client that retried with its key created nothing twice.
  const twice = await rows(
    databases.tasks!.url,
    sql => sql<{ title: string; n: number }[]>`
      select title, count(*)::int as n from tasks where title like 'chaos %'
      group by title having count(*) > 1`,
  );
  expect(twice, `${retries} retries`).toEqual([]);
  // The faults made clients retry (a tasks process down answers SERVICE_UNAVAILABLE).
  expect(retries).toBeGreaterThan(0);
  // Nothing dead-lettered.
  const connection = await amqp.connect(sg.env.AMQP_URL!);
  try {
    const channel = await connection.createChannel();
    expect((await channel.checkQueue('supergraph.events.dead')).messageCount).toBe(0);
  } finally {
    await connection.close();
  }
  // No process died that was not killed.
  for (const role of [sg.router, ...Object.values(sg.subgraphs)]) {
    expect(role.child.exitCode, `${role.name}:\n${role.output()}`).toBeNull();
  }
  expect(operations).toBeGreaterThanOrEqual(120);
}, 300_000);
