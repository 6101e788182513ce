import { randomBytes, randomUUID } from 'node:crypto';
import { issueAccessToken } from '#lib/auth/jwt.js';
import {
  FLOOR_TASKS_QUERY,
  FLOOR_USERS_QUERY,
  gql,
  sleep,
  TASKS_QUERY,
  type BenchClaims,
} from './shared.js';

type JwtConfig = Parameters<typeof issueAccessToken>[2];

/**
 * The HTTP shapes beyond the light federated query (bench/shared.ts TASKS_QUERY): a deep
 * query (three sequential fetch levels, many entities) and a mutation-heavy mix. Each shape
 * is one GraphQL operation per iteration through a gateway, and the same work sent straight
 * to the subgraphs by the load process (the floor). No side effects on import.
 */

/** tasks → owner → that owner's tasks → their assignees; notifications → task → assignee, and actor. */
export const DEEP_QUERY = `query BenchDeep {
  tasks(first: 20) { edges { node { title owner { displayName tasks(first: 5) { edges { node { title assignee { displayName } } } } } } } }
  notifications(first: 20) { edges { node { message task { title assignee { displayName } } actor { displayName } } } }
}`;

export type ShapeName = 'deep' | 'mutations';

/** What a shape needs to know of one connection's viewer (seeded by bench/run.ts). */
export interface ShapeViewer {
  /** Tasks this viewer owns (the mix updates and reassigns them). */
  tasks: string[];
  /** Users the mix assigns this viewer's tasks to, in turn. */
  assignees: string[];
}

type Subgraph = 'users' | 'tasks' | 'notifications';
/** Posts one subgraph operation with the connection's signed claims; resolves the parsed data, or null on any error. */
export type SubgraphCall = (
  subgraph: Subgraph,
  query: string,
  operationName: string,
  variables?: Record<string, unknown>,
) => Promise<Record<string, unknown> | null>;

export interface GatewayOperation {
  query: string;
  operationName: string;
  variables?: Record<string, unknown>;
}

const UPDATE = `mutation BenchUpdate($id: ID!, $title: String!) { updateTask(id: $id, input: { title: $title }) { id title updatedAt owner { displayName } } }`;
const ASSIGN = `mutation BenchAssign($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id assignee { displayName } } }`;
const READ_ALL = `mutation BenchReadAll { markAllNotificationsRead }`;

/** How the mix is described in the report. */
export const MUTATION_MIX = `# in turn, per connection (its viewer's own tasks; 80 % writes):
${UPDATE}
${UPDATE}
${ASSIGN}
${READ_ALL}
${TASKS_QUERY}`;

/** Iteration `k` of the mutation mix: 2 updates, 1 reassignment, 1 mark-all-read, 1 read of the federated query, in turn (80 % writes). */
function mixStep(viewer: ShapeViewer, k: number) {
  const task = viewer.tasks[k % viewer.tasks.length]!;
  const assignee = viewer.assignees[Math.floor(k / 5) % viewer.assignees.length]!;
  const step = k % 5;
  return { step, task, assignee, title: `Bench ${k}` };
}

/** The operation a gateway is sent on iteration `k`. */
export function gatewayOperation(
  shape: ShapeName,
  viewer: ShapeViewer,
  k: number,
): GatewayOperation {
  if (shape === 'deep') return { query: DEEP_QUERY, operationName: 'BenchDeep' };
  const { step, task, assignee, title } = mixStep(viewer, k);
  if (step <= 1)
    return { query: UPDATE, operationName: 'BenchUpdate', variables: { id: task, title } };
  if (step === 2)
    return { query: ASSIGN, operationName: 'BenchAssign', variables: { id: task, a: assignee } };
  if (step === 3) return { query: READ_ALL, operationName: 'BenchReadAll' };
  return { query: TASKS_QUERY, operationName: 'BenchTasks' };
}

