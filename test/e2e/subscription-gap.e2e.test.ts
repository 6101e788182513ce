import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProcessSupergraph, type ProcessSupergraph } from '../support/processes.js';
import { postGraphQL } from '../support/supergraph.js';
import { registerAt } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe, type TestSocket, type TestSubscription } from '../support/ws.js';

/**
 * Subscribers must not miss what happens while their subgraph restarts. Each role its own
 * process on real Postgres and RabbitMQ: users subscribe to `taskChanged` through the router
 * and keep changing their tasks; the tasks subgraph is killed with SIGKILL and started again
 * while they do. Changes made after it is back but before the router's socket to it has
 * reconnected (its backoff) used to be lost; the router now resubscribes from the last event
 * it saw and the subgraph replays the rest from its outbox. Every subscriber receives exactly
 * the changes that were committed to its tasks, in order, once each.
 */
let sg: ProcessSupergraph;

interface Subscriber {
  username: string;
  token: string;
  taskId: string;
  socket: TestSocket;
  sub: TestSubscription<{ taskChanged: { kind: string; taskId: string; task: { title: string } } }>;
  acknowledged: string[];
}
const subscribers: Subscriber[] = [];

beforeAll(async () => {
  sg = await startProcessSupergraph('gap');
}, 120_000);

afterAll(async () => {
  for (const s of subscribers) await s.socket.dispose();
  await sg?.stop();
});

const gql = <T>(token: string, query: string, variables: Record<string, unknown>) =>
  postGraphQL<T>(sg.routerUrl, query, { variables, headers: { authorization: `Bearer ${token}` } });

it('every subscriber receives every committed change across a kill -9 of the subgraph, once', async () => {
  // The first account is the admin (who sees every task): the subscribers are ordinary users.
  for (let i = 0; i < 9; i++) {
    const { username, token } = await registerAt(sg.routerUrl, 'gap');
    if (i === 0) continue;
    const socket = openSocket(sg.routerUrl, token);
    const sub = subscribe<Subscriber['sub']['received'][number]['data'] & object>(
      socket,
      `subscription { taskChanged { kind taskId task { title } } }`,
    ) as Subscriber['sub'];
    subscribers.push({ username, token, taskId: '', socket, sub, acknowledged: [] });
  }
  // The upstream subscriptions are open once a change reaches every subscriber.
  await waitFor(
    async () => {
      for (const s of subscribers) {
        if (s.taskId) continue;
        const created = await gql<{ createTask: { id: string } }>(
          s.token,
          `mutation ($t: String!) { createTask(input: { title: $t }) { id } }`,
          { t: `${s.username}-warm` },
        );
        s.taskId = created.data!.createTask.id;
      }
      return subscribers.every(s => s.sub.received.length > 0);
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );

  let writing = true;
  let round = 0;
  const writers = subscribers.map(async s => {
    while (writing) {
      const title = `${s.username}-${(round += 1)}`;
      const res = await gql<{ updateTask: { title: string } }>(
        s.token,
        `mutation ($id: ID!, $t: String!) { updateTask(id: $id, input: { title: $t }) { title } }`,
        { id: s.taskId, t: title },
      ).catch(() => undefined);
      if (res?.data?.updateTask?.title === title) s.acknowledged.push(title);
      else await new Promise(resolve => setTimeout(resolve, 50));
    }
  });
  const acknowledgedNow = () => subscribers.reduce((n, s) => n + s.acknowledged.length, 0);
  await waitFor(() => acknowledgedNow() >= 80, { timeoutMs: 30_000 });
  sg.subgraphs.tasks!.kill('SIGKILL');
  await sg.subgraphs.tasks!.exited;
  await new Promise(resolve => setTimeout(resolve, 1_500));
  await sg.subgraphs.tasks!.restart();
  const afterRestart = acknowledgedNow();
  // Long enough for changes to land while the router's socket is still backing off.
  await waitFor(() => acknowledgedNow() >= afterRestart + 80, { timeoutMs: 30_000 });
  writing = false;
  await Promise.all(writers);

  // What was committed to each subscriber's task, in publish order: the source of truth (a
  // change committed just as the process died was never acknowledged, but happened).
  const sql = postgres(sg.databases.tasks!.url, { max: 1, onnotice: () => {} });
  let committed: Map<string, string[]>;
  try {
    const rows = await sql<{ task_id: string; title: string }[]>`
      select envelope->'data'->'task'->>'id' as task_id, envelope->'data'->'task'->>'title' as title
      from outbox where type in ('task.created', 'task.updated') order by publish_seq`;
    committed = new Map();
    for (const row of rows)
      committed.set(row.task_id, [...(committed.get(row.task_id) ?? []), row.title]);
  } finally {
    await sql.end();
  }
  for (const s of subscribers) {
    const expected = committed.get(s.taskId) ?? [];
    expect(expected).toEqual(expect.arrayContaining(s.acknowledged));
    const titles = () => s.sub.received.map(r => r.data?.taskChanged.task.title);
    await waitFor(() => titles().length >= expected.length, {
      timeoutMs: 20_000,
      message: `${s.username} did not receive all ${expected.length} committed changes`,
    });
    expect(s.sub.error).toBeUndefined();
    expect(titles()).toEqual(expected);
  }
  // Something happened while the subgraph was away from the router: the test saw the gap.
  expect(acknowledgedNow()).toBeGreaterThanOrEqual(160);
}, 180_000);
