import { expect } from 'vitest';
import type { GraphQLResponse, TestSupergraph } from './supergraph.js';
import { errorOf, type TestUser } from './users.js';
import { waitFor } from './wait.js';

export interface TaskNode {
  id: string;
  title: string;
  description: string | null;
  status: 'TODO' | 'IN_PROGRESS' | 'DONE';
  priority: 'LOW' | 'MEDIUM' | 'HIGH';
  dueDate: string | null;
  createdAt: string;
  updatedAt: string;
  owner: { id: string };
  assignee: { id: string } | null;
}

export interface TaskPage<TNode = TaskNode> {
  totalCount: number;
  edges: Array<{ cursor: string; node: TNode }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export const TASK_FIELDS =
  'id title description status priority dueDate createdAt updatedAt owner { id } assignee { id }';
export const TASK_PAGE = `totalCount edges { cursor node { ${TASK_FIELDS} } } pageInfo { hasNextPage endCursor }`;

export interface CreateTaskInput {
  title: string;
  description?: string | null;
  status?: string;
  priority?: string;
  dueDate?: string | null;
  assigneeId?: string | null;
}

/** Creates a task as `user` through the router; fails the test on any error. */
export async function createTask(
  sg: TestSupergraph,
  user: Pick<TestUser, 'accessToken'>,
  input: CreateTaskInput,
): Promise<TaskNode> {
  const res = await sg.gql<{ createTask: TaskNode }>(
    `mutation ($input: CreateTaskInput!) { createTask(input: $input) { ${TASK_FIELDS} } }`,
    { token: user.accessToken, variables: { input } },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.createTask;
}

export function assignTask(
  sg: TestSupergraph,
  user: Pick<TestUser, 'accessToken'>,
  id: string,
  assigneeId: string | null,
): Promise<GraphQLResponse<{ assignTask: TaskNode }>> {
  return sg.gql<{ assignTask: TaskNode }>(
    `mutation ($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { ${TASK_FIELDS} } }`,
    {
      token: user.accessToken,
      variables: { id, a: assigneeId },
    },
  );
}

/**
 * Assigns a task as soon as the tasks service knows the assignee: a user who registered a
 * moment ago reaches it by a `user.created` event, so until then the answer is
 * BAD_USER_INPUT. Polls instead of sleeping.
 */
export async function assignWhenKnown(
  sg: TestSupergraph,
  user: Pick<TestUser, 'accessToken'>,
  id: string,
  assigneeId: string,
): Promise<TaskNode> {
  return waitFor(
    async () => {
      const res = await assignTask(sg, user, id, assigneeId);
      if (errorOf(res)?.code === 'BAD_USER_INPUT') return false;
      expect(res.errors).toBeUndefined();
      return res.data!.assignTask;
    },
    { message: `tasks never learnt of user ${assigneeId}` },
  );
}

/** Waits until the tasks service knows every one of `users` (their `user.created` was applied). */
export async function tasksKnow(
  sg: TestSupergraph,
  owner: Pick<TestUser, 'accessToken'>,
  users: readonly Pick<TestUser, 'id'>[],
): Promise<void> {
  const probe = await createTask(sg, owner, { title: 'probe' });
  for (const user of users) await assignWhenKnown(sg, owner, probe.id, user.id);
  const res = await sg.gql(`mutation { deleteTask(id: "${probe.id}") }`, {
    token: owner.accessToken,
  });
  expect(res.errors).toBeUndefined();
}
