import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationsArrive, usersSynced } from '../support/notifications.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * Notifications from real task mutations: the tasks subgraph publishes, RabbitMQ carries,
 * the notifications subgraph writes, and the router resolves one notification across all
 * three subgraphs (message here, task title from tasks, actor name from users).
 */

let sg: TestSupergraph;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

beforeAll(async () => {
  sg = await startTestSupergraph();
  const probe = await registerUser(sg, 'probe');
  alice = await registerUser(sg, 'alice');
  bob = await registerUser(sg, 'bob');
  carol = await registerUser(sg, 'carol');
  await usersSynced(sg, probe, carol);
});
afterAll(async () => {
  await sg?.stop();
});

interface Inbox {
  unreadNotificationCount: number;
  notifications: {
    edges: Array<{
      node: {
        kind: string;
        message: string;
        task: { title: string } | null;
        actor: { displayName: string } | null;
      };
    }>;
  };
}
const INBOX =
  '{ unreadNotificationCount notifications { edges { node { kind message task { title } actor { displayName } } } } }';

async function inbox(user: TestUser): Promise<Inbox> {
  const res = await sg.gql<Inbox>(INBOX, { token: user.accessToken });
  expect(res.errors).toBeUndefined();
  return res.data!;
}

/** A task mutation; retried while the tasks service has not yet heard of a new user. */
async function mutate<T>(
  user: TestUser,
  query: string,
  variables: Record<string, unknown>,
): Promise<T> {
  return waitFor(
    async () => {
      const res = await sg.gql<T>(query, { token: user.accessToken, variables });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
      return res.data!;
    },
    { message: 'task mutation to succeed' },
  );
}

describe('notifications from task mutations, across the three subgraphs', () => {
  it('Alice assigns Bob a task: Bob has one unread notification naming Alice and the task', async () => {
    const created = await mutate<{ createTask: { id: string } }>(
      alice,
      'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id } }',
      { input: { title: 'Write the report', assigneeId: bob.id } },
    );
    const taskId = created.createTask.id;

    const bobs = await waitFor(async () => {
      const box = await inbox(bob);
      return box.unreadNotificationCount === 1 && box.notifications.edges.length === 1 && box;
    });
    expect(bobs.notifications.edges.map(e => e.node)).toEqual([
      {
        kind: 'TASK_ASSIGNED',
        message: `${alice.username} assigned you "Write the report"`,
        task: { title: 'Write the report' },
        actor: { displayName: alice.username },
      },
    ]);
    // Alice did it herself: nothing for her.
    expect((await inbox(alice)).unreadNotificationCount).toBe(0);

    // Reassigned to Carol: Bob hears of it and can no longer see the task.
    await mutate(
      alice,
      'mutation ($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }',
      { id: taskId, a: carol.id },
    );
    await notificationsArrive(sg, carol, 1);
    const bobsAfter = await waitFor(async () => {
      const box = await inbox(bob);
      return box.notifications.edges.length === 2 && box;
    });
    expect(
      bobsAfter.notifications.edges.map(e => [e.node.kind, e.node.message, e.node.task]),
    ).toEqual([
      ['TASK_UNASSIGNED', `${alice.username} unassigned you from "Write the report"`, null],
      ['TASK_ASSIGNED', `${alice.username} assigned you "Write the report"`, null],
    ]);

    // Carol finishes it: Alice, the owner, hears it is complete.
    await mutate(
      carol,
      'mutation ($id: ID!) { updateTask(id: $id, input: { status: DONE }) { id } }',
      { id: taskId },
    );
    const alices = await notificationsArrive(sg, alice, 1);
    expect(alices.edges.map(e => [e.node.kind, e.node.message, e.node.actor?.displayName])).toEqual(
      [['TASK_COMPLETED', `${carol.username} completed "Write the report"`, carol.username]],
    );

    // Alice deletes it: Carol hears of it, and her notifications no longer point at it.
    await mutate(alice, 'mutation ($id: ID!) { deleteTask(id: $id) }', { id: taskId });
    await notificationsArrive(sg, carol, 2);
    const carols = await inbox(carol);
    expect(carols.notifications.edges.map(e => [e.node.kind, e.node.message, e.node.task])).toEqual(
      [
        ['TASK_DELETED', `${alice.username} deleted "Write the report"`, null],
        ['TASK_ASSIGNED', `${alice.username} assigned you "Write the report"`, null],
      ],
    );
  });
});
