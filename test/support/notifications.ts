import { expect } from 'vitest';
import { taskRow as busTaskRow } from '#lib/events/__fixtures__/support.js';
import { createEvent, type TaskEventRow } from '#lib/events/envelope.js';
import type { TestSupergraph } from './supergraph.js';
import type { TestUser } from './users.js';
import { waitFor } from './wait.js';

export interface NotificationNode {
  id: string;
  kind: string;
  message: string;
  read: boolean;
  createdAt: string;
  task: { id: string } | null;
  actor: { id: string; displayName: string } | null;
}

export interface NotificationPage {
  totalCount: number;
  edges: Array<{ cursor: string; node: NotificationNode }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export const NOTIFICATION_FIELDS =
  'id kind message read createdAt task { id } actor { id displayName }';
const PAGE = `totalCount edges { cursor node { ${NOTIFICATION_FIELDS} } } pageInfo { hasNextPage endCursor }`;

/** The viewer's notifications and unread count, through the router; fails on any error. */
export async function myNotifications(
  sg: TestSupergraph,
  user: Pick<TestUser, 'accessToken'>,
  args: { unreadOnly?: boolean; first?: number; after?: string | null } = {},
): Promise<NotificationPage & { unread: number }> {
  const res = await sg.gql<{ notifications: NotificationPage; unreadNotificationCount: number }>(
    `query ($u: Boolean, $f: Int, $a: String) { unreadNotificationCount notifications(unreadOnly: $u, first: $f, after: $a) { ${PAGE} } }`,
    {
      token: user.accessToken,
      variables: { u: args.unreadOnly ?? null, f: args.first ?? null, a: args.after ?? null },
    },
  );
  expect(res.errors).toBeUndefined();
  return { ...res.data!.notifications, unread: res.data!.unreadNotificationCount };
}

/** Waits until the viewer has at least `count` notifications, and returns them. */
export async function notificationsArrive(sg: TestSupergraph, user: TestUser, count: number) {
  await waitFor(
    async () => (await myNotifications(sg, user, { first: 100 })).edges.length >= count,
    {
      message: `${user.username} to have ${count} notification(s)`,
    },
  );
  // Asked again: the page, the counts and the unread count are separate statements, and the
  // first answer may have raced the commit; everything after it sees the whole commit.
  return myNotifications(sg, user, { first: 100 });
}

/** A task row as the tasks service puts it on the bus. */
export function taskRow(
  overrides: Partial<TaskEventRow> & Pick<TaskEventRow, 'ownerId'>,
): TaskEventRow {
  return busTaskRow({ title: 'Write the report', ...overrides });
}

/**
 * Resolves once the notifications service has applied the `user.created` of `last` (and so,
 * the user-sync queue being in order, of every user registered before): messages then name
 * their actors. Probes by having `last` assign a task to `probe` until the message names them.
 */
export async function usersSynced(
  sg: TestSupergraph,
  probe: TestUser,
  last: TestUser,
): Promise<void> {
  await waitFor(
    async () => {
      const event = createEvent(
        'task.assigned',
        {
          task: taskRow({ ownerId: last.id, assigneeId: probe.id, title: 'probe' }),
          previousAssigneeId: null,
        },
        { producer: 'tasks', actorId: last.id },
      );
      await sg.bus.publish([event]);
      const node = await waitFor(async () => {
        const page = await myNotifications(sg, probe, { first: 5 });
        return page.edges.find(e => e.node.task?.id === event.data.task.id)?.node;
      });
      return !node.message.startsWith('Someone');
    },
    { timeoutMs: 20_000, intervalMs: 50, message: `notifications to know ${last.username}` },
  );
}
