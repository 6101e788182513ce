import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpAdmin } from '#lib/events/__fixtures__/support.js';
import { createEvent, type EventEnvelope, type TaskEventRow } from '#lib/events/envelope.js';
import { tapEvents, type EventTap } from '../support/amqp.js';
import {
  myNotifications,
  NOTIFICATION_FIELDS,
  notificationsArrive,
  taskRow,
  usersSynced,
  type NotificationNode,
  type NotificationPage,
} from '../support/notifications.js';
import { TEST_AMQP_URL } from '../support/services.js';
import {
  asRouter,
  postGraphQL,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * The notifications subgraph through the router, over real RabbitMQ. Task events are
 * published here as the tasks service would publish them (the real contract), so these
 * tests do not depend on the tasks subgraph.
 */

let sg: TestSupergraph;
let tap: EventTap;
let admin: TestUser;
let probe: TestUser;

beforeAll(async () => {
  sg = await startTestSupergraph();
  tap = await tapEvents(sg.namespace, 'notification.*');
  admin = await registerUser(sg, 'admin');
  probe = await registerUser(sg, 'probe');
});
afterAll(async () => {
  await tap?.close();
  await sg?.stop();
});

/** Registers users, then waits until the notifications service knows their names. */
async function people<const P extends readonly string[]>(
  ...prefixes: P
): Promise<{ [K in keyof P]: TestUser }> {
  const users: TestUser[] = [];
  for (const prefix of prefixes) users.push(await registerUser(sg, prefix));
  await usersSynced(sg, probe, users.at(-1)!);
  return users as { [K in keyof P]: TestUser };
}

const publish = (...events: EventEnvelope[]) => sg.bus.publish(events);
const tasks = { producer: 'tasks' as const };
const assigned = (
  actor: TestUser | null,
  task: TaskEventRow,
  previousAssigneeId: string | null = null,
) =>
  createEvent(
    'task.assigned',
    { task, previousAssigneeId },
    { ...tasks, actorId: actor?.id ?? null },
  );
const updated = (
  actor: TestUser,
  task: TaskEventRow,
  changed: string[],
  previous: Record<string, unknown>,
) => createEvent('task.updated', { task, changed, previous }, { ...tasks, actorId: actor.id });
const deleted = (actor: TestUser, task: TaskEventRow) =>
  createEvent('task.deleted', { task }, { ...tasks, actorId: actor.id });

/**
 * Publishes an event and waits until `user` has `count` notifications. Events of a test go
 * one at a time, so each notification is strictly newer than the one before.
 */
async function step(event: EventEnvelope, user: TestUser, count: number) {
  await publish(event);
  return notificationsArrive(sg, user, count);
}

const nodes = (page: NotificationPage) => page.edges.map(e => e.node);
const summary = (n: NotificationNode) => ({
  kind: n.kind,
  message: n.message,
  task: n.task?.id ?? null,
  actor: n.actor?.id ?? null,
});

/**
 * Resolves once everything published before it to the task-events queue has been applied:
 * the queue is consumed in order, so a marker notification arriving means the rest did too.
 */
async function drained(marker: TestUser, actor: TestUser) {
  const event = assigned(
    actor,
    taskRow({ ownerId: actor.id, assigneeId: marker.id, title: 'marker' }),
  );
  await publish(event);
  await waitFor(
    async () =>
      nodes(await myNotifications(sg, marker, { first: 100 })).some(
        n => n.task?.id === event.data.task.id,
      ),
    {
      message: 'the marker event to be applied',
    },
  );
}

describe('notifications from task events', () => {
  it('an assignment notifies the new assignee and the previous one, never the actor', async () => {
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const task = taskRow({ ownerId: alice.id, assigneeId: carol.id, title: 'Write the report' });
    // Created with an assignee: task.created notifies nobody, task.assigned does.
    await publish(createEvent('task.created', { task }, { ...tasks, actorId: alice.id }));
    await step(assigned(alice, task), carol, 1);
    await publish(assigned(alice, { ...task, assigneeId: bob.id }, carol.id));

    const bobs = await notificationsArrive(sg, bob, 1);
    expect(nodes(bobs).map(summary)).toEqual([
      {
        kind: 'TASK_ASSIGNED',
        message: `${alice.username} assigned you "Write the report"`,
        task: task.id,
        actor: alice.id,
      },
    ]);
    expect(bobs.edges[0]!.node).toMatchObject({
      read: false,
      actor: { displayName: alice.username },
    });
    expect(bobs.unread).toBe(1);

    const carols = await myNotifications(sg, carol);
    expect(nodes(carols).map(n => [n.kind, n.message])).toEqual([
      ['TASK_UNASSIGNED', `${alice.username} unassigned you from "Write the report"`],
      ['TASK_ASSIGNED', `${alice.username} assigned you "Write the report"`],
    ]);
    expect((await myNotifications(sg, alice)).totalCount).toBe(0);
  });

  it('an update notifies owner and assignee; the owner hears TASK_COMPLETED when it is done', async () => {
    const [alice, bob, carol] = await people('owner', 'worker', 'editor');
    const task = taskRow({ ownerId: alice.id, assigneeId: bob.id });
    await step(
      updated(bob, { ...task, status: 'IN_PROGRESS' }, ['status'], { status: 'TODO' }),
      alice,
      1,
    );
    await step(
      updated(bob, { ...task, status: 'DONE' }, ['status'], { status: 'IN_PROGRESS' }),
      alice,
      2,
    );
    const alices = await step(
      updated(carol, { ...task, status: 'DONE', title: 'Write the final report' }, ['title'], {
        title: task.title,
      }),
      alice,
      3,
    );
    expect(nodes(alices).map(n => [n.kind, n.message])).toEqual([
      ['TASK_UPDATED', `${carol.username} renamed "Write the report" to "Write the final report"`],
      ['TASK_COMPLETED', `${bob.username} completed "Write the report"`],
      ['TASK_UPDATED', `${bob.username} moved "Write the report" to In progress`],
    ]);
    // The assignee made the first two changes: only the third is news to them.
    const bobs = await myNotifications(sg, bob);
    expect(nodes(bobs).map(summary)).toEqual([
      {
        kind: 'TASK_UPDATED',
        message: `${carol.username} renamed "Write the report" to "Write the final report"`,
        task: task.id,
        actor: carol.id,
      },
    ]);
    expect((await myNotifications(sg, carol)).totalCount).toBe(0);
  });

  it('a deletion notifies the assignee, and no notification points at the task any more', async () => {
    const [alice, bob] = await people('deleter', 'assignee');
    const task = taskRow({ ownerId: alice.id, assigneeId: bob.id, title: 'Doomed' });
    expect(nodes(await step(assigned(alice, task), bob, 1))[0]!.task).toEqual({ id: task.id });
    const bobs = await step(deleted(alice, task), bob, 2);
    expect(nodes(bobs).map(summary)).toEqual([
      {
        kind: 'TASK_DELETED',
        message: `${alice.username} deleted "Doomed"`,
        task: null,
        actor: alice.id,
      },
      {
        kind: 'TASK_ASSIGNED',
        message: `${alice.username} assigned you "Doomed"`,
        task: null,
        actor: alice.id,
      },
    ]);
    expect((await myNotifications(sg, alice)).totalCount).toBe(0);
  });

  it('names an actor it has not heard of "Someone"', async () => {
    const [bob] = await people('nameless');
    const stranger = randomUUID();
    const event = createEvent(
      'task.assigned',
      {
        task: taskRow({ ownerId: stranger, assigneeId: bob.id, title: 'From nowhere' }),
        previousAssigneeId: null,
      },
      { ...tasks, actorId: stranger },
    );
    const bobs = await step(event, bob, 1);
    // The users subgraph knows no such user either: the actor is null.
    expect(nodes(bobs).map(summary)).toEqual([
      {
        kind: 'TASK_ASSIGNED',
        message: 'Someone assigned you "From nowhere"',
        task: event.data.task.id,
        actor: null,
      },
    ]);
  });

  it('emits notification.created for each notification it writes', async () => {
    const [alice, bob] = await people('emitter', 'receiver');
    const task = taskRow({ ownerId: alice.id, assigneeId: bob.id, title: 'Announce me' });
    await publish(assigned(alice, task));
    const [node] = nodes(await notificationsArrive(sg, bob, 1));
    const event = await waitFor(() =>
      tap.events.find(
        e => e.type === 'notification.created' && e.data.notification.id === node!.id,
      ),
    );
    expect(event).toMatchObject({
      producer: 'notifications',
      actorId: alice.id,
      data: {
        notification: {
          id: node!.id,
          userId: bob.id,
          kind: 'TASK_ASSIGNED',
          message: `${alice.username} assigned you "Announce me"`,
          taskId: task.id,
          actorId: alice.id,
          read: false,
          createdAt: node!.createdAt,
        },
      },
    });
  });
});

describe('delivery', () => {
  it('applies a redelivered event once', async () => {
    const [alice, bob] = await people('sender', 'twice');
    const event = assigned(
      alice,
      taskRow({ ownerId: alice.id, assigneeId: bob.id, title: 'Once' }),
    );
    await publish(event);
    await publish(event);
    await publish(event);
    await drained(bob, alice);
    const bobs = await myNotifications(sg, bob);
    expect(nodes(bobs).map(n => n.message)).toEqual([
      `${alice.username} assigned you "marker"`,
      `${alice.username} assigned you "Once"`,
    ]);
    expect(bobs.unread).toBe(2);
    const once = nodes(bobs)[1]!;
    await waitFor(() =>
      tap.events.some(e => e.type === 'notification.created' && e.data.notification.id === once.id),
    );
    expect(
      tap.events.filter(
        e => e.type === 'notification.created' && e.data.notification.taskId === event.data.task.id,
      ),
    ).toHaveLength(1);
  });

  it('dead-letters a poison event and keeps consuming', async () => {
    const [alice, bob] = await people('poisoner', 'survivor');
    const amqp = await AmqpAdmin.open(TEST_AMQP_URL, sg.namespace);
    try {
      const badId = assigned(
        alice,
        taskRow({ ownerId: alice.id, assigneeId: bob.id, id: 'not-a-uuid' }),
      );
      const badPayload = {
        ...assigned(alice, taskRow({ ownerId: alice.id, assigneeId: bob.id })),
        data: { task: { id: 'x' } },
      };
      await amqp.publishRaw('task.assigned', 'not json{');
      await amqp.publishRaw('task.assigned', JSON.stringify(badPayload), badPayload.id);
      await publish(badId);
      await publish(
        assigned(
          alice,
          taskRow({ ownerId: alice.id, assigneeId: bob.id, title: 'After the poison' }),
        ),
      );

      const bobs = await notificationsArrive(sg, bob, 1);
      expect(nodes(bobs).map(n => n.message)).toEqual([
        `${alice.username} assigned you "After the poison"`,
      ]);
      const dead: string[] = [];
      await waitFor(async () => {
        dead.push(...(await amqp.drain(amqp.names.deadLetterQueue)).map(m => m.body));
        return dead.length >= 3;
      });
      expect(dead).toContain('not json{');
      const ids = dead
        .filter(body => body.startsWith('{'))
        .map(body => (JSON.parse(body) as { id: string }).id);
      expect(ids).toEqual(expect.arrayContaining([badPayload.id, badId.id]));
      expect(dead).toHaveLength(3);
    } finally {
      await amqp.close();
    }
  });

  it('removes the notifications of a deleted user, and writes none for them after', async () => {
    const [alice, leaver, stayer] = await people('remover', 'leaver', 'stayer');
    await publish(assigned(alice, taskRow({ ownerId: alice.id, assigneeId: leaver.id })));
    await notificationsArrive(sg, leaver, 1);

    const res = await sg.gql(`mutation { deleteAccount(password: "${leaver.password}") }`, {
      token: leaver.accessToken,
    });
    expect(res.errors).toBeUndefined();
    // The router refuses the token now (revocation.e2e); asked as that user anyway, straight
    // at the subgraph with the router's signature, there is nothing left.
    const leftFor = async () => {
      const answer = await postGraphQL<{ notifications: { totalCount: number } }>(
        `${sg.supergraph.subgraphs.notifications!.url}/graphql`,
        '{ notifications { totalCount } }',
        {
          headers: asRouter('notifications', sg.config.routerSecret, {
            userId: leaver.id,
            role: 'USER',
            username: leaver.username,
          }),
        },
      );
      expect(answer.errors).toBeUndefined();
      return answer.data!.notifications.totalCount;
    };
    await waitFor(async () => (await leftFor()) === 0);

    await publish(
      assigned(alice, taskRow({ ownerId: alice.id, assigneeId: leaver.id, title: 'Too late' })),
    );
    await drained(stayer, alice);
    expect(await leftFor()).toBe(0);
  });
});

describe('read state', () => {
  const markRead = (user: TestUser, id: string) =>
    sg.gql<{ markNotificationRead: { id: string; read: boolean } }>(
      `mutation ($id: ID!) { markNotificationRead(id: $id) { id read } }`,
      {
        token: user.accessToken,
        variables: { id },
      },
    );
  const markAll = (user: TestUser) =>
    sg.gql<{ markAllNotificationsRead: number }>('mutation { markAllNotificationsRead }', {
      token: user.accessToken,
    });

  it('marks one, then all, and filters to the unread', async () => {
    const [alice, bob] = await people('marker', 'reader');
    for (const [i, title] of ['One', 'Two', 'Three'].entries()) {
      await step(
        assigned(alice, taskRow({ ownerId: alice.id, assigneeId: bob.id, title })),
        bob,
        i + 1,
      );
    }
    const all = nodes(await myNotifications(sg, bob));
    expect(all.map(n => n.message)).toEqual(
      ['Three', 'Two', 'One'].map(t => `${alice.username} assigned you "${t}"`),
    );

    const two = all[1]!;
    expect((await markRead(bob, two.id)).data!.markNotificationRead).toEqual({
      id: two.id,
      read: true,
    });
    expect((await markRead(bob, two.id)).data!.markNotificationRead).toEqual({
      id: two.id,
      read: true,
    });
    const unread = await myNotifications(sg, bob, { unreadOnly: true });
    expect(unread.unread).toBe(2);
    expect(unread.totalCount).toBe(2);
    expect(nodes(unread).map(n => n.id)).toEqual([all[0]!.id, all[2]!.id]);
    expect(nodes(await myNotifications(sg, bob)).map(n => n.read)).toEqual([false, true, false]);

    expect((await markAll(bob)).data!.markAllNotificationsRead).toBe(2);
    expect((await markAll(bob)).data!.markAllNotificationsRead).toBe(0);
    const after = await myNotifications(sg, bob);
    expect(after.unread).toBe(0);
    expect(after.totalCount).toBe(3);
    expect((await myNotifications(sg, bob, { unreadOnly: true })).totalCount).toBe(0);
  });
});

describe('who may read and mark', () => {
  const USER_NOTIFICATIONS = `query ($id: ID!) { user(id: $id) { id unreadNotificationCount notifications { totalCount edges { node { ${NOTIFICATION_FIELDS} } } } } }`;
  type UserNotifications = {
    user: { unreadNotificationCount: number; notifications: NotificationPage } | null;
  };

  it('gives anonymous callers UNAUTHENTICATED', async () => {
    for (const op of [
      '{ notifications { totalCount } }',
      '{ unreadNotificationCount }',
      `mutation { markNotificationRead(id: "${randomUUID()}") { id } }`,
      'mutation { markAllNotificationsRead }',
    ]) {
      expect(errorOf(await sg.gql(op))?.code, op).toBe('UNAUTHENTICATED');
    }
  });

  it('lets nobody but the user read or mark their notifications; admins may read them', async () => {
    const [alice, bob, nosy] = await people('author', 'private', 'nosy');
    await publish(
      assigned(alice, taskRow({ ownerId: alice.id, assigneeId: bob.id, title: 'Secret' })),
    );
    const [mine] = nodes(await notificationsArrive(sg, bob, 1));

    for (const viewer of [nosy, alice, admin]) {
      const res = await sg.gql(`mutation { markNotificationRead(id: "${mine!.id}") { id } }`, {
        token: viewer.accessToken,
      });
      expect(errorOf(res)?.code, viewer.username).toBe('NOT_FOUND');
    }
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await sg.gql(`mutation { markNotificationRead(id: "${id}") { id } }`, {
        token: bob.accessToken,
      });
      expect(errorOf(res)?.code).toBe('NOT_FOUND');
    }
    expect((await myNotifications(sg, bob)).unread).toBe(1);
    // Someone else's viewer-rooted queries only ever show their own.
    expect((await myNotifications(sg, nosy)).totalCount).toBe(0);

    const forbidden = await sg.gql<UserNotifications>(USER_NOTIFICATIONS, {
      token: nosy.accessToken,
      variables: { id: bob.id },
    });
    expect(errorOf(forbidden)?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(forbidden.data)).not.toContain('Secret');
    const count = await sg.gql(`{ user(id: "${bob.id}") { unreadNotificationCount } }`, {
      token: nosy.accessToken,
    });
    expect(errorOf(count)?.code).toBe('FORBIDDEN');

    const own = await sg.gql<UserNotifications>(USER_NOTIFICATIONS, {
      token: bob.accessToken,
      variables: { id: bob.id },
    });
    expect(own.errors).toBeUndefined();
    expect(own.data!.user!.notifications.edges.map(e => e.node.id)).toEqual([mine!.id]);

    const asAdmin = await sg.gql<UserNotifications>(USER_NOTIFICATIONS, {
      token: admin.accessToken,
      variables: { id: bob.id },
    });
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data!.user).toMatchObject({
      unreadNotificationCount: 1,
      notifications: { totalCount: 1 },
    });
    expect(asAdmin.data!.user!.notifications.edges[0]!.node).toMatchObject({
      message: `${alice.username} assigned you "Secret"`,
      actor: { id: alice.id, displayName: alice.username },
    });

    const me = await sg.gql<{
      me: { unreadNotificationCount: number; notifications: { totalCount: number } };
    }>('{ me { unreadNotificationCount notifications { totalCount } } }', {
      token: bob.accessToken,
    });
    expect(me.data!.me).toEqual({ unreadNotificationCount: 1, notifications: { totalCount: 1 } });
  });

  it('answers a list of users in a constant number of statements', async () => {
    const tag = `many${Math.random().toString(36).slice(2, 7)}`;
    const many = await people(`${tag}a`, `${tag}b`, `${tag}c`);
    const [author] = await people('batcher');
    for (const [i, user] of many.entries()) {
      for (let n = 0; n <= i; n++)
        await publish(
          assigned(author, taskRow({ ownerId: author.id, assigneeId: user.id, title: `T${n}` })),
        );
    }
    for (const [i, user] of many.entries()) await notificationsArrive(sg, user, i + 1);

    const statements = () =>
      sg.queries.notifications.filter(q => q.startsWith('select') && q.includes('"notifications"'))
        .length;
    const before = statements();
    const res = await sg.gql<{
      users: {
        edges: Array<{
          node: {
            username: string;
            unreadNotificationCount: number;
            notifications: NotificationPage;
          };
        }>;
      };
    }>(
      `{ users(search: "${tag}") { edges { node { username unreadNotificationCount notifications(first: 2) { totalCount edges { node { message } } pageInfo { hasNextPage } } } } } }`,
      { token: admin.accessToken },
    );
    expect(res.errors).toBeUndefined();
    expect(
      res.data!.users.edges.map(e => [
        e.node.unreadNotificationCount,
        e.node.notifications.totalCount,
        e.node.notifications.edges.length,
        e.node.notifications.pageInfo.hasNextPage,
      ]),
    ).toEqual([
      [1, 1, 1, false],
      [2, 2, 2, false],
      [3, 3, 2, true],
    ]);
    // Unread counts, total counts and pages: one statement each for all three users.
    expect(statements() - before).toBe(3);
  });
});