type Ref = { __typename: string; id: string } | null | undefined;
type Edges<T> = { edges: Array<{ node: T }> };
const USERS = FLOOR_USERS_QUERY;
const TASK_ENTITIES =
  'query BenchDeep__tasks__2($representations:[_Any!]!){_entities(representations:$representations){...on Task{title assignee{__typename id}}}}';

const userRepresentations = (refs: Ref[]) =>
  [...new Set(refs.filter((r): r is NonNullable<Ref> => !!r).map(r => r.id))].map(id => ({
    __typename: 'User',
    id,
  }));

/** The users `_entities` call of a floor step; no call when there is no one to resolve. */
async function users(call: SubgraphCall, refs: Ref[]): Promise<boolean> {
  const representations = userRepresentations(refs);
  if (representations.length === 0) return true;
  return (await call('users', USERS, 'BenchTasks__users__1', { representations })) !== null;
}

/**
 * The floor of iteration `k`: the plan's subgraph operations, sent by the load process,
 * each level's entity fetches batched into one call per subgraph (as our router batches).
 */
export async function floorOperation(
  shape: ShapeName,
  call: SubgraphCall,
  viewer: ShapeViewer,
  k: number,
): Promise<boolean> {
  if (shape === 'deep') {
    type OwnerTask = { title: string; assignee: Ref };
    type Page = {
      tasks: Edges<{ title: string; owner: Ref & { tasks: Edges<OwnerTask> } }>;
    };
    type Notes = { notifications: Edges<{ message: string; task: Ref; actor: Ref }> };
    const [page, notes] = await Promise.all([
      call(
        'tasks',
        'query BenchDeep__tasks__0{tasks(first:20){edges{node{title owner{__typename id tasks(first:5){edges{node{title assignee{__typename id}}}}}}}}}',
        'BenchDeep__tasks__0',
      ) as Promise<Page | null>,
      call(
        'notifications',
        'query BenchDeep__notifications__1{notifications(first:20){edges{node{message task{__typename id}actor{__typename id}}}}}',
        'BenchDeep__notifications__1',
      ) as Promise<Notes | null>,
    ]);
    if (!page || !notes) return false;
    const owners = page.tasks.edges.map(e => e.node.owner);
    const ownersTasksAssignees = page.tasks.edges.flatMap(e =>
      (e.node.owner?.tasks.edges ?? []).map(t => t.node.assignee),
    );
    const actors = notes.notifications.edges.map(e => e.node.actor);
    const taskRepresentations = [
      ...new Set(notes.notifications.edges.flatMap(e => (e.node.task ? [e.node.task.id] : []))),
    ].map(id => ({ __typename: 'Task', id }));
    // Level 2: the users of the tasks page and the notifications' actors, and the notifications' tasks.
    const [first, tasks] = await Promise.all([
      users(call, [...owners, ...ownersTasksAssignees, ...actors]),
      taskRepresentations.length
        ? (call('tasks', TASK_ENTITIES, 'BenchDeep__tasks__2', {
            representations: taskRepresentations,
          }) as Promise<{ _entities: Array<{ assignee: Ref } | null> } | null>)
        : Promise.resolve({ _entities: [] }),
    ]);
    if (!first || !tasks) return false;
    // Level 3: the assignees of the notifications' tasks.
    return users(
      call,
      tasks._entities.map(t => t?.assignee),
    );
  }
  const { step, task, assignee, title } = mixStep(viewer, k);
  if (step <= 1) {
    const data = (await call(
      'tasks',
      'mutation BenchUpdate__tasks__0($id:ID!$title:String!){updateTask(id:$id input:{title:$title}){id title updatedAt owner{__typename id}}}',
      'BenchUpdate__tasks__0',
      { id: task, title },
    )) as { updateTask: { owner: Ref } } | null;
    return !!data && users(call, [data.updateTask.owner]);
  }
  if (step === 2) {
    const data = (await call(
      'tasks',
      'mutation BenchAssign__tasks__0($id:ID!$a:ID){assignTask(id:$id assigneeId:$a){id assignee{__typename id}}}',
      'BenchAssign__tasks__0',
      { id: task, a: assignee },
    )) as { assignTask: { assignee: Ref } } | null;
    return !!data && users(call, [data.assignTask.assignee]);
  }
  if (step === 3)
    return (
      (await call(
        'notifications',
        'mutation BenchReadAll__notifications__0{markAllNotificationsRead}',
        'BenchReadAll__notifications__0',
      )) !== null
    );
  type Page = { tasks: Edges<{ owner: Ref; assignee: Ref }> };
  const page = (await call('tasks', FLOOR_TASKS_QUERY, 'BenchTasks__tasks__0')) as Page | null;
  return (
    !!page &&
    users(
      call,
      page.tasks.edges.flatMap(e => [e.node.owner, e.node.assignee]),
    )
  );
}

