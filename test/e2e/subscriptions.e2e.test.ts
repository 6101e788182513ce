import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueAccessToken } from '#lib/auth/jwt.js';
import { createAmqpBus } from '#lib/events/amqp.js';
import { createLogger } from '#lib/log.js';
import { runSubgraph } from '#lib/subgraph/run.js';
import { tasks } from '../../subgraphs/tasks/src/subgraph.js';
import { TEST_AMQP_URL } from '../support/services.js';
import {
  asRouter,
  postGraphQL,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.js';
import { assignWhenKnown, createTask, tasksKnow } from '../support/tasks.js';
import { errorOf, isMailRecipientRead, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe, type TestSocket, type TestSubscription } from '../support/ws.js';

/**
 * Federated subscriptions through the router over graphql-ws, on real RabbitMQ: every
 * subscriber gets exactly the events it may see, with fields from every subgraph.
 */
const TASK_CHANGED = `subscription ($filter: TaskEventFilter) {
  taskChanged(filter: $filter) {
    kind taskId
    task { title status owner { displayName } assignee { displayName } }
    actor { username }
  }
}`;
type TaskChanged = {
  taskChanged: {
    kind: string;
    taskId: string;
    task: {
      title: string;
      status: string;
      owner: { displayName: string };
      assignee: { displayName: string } | null;
    } | null;
    actor: { username: string } | null;
  };
};

let sg: TestSupergraph;
let admin: TestUser, alice: TestUser, bob: TestUser, carol: TestUser;
const sockets: TestSocket[] = [];
const socket = (token?: string | null) => {
  const s = openSocket(sg.url, token);
  sockets.push(s);
  return s;
};

beforeAll(async () => {
  sg = await startTestSupergraph();
  admin = await registerUser(sg, 'admin', 'The Admin');
  alice = await registerUser(sg, 'alice', 'Alice');
  bob = await registerUser(sg, 'bob', 'Bob');
  carol = await registerUser(sg, 'carol', 'Carol');
  await tasksKnow(sg, alice, [bob, carol]);
});
// Every test starts with no subscription left from the one before, whatever its outcome.
afterEach(async () => {
  await Promise.all(sockets.splice(0).map(s => s.dispose()));
});
afterAll(async () => {
  await sg?.stop();
});

/** Waits until the subgraph serves `n` upstream subscriptions: events after this are not missed. */
const tasksServing = (n: number) =>
  waitFor(() => sg.supergraph.subgraphs.tasks!.activeSubscriptions() >= n, {
    message: `tasks never served ${n} subscriptions`,
  });

const summary = (sub: TestSubscription<TaskChanged>) =>
  sub.received.map(r => {
    const e = r.data!.taskChanged;
    return `${e.kind} ${e.task?.title ?? e.taskId} by ${e.actor?.username}`;
  });

describe('taskChanged', () => {
  it('delivers to each subscriber exactly what they may see, in order, resolved across subgraphs', async () => {
    const subs = {
      admin: subscribe<TaskChanged>(socket(admin.accessToken), TASK_CHANGED),
      alice: subscribe<TaskChanged>(socket(alice.accessToken), TASK_CHANGED),
      bob: subscribe<TaskChanged>(socket(bob.accessToken), TASK_CHANGED),
      carol: subscribe<TaskChanged>(socket(carol.accessToken), TASK_CHANGED),
    };
    await tasksServing(4);
    // Events of the set-up may still be on their way: each user opens their stream with a
    // task of their own, and what came before it is not part of this test.
    const starts = new Map<TestUser, string>();
    for (const user of [alice, bob, carol])
      starts.set(user, (await createTask(sg, user, { title: `start of ${user.username}` })).id);
    const opened = (sub: TestSubscription<TaskChanged>, user: TestUser) =>
      sub.received.findIndex(r => r.data?.taskChanged.taskId === starts.get(user));
    await waitFor(
      () =>
        opened(subs.alice, alice) >= 0 &&
        opened(subs.bob, bob) >= 0 &&
        opened(subs.carol, carol) >= 0,
    );
    for (const [name, user] of [
      ['alice', alice],
      ['bob', bob],
      ['carol', carol],
    ] as const) {
      subs[name].received.splice(0, opened(subs[name], user) + 1);
    }
    await waitFor(() =>
      subs.admin.received.some(r => r.data?.taskChanged.taskId === starts.get(carol)),
    );

    const shared = await createTask(sg, alice, { title: 'Shared report', assigneeId: bob.id });
    const update = await sg.gql(
      `mutation { updateTask(id: "${shared.id}", input: { status: IN_PROGRESS }) { id } }`,
      { token: bob.accessToken },
    );
    expect(update.errors).toBeUndefined();
    const privateTask = await createTask(sg, alice, { title: 'Alice only' });
    expect(
      (await sg.gql(`mutation { deleteTask(id: "${shared.id}") }`, { token: alice.accessToken }))
        .errors,
    ).toBeUndefined();
    // A last event each may see closes every stream, so "nothing more" can be asserted.
    for (const user of [alice, bob, carol])
      await createTask(sg, user, { title: `end of ${user.username}` });
    // Each stream ends with its own viewer's last task: wait for that, not for a count that
    // the earlier events can reach before the last one arrives.
    const ended = (sub: TestSubscription<TaskChanged>, user: TestUser) =>
      summary(sub).includes(`CREATED end of ${user.username} by ${user.username}`);
    await waitFor(
      () =>
        ended(subs.alice, alice) &&
        ended(subs.bob, bob) &&
        ended(subs.carol, carol) &&
        ended(subs.admin, carol),
    );

    const u = (user: TestUser) => user.username;
    expect(summary(subs.alice)).toEqual([
      `CREATED Shared report by ${u(alice)}`,
      `UPDATED Shared report by ${u(alice)}`,
      `UPDATED Shared report by ${u(bob)}`,
      `CREATED Alice only by ${u(alice)}`,
      `DELETED ${shared.id} by ${u(alice)}`,
      `CREATED end of ${u(alice)} by ${u(alice)}`,
    ]);
    expect(summary(subs.bob)).toEqual([
      `CREATED Shared report by ${u(alice)}`,
      `UPDATED Shared report by ${u(alice)}`,
      `UPDATED Shared report by ${u(bob)}`,
      `DELETED ${shared.id} by ${u(alice)}`,
      `CREATED end of ${u(bob)} by ${u(bob)}`,
    ]);
    expect(summary(subs.carol)).toEqual([`CREATED end of ${u(carol)} by ${u(carol)}`]);
    // The admin sees all of it (and may also see stragglers of the set-up before it).
    expect(summary(subs.admin).slice(-8)).toEqual([
      `CREATED Shared report by ${u(alice)}`,
      `UPDATED Shared report by ${u(alice)}`,
      `UPDATED Shared report by ${u(bob)}`,
      `CREATED Alice only by ${u(alice)}`,
      `DELETED ${shared.id} by ${u(alice)}`,
      `CREATED end of ${u(alice)} by ${u(alice)}`,
      `CREATED end of ${u(bob)} by ${u(bob)}`,
      `CREATED end of ${u(carol)} by ${u(carol)}`,
    ]);

    // Fields of other subgraphs, per event.
    const first = subs.bob.received[0]!.data!.taskChanged;
    expect(first.task).toEqual({
      title: 'Shared report',
      status: 'TODO',
      owner: { displayName: 'Alice' },
      assignee: { displayName: 'Bob' },
    });
    const byBob = subs.alice.received[2]!.data!.taskChanged;
    expect(byBob.task!.status).toBe('IN_PROGRESS');
    expect(subs.alice.received[4]!.data!.taskChanged.task).toBeNull();
    expect(privateTask.id).toBeTruthy();
    for (const s of Object.values(subs))
      expect(s.received.every(r => r.errors === undefined)).toBe(true);
    for (const s of Object.values(subs)) s.stop();
  });

  it('filters by task and kind', async () => {
    const task = await createTask(sg, alice, { title: 'Filtered' });
    const sub = subscribe<TaskChanged>(socket(alice.accessToken), TASK_CHANGED, {
      filter: { taskId: task.id, kinds: ['DELETED'] },
    });
    await waitFor(() => sg.supergraph.router.subscriptionStats().clientSubscriptions >= 1);
    await tasksServing(1);
    await sg.gql(
      `mutation { updateTask(id: "${task.id}", input: { title: "Filtered 2" }) { id } }`,
      { token: alice.accessToken },
    );
    await createTask(sg, alice, { title: 'Other' });
    await sg.gql(`mutation { deleteTask(id: "${task.id}") }`, { token: alice.accessToken });
    await waitFor(() => sub.received.length >= 1);
    expect(summary(sub)).toEqual([`DELETED ${task.id} by ${alice.username}`]);
    sub.stop();
  });

  it('a subscriber who loses the task sees the change without its new state', async () => {
    const sub = subscribe<TaskChanged>(socket(bob.accessToken), TASK_CHANGED);
    await tasksServing(1);
    const task = await createTask(sg, alice, { title: 'Handed over', assigneeId: bob.id });
    await assignWhenKnown(sg, alice, task.id, carol.id);
    const about = () =>
      sub.received.map(r => r.data!.taskChanged).filter(e => e.taskId === task.id);
    await waitFor(() => about().length >= 3);
    expect(about().map(e => [e.kind, e.task?.assignee?.displayName ?? null])).toEqual([
      ['CREATED', 'Bob'],
      ['UPDATED', 'Bob'],
      ['UPDATED', null],
    ]);
    expect(about()[2]!.task).toBeNull();
    sub.stop();
  });
});

describe('notificationReceived', () => {
  const NOTIFICATION =
    'subscription { notificationReceived { message read task { title } actor { displayName } } }';
  type Received = {
    notificationReceived: {
      message: string;
      read: boolean;
      task: { title: string } | null;
      actor: { displayName: string };
    };
  };

  it('delivers only the subscriber’s own notifications, resolved across all three subgraphs', async () => {
    const bobs = subscribe<Received>(socket(bob.accessToken), NOTIFICATION);
    const alices = subscribe<Received>(socket(alice.accessToken), NOTIFICATION);
    await waitFor(() => sg.supergraph.subgraphs.notifications!.activeSubscriptions() >= 2);
    await createTask(sg, alice, { title: 'Write the report', assigneeId: bob.id });
    const messageOf = (r: { data?: Received | null }) => r.data!.notificationReceived.message;
    await waitFor(() =>
      bobs.received.some(r => messageOf(r) === `Alice assigned you "Write the report"`),
    );
    expect(
      bobs.received.find(r => messageOf(r) === `Alice assigned you "Write the report"`),
    ).toEqual({
      data: {
        notificationReceived: {
          message: `Alice assigned you "Write the report"`,
          read: false,
          task: { title: 'Write the report' },
          actor: { displayName: 'Alice' },
        },
      },
    });
    const own = await createTask(sg, bob, { title: 'For Alice' });
    await assignWhenKnown(sg, bob, own.id, alice.id);
    await waitFor(() => alices.received.some(r => messageOf(r) === `Bob assigned you "For Alice"`));
    // Each received only notifications that are theirs (earlier tests' may still arrive):
    // every message is in their own list, and Alice, who acted, was never told of her act.
    const mine = async (user: TestUser) => {
      const res = await sg.gql<{ notifications: { edges: Array<{ node: { message: string } }> } }>(
        '{ notifications(first: 100) { edges { node { message } } } }',
        { token: user.accessToken },
      );
      return new Set(res.data!.notifications.edges.map(e => e.node.message));
    };
    const [bobsOwn, alicesOwn] = [await mine(bob), await mine(alice)];
    expect(bobs.received.every(r => bobsOwn.has(messageOf(r)))).toBe(true);
    expect(alices.received.every(r => alicesOwn.has(messageOf(r)))).toBe(true);
    expect(alices.received.map(messageOf)).not.toContain(`Alice assigned you "Write the report"`);
    expect(bobs.received.map(messageOf)).not.toContain(`Bob assigned you "For Alice"`);
  });
});

describe('authentication', () => {
  it('closes the socket with 4403 for a bad token', async () => {
    const s = socket('not-a-token');
    expect(await s.closed).toBe(4403);
  });

  it('answers a subscription without a token with UNAUTHENTICATED', async () => {
    const sub = subscribe<TaskChanged>(socket(null), TASK_CHANGED);
    await waitFor(() => sub.done);
    expect((sub.error as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('closes the socket with 4403 when the token expires', async () => {
    // A token of alice's as users issues them, living two seconds: accepted, then cut off.
    const { token } = issueAccessToken(
      { id: alice.id, role: 'USER', username: alice.username },
      randomUUID(),
      { ...sg.config.jwt, accessTokenTtl: 2 },
    );
    const s = socket(token);
    const me = subscribe<{ me: { username: string } }>(s, '{ me { username } }');
    await waitFor(() => me.done);
    expect(me.received).toEqual([{ data: { me: { username: alice.username } } }]);
    const sub = subscribe<TaskChanged>(s, TASK_CHANGED);
    expect(await s.closed).toBe(4403);
    await waitFor(() => sub.done);
  });

  it('queries and mutations work over the socket too', async () => {
    const s = socket(alice.accessToken);
    const sub = subscribe<{ me: { username: string } }>(s, '{ me { username } }');
    await waitFor(() => sub.done);
    expect(sub.received).toEqual([{ data: { me: { username: alice.username } } }]);
  });

  it('a subgraph socket cannot be opened without the router’s signature', async () => {
    const direct = openSocket(`${sg.supergraph.subgraphs.tasks!.url}/graphql`, alice.accessToken);
    sockets.push(direct);
    expect(await direct.closed).toBe(4403);
  });
});

describe('sharing and teardown', () => {
  it('shares upstream sockets and identical subscriptions, and leaves nothing behind', async () => {
    const stats = () => sg.supergraph.router.subscriptionStats();
    await waitFor(
      () =>
        stats().clientSubscriptions === 0 &&
        sg.supergraph.subgraphs.tasks!.activeSubscriptions() === 0,
    );
    const same = [1, 2, 3].map(() =>
      subscribe<TaskChanged>(socket(alice.accessToken), TASK_CHANGED),
    );
    const others = [bob, carol].map(u =>
      subscribe<TaskChanged>(socket(u.accessToken), TASK_CHANGED),
    );
    await waitFor(() => stats().clientSubscriptions === 5);
    expect(stats().upstreamSubscriptions).toBe(3); // alice ×3 share one
    await tasksServing(3);
    expect(stats().upstreamSockets).toBeLessThanOrEqual(2);

    const task = await createTask(sg, alice, { title: 'Seen thrice' });
    await waitFor(() => same.every(s => s.received.length === 1));
    expect(same.map(s => s.received[0]!.data!.taskChanged.taskId)).toEqual([
      task.id,
      task.id,
      task.id,
    ]);

    // One client completes, others disconnect: every upstream subscription ends.
    same[0]!.stop();
    await waitFor(() => stats().clientSubscriptions === 4);
    expect(stats().upstreamSubscriptions).toBe(3);
    await Promise.all(sockets.splice(0).map(s => s.dispose()));
    await waitFor(() => stats().clientSubscriptions === 0 && stats().upstreamSubscriptions === 0);
    await waitFor(() => sg.supergraph.subgraphs.tasks!.activeSubscriptions() === 0);
    await waitFor(() => sg.supergraph.subgraphs.notifications!.activeSubscriptions() === 0);
    expect(others.every(s => s.received.length === 0)).toBe(true);
  });

  it('resolves an event once for every viewer when the subgraphs answer PUBLIC, once per viewer when not', async () => {
    const stats = () => sg.supergraph.router.subscriptionStats();
    await waitFor(
      () =>
        stats().clientSubscriptions === 0 &&
        sg.supergraph.subgraphs.tasks!.activeSubscriptions() === 0,
    );
    type Watched = {
      taskChanged: {
        kind: string;
        task: {
          title: string;
          status: string;
          owner: { displayName: string; email?: string | null };
          assignee?: { displayName: string };
        } | null;
      };
    };
    // displayName is PUBLIC (users' @cacheControl); email depends on who asks (PRIVATE).
    // Only UPDATED: the CREATED event of the set-up may still be on its way when they subscribe.
    // status is selected so the measured change differs from the warm-up ones (no sharing across them).
    const publicFields =
      'subscription ($taskId: ID!) { taskChanged(filter: { taskId: $taskId, kinds: [UPDATED] }) { kind task { title status owner { displayName } assignee { displayName } } } }';
    const privateFields =
      'subscription ($taskId: ID!) { taskChanged(filter: { taskId: $taskId, kinds: [UPDATED] }) { kind task { title status owner { displayName email } } } }';
    const task = await createTask(sg, alice, { title: 'Watched by three', assigneeId: bob.id });
    const viewers = [alice, bob, admin]; // owner, assignee, admin: all three see the change
    const open = (query: string) =>
      viewers.map(u => subscribe<Watched>(socket(u.accessToken), query, { taskId: task.id }));
    const [publicSubs, privateSubs] = [open(publicFields), open(privateFields)];
    await tasksServing(6);
    // Warm up until one change reaches every stream (a subgraph counts a subscription a moment
    // before its live feed is attached). Events keep their order per stream, so once "Warm-up i"
    // has arrived everywhere, every earlier one has too: nothing of the warm-up is left in flight.
    const all = [...publicSubs, ...privateSubs];
    const reachedAll = (title: string) =>
      all.every(sub => sub.received.some(r => r.data?.taskChanged.task?.title === title));
    let title = '';
    for (let i = 0; ; i++) {
      title = `Warm-up ${i}`;
      await sg.gql(
        `mutation { updateTask(id: "${task.id}", input: { title: "${title}" }) { id } }`,
        { token: alice.accessToken },
      );
      const reached = await waitFor(() => reachedAll(title), { timeoutMs: 1_000 }).then(
        () => true,
        () => false,
      );
      if (reached) break;
      expect(i, 'every stream live within 10 warm-up changes').toBeLessThan(10);
    }
    for (const sub of all) sub.received.length = 0;
    const before = stats();
    sg.queries.users.length = 0;
    const update = await sg.gql(
      `mutation { updateTask(id: "${task.id}", input: { status: DONE }) { id } }`,
      { token: alice.accessToken },
    );
    expect(update.errors).toBeUndefined();
    await waitFor(() => all.every(sub => sub.received.length === 1));

    for (const sub of publicSubs) {
      expect(sub.received[0]).toEqual({
        data: {
          taskChanged: {
            kind: 'UPDATED',
            task: {
              title,
              status: 'DONE',
              owner: { displayName: 'Alice' },
              assignee: { displayName: 'Bob' },
            },
          },
        },
      });
    }
    // Each viewer gets the email it may see: alice her own, bob none, the admin all.
    expect(privateSubs.map(sub => sub.received[0]!.data!.taskChanged.task!.owner)).toEqual([
      { displayName: 'Alice', email: alice.email },
      { displayName: 'Alice', email: null },
      { displayName: 'Alice', email: alice.email },
    ]);
    expect(privateSubs.every(sub => sub.received[0]!.data!.taskChanged.task!.title === title)).toBe(
      true,
    );
    const after = stats();
    // Public: one resolution for three viewers. Private: one per viewer.
    expect(after.eventsResolved - before.eventsResolved).toBe(1 + 3);
    expect(after.eventsShared - before.eventsShared).toBe(2);
    const userReads = sg.queries.users.filter(
      q => /^select/i.test(q) && /from "users"/i.test(q) && !isMailRecipientRead(q),
    );
    expect(userReads).toHaveLength(1 + 3);
  });

  it('a change made through a second tasks replica reaches a subscriber served by the first', async () => {
    const log = createLogger({ level: 'silent' });
    const busB = await createAmqpBus({ url: TEST_AMQP_URL, log, namespace: sg.namespace });
    const replicaB = await runSubgraph(tasks, {
      config: sg.config,
      bus: busB,
      log,
      port: 0,
      databaseUrl: sg.databaseUrls.tasks,
    });
    try {
      const sub = subscribe<TaskChanged>(socket(bob.accessToken), TASK_CHANGED);
      await tasksServing(1);
      const viaB = await postGraphQL<{ createTask: { id: string } }>(
        `${replicaB.url}/graphql`,
        'mutation { createTask(input: { title: "From replica B" }) { id } }',
        {
          headers: asRouter('tasks', sg.config.routerSecret, {
            userId: bob.id,
            role: 'USER',
            username: bob.username,
          }),
        },
      );
      expect(viaB.errors).toBeUndefined();
      await waitFor(() => sub.received.length >= 1);
      expect(summary(sub)).toEqual([`CREATED From replica B by ${bob.username}`]);
      sub.stop();
    } finally {
      await replicaB.stop();
      await busB.close();
    }
  });
});

describe('a subgraph down during an event', () => {
  it('yields the event with what could be resolved and an error for the rest; the router stays up', async () => {
    const sub = subscribe<TaskChanged>(socket(alice.accessToken), TASK_CHANGED);
    await tasksServing(1);
    await sg.supergraph.subgraphs.users!.stop();
    const res = await sg.gql<{ createTask: { id: string } }>(
      'mutation { createTask(input: { title: "Nobody to name" }) { id } }',
      {
        token: alice.accessToken,
      },
    );
    expect(res.errors).toBeUndefined();
    await waitFor(() => sub.received.length >= 1);
    const event = sub.received[0]!;
    expect(event.data?.taskChanged).toMatchObject({
      kind: 'CREATED',
      taskId: res.data!.createTask.id,
    });
    expect(event.errors?.length).toBeGreaterThan(0);
    expect(event.errors![0]!.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(JSON.stringify(event.errors)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|fetch failed/);
    // The router still answers what does not need the users subgraph.
    const tasks = await sg.gql<{ tasks: { totalCount: number } }>('{ tasks { totalCount } }', {
      token: alice.accessToken,
    });
    expect(errorOf(tasks)).toBeUndefined();
    sub.stop();
  });
});