describe('pagination', () => {
  it('pages newest first through every notification exactly once', async () => {
    const [alice, bob] = await people('pager', 'paged');
    for (let i = 0; i < 7; i++)
      await step(
        assigned(alice, taskRow({ ownerId: alice.id, assigneeId: bob.id, title: `Task ${i}` })),
        bob,
        i + 1,
      );
    const all = nodes(await myNotifications(sg, bob));
    expect(all.map(n => n.message)).toEqual(
      [6, 5, 4, 3, 2, 1, 0].map(i => `${alice.username} assigned you "Task ${i}"`),
    );

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: NotificationPage = await myNotifications(sg, bob, { first: 3, after });
      expect(res.totalCount).toBe(7);
      seen.push(...nodes(res).map(n => n.id));
      if (!res.pageInfo.hasNextPage) break;
      after = res.pageInfo.endCursor;
    }
    expect(seen).toEqual(all.map(n => n.id));

    await sg.gql(`mutation { markNotificationRead(id: "${all[0]!.id}") { id } }`, {
      token: bob.accessToken,
    });
    const unreadPage = await myNotifications(sg, bob, { unreadOnly: true, first: 2 });
    expect(unreadPage.totalCount).toBe(6);
    const next = await myNotifications(sg, bob, {
      unreadOnly: true,
      first: 10,
      after: unreadPage.pageInfo.endCursor,
    });
    expect([...nodes(unreadPage), ...nodes(next)].map(n => n.id)).toEqual(
      all.slice(1).map(n => n.id),
    );
  });

  it('refuses a foreign cursor and a page over 100', async () => {
    const query =
      'query ($f: Int, $a: String) { notifications(first: $f, after: $a) { totalCount } }';
    const bad = await sg.gql(query, { token: probe.accessToken, variables: { a: 'bogus' } });
    expect(errorOf(bad)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    const usersCursor = Buffer.from(JSON.stringify({ k: 'users', p: 'alice' })).toString(
      'base64url',
    );
    expect(
      errorOf(await sg.gql(query, { token: probe.accessToken, variables: { a: usersCursor } }))
        ?.code,
    ).toBe('BAD_USER_INPUT');
    expect(
      errorOf(await sg.gql(query, { token: probe.accessToken, variables: { f: 101 } })),
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});