/** The viewers of the shape runs, seeded through a gateway: real users, made ADMIN by alice. */
export interface SeededShapeViewer extends ShapeViewer {
  claims: BenchClaims;
  token: string;
}

/**
 * `count` users registered through `url` and made ADMIN by `adminToken` (so the deep page
 * is every task), their tokens minted as the users service issues them. Each creates
 * `tasksEach` tasks, assigned to the next viewer (who gets a notification with an actor):
 * the newest page of tasks has owners of its own, and every viewer has notifications.
 */
export async function seedShapeViewers(options: {
  url: string;
  adminToken: string;
  jwt: JwtConfig;
  count: number;
  tasksEach: number;
}): Promise<SeededShapeViewer[]> {
  const { url, adminToken, count, tasksEach } = options;
  const viewers: SeededShapeViewer[] = [];
  for (let i = 0; i < count; i++) {
    const username = `shape${i}_${randomBytes(2).toString('hex')}`;
    const { register } = await gql<{ register: { user: { id: string } } }>(
      url,
      'mutation ($input: RegisterInput!) { register(input: $input) { user { id } } }',
      {
        input: {
          username,
          email: `${username}@example.com`,
          password: 'bench-password-1',
          displayName: `Shape ${i}`,
        },
      },
    );
    await gql(
      url,
      'mutation ($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }',
      { id: register.user.id },
      adminToken,
    );
    const claims: BenchClaims = {
      userId: register.user.id,
      role: 'ADMIN',
      username,
      sessionId: randomUUID(),
      clientAddress: null,
    };
    const token = issueAccessToken(
      { id: claims.userId, role: claims.role, username },
      claims.sessionId,
      options.jwt,
    ).token;
    viewers.push({ claims, token, tasks: [], assignees: [] });
  }
  viewers.forEach((v, i) => {
    v.assignees = [1, 2].map(d => viewers[(i + d) % count]!.claims.userId);
  });
  // Round-robin, so that the newest tasks have many owners.
  for (let round = 0; round < tasksEach; round++) {
    await Promise.all(
      viewers.map(async v => {
        for (let attempt = 0; ; attempt++) {
          try {
            const { createTask } = await gql<{ createTask: { id: string } }>(
              url,
              'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id } }',
              { input: { title: `Shape task ${round}`, assigneeId: v.assignees[0] } },
              v.token,
            );
            v.tasks.push(createTask.id);
            return;
          } catch (err) {
            // The tasks service learns of new users from events: retry until it knows them.
            if ((err as { code?: unknown }).code !== 'BAD_USER_INPUT' || attempt > 100) throw err;
            await sleep(50);
          }
        }
      }),
    );
  }
  // The assignments' notifications come from events: wait until every viewer has all of them.
  for (const v of viewers) {
    for (let attempt = 0; ; attempt++) {
      const { unreadNotificationCount } = await gql<{ unreadNotificationCount: number }>(
        url,
        '{ unreadNotificationCount }',
        {},
        v.token,
      );
      if (unreadNotificationCount >= tasksEach) break;
      if (attempt > 400) throw new Error('the shape viewers never got their notifications');
      await sleep(25);
    }
  }
  return viewers;
}
