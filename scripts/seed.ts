import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';

/**
 * `npm run seed [-- --url http://host:4000/graphql]`: demo users and tasks through a running
 * router, over HTTP only (so it seeds `npm start`, `docker compose up` or a deployment alike).
 *
 * Idempotent: a user who exists logs in instead of registering, and a task is created only
 * when its owner has none with that title. The first user ever registered becomes ADMIN, so
 * on an empty database that is alice.
 */

/** Every demo user's password. */
export const DEMO_PASSWORD = 'demo-password-1';
export const DEFAULT_URL = 'http://localhost:4000/graphql';

type Username = 'alice' | 'bob' | 'carol';

/** In registration order: the first one of an empty database becomes ADMIN. */
export const DEMO_USERS: ReadonlyArray<{ username: Username; displayName: string; email: string }> =
  [
    { username: 'alice', displayName: 'Alice Anderson', email: 'alice@example.com' },
    { username: 'bob', displayName: 'Bob Brown', email: 'bob@example.com' },
    { username: 'carol', displayName: 'Carol Clark', email: 'carol@example.com' },
  ];

export interface DemoTask {
  owner: Username;
  title: string;
  description: string;
  priority: 'LOW' | 'MEDIUM' | 'HIGH';
  status?: 'TODO' | 'IN_PROGRESS' | 'DONE';
  /** Days from today; none means no due date. */
  dueInDays?: number;
  /** Assigned in `createTask`. */
  assignee?: Username;
  /** Assigned afterwards with `assignTask` (shows the assignment notification flow). */
  assignLater?: Username;
}

export const DEMO_TASKS: readonly DemoTask[] = [
  {
    owner: 'alice',
    title: 'Write the onboarding guide',
    description: 'A first-day page for new team members: accounts, tools, who to ask.',
    priority: 'MEDIUM',
    dueInDays: 14,
    assignee: 'bob',
  },
  {
    owner: 'alice',
    title: 'Review the API contract',
    description: 'Read contract/api.graphql end to end and list the questions.',
    priority: 'HIGH',
    dueInDays: 3,
    assignLater: 'carol',
  },
  {
    owner: 'bob',
    title: 'Fix the flaky login test',
    description: 'Fails about one run in twenty on CI; reproduce it locally first.',
    priority: 'HIGH',
    status: 'IN_PROGRESS',
    dueInDays: 2,
  },
  {
    owner: 'bob',
    title: 'Set up the staging database',
    description: 'One Postgres database per subgraph, migrations applied at start-up.',
    priority: 'MEDIUM',
    dueInDays: 10,
    assignee: 'alice',
  },
  {
    owner: 'carol',
    title: 'Design the notification emails',
    description: 'Assigned, updated, completed and deleted: one template each.',
    priority: 'LOW',
    dueInDays: 21,
    assignLater: 'bob',
  },
  {
    owner: 'carol',
    title: "Archive last sprint's board",
    description: 'Move the finished cards to the archive.',
    priority: 'LOW',
    status: 'DONE',
  },
];

export interface SeededUser {
  username: Username;
  id: string;
  role: 'USER' | 'ADMIN';
  action: 'registered' | 'logged in';
  accessToken: string;
}

export interface SeededTask {
  owner: Username;
  title: string;
  id: string;
  action: 'created' | 'already there';
}

export interface SeedResult {
  url: string;
  users: SeededUser[];
  tasks: SeededTask[];
}

export interface SeedOptions {
  /** The router's GraphQL endpoint. */
  url: string;
  /** How long to wait for the router to become ready, and to retry while it is not. */
  waitMs?: number;
  /** Called before each step (the progress bar). */
  onStep?: (step: string) => void;
  /** Called after each step with what it did. */
  onDone?: (line: string) => void;
  /** Called while waiting for the router, with why. */
  onWait?: (reason: string) => void;
}

/** A GraphQL error the server answered with: not worth retrying unless the caller says so. */
export class GraphQLRequestError extends Error {
  override name = 'GraphQLRequestError';
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly field: string | undefined,
  ) {
    super(message);
  }
}

/** The router cannot be reached or said it cannot serve now (retried). */
class TransientError extends Error {
  override name = 'TransientError';
}

interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }>;
}

async function postGraphQL<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token?: string,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new TransientError(`cannot reach ${url}: ${cause?.code ?? (err as Error).message}`);
  }
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    throw new TransientError(`${url} answered ${res.status}`);
  }
  let body: GraphQLBody<T>;
  try {
    body = (await res.json()) as GraphQLBody<T>;
  } catch {
    throw new Error(
      `${url} answered ${res.status} with a body that is not GraphQL JSON: is this the router's /graphql?`,
    );
  }
  const first = body.errors?.[0];
  if (first)
    throw new GraphQLRequestError(first.message, first.extensions?.code, first.extensions?.field);
  if (!body.data) throw new Error(`${url} answered ${res.status} without data`);
  return body.data;
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Runs `step` until it succeeds, retrying transient failures (and the errors `retryIf`
 * accepts) with backoff until `deadline`. Each step is safe to repeat: it checks before it writes.
 */
async function retrying<T>(
  step: () => Promise<T>,
  deadline: number,
  onWait: (reason: string) => void,
  retryIf: (err: unknown) => boolean = () => false,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof TransientError || retryIf(err)) || Date.now() > deadline) throw err;
      onWait((err as Error).message);
      await sleep(Math.min(250 * 2 ** attempt, 2_000));
    }
  }
}

/** Waits until the router's /ready says every subgraph answers (or, without /ready, GraphQL does). */
async function waitForRouter(
  url: string,
  deadline: number,
  onWait: (reason: string) => void,
): Promise<void> {
  const readyUrl = new URL('/ready', url);
  await retrying(
    async () => {
      let res: Response;
      try {
        res = await fetch(readyUrl, { signal: AbortSignal.timeout(5_000) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        throw new TransientError(
          `router not reachable at ${readyUrl.origin} (${cause?.code ?? (err as Error).message})`,
        );
      }
      if (res.status === 404) {
        // A proxy in front without /ready: a trivial query tells as much.
        await postGraphQL<{ __typename: string }>(url, '{ __typename }', {});
        return;
      }
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { reason?: string };
        throw new TransientError(
          `router not ready${body.reason ? `: ${body.reason}` : ` (${res.status})`}`,
        );
      }
    },
    deadline,
    onWait,
  );
}

const USER_FIELDS = 'accessToken user { id username role }';

interface AuthPayload {
  accessToken: string;
  user: { id: string; username: string; role: 'USER' | 'ADMIN' };
}

async function registerOrLogin(
  url: string,
  demo: (typeof DEMO_USERS)[number],
): Promise<SeededUser> {
  try {
    const { register } = await postGraphQL<{ register: AuthPayload }>(
      url,
      `mutation ($input: RegisterInput!) { register(input: $input) { ${USER_FIELDS} } }`,
      {
        input: {
          username: demo.username,
          email: demo.email,
          password: DEMO_PASSWORD,
          displayName: demo.displayName,
        },
      },
    );
    return {
      username: demo.username,
      id: register.user.id,
      role: register.user.role,
      action: 'registered',
      accessToken: register.accessToken,
    };
  } catch (err) {
    if (!(err instanceof GraphQLRequestError && err.code === 'CONFLICT')) throw err;
  }
  try {
    const { login } = await postGraphQL<{ login: AuthPayload }>(
      url,
      `mutation ($input: LoginInput!) { login(input: $input) { ${USER_FIELDS} } }`,
      { input: { login: demo.username, password: DEMO_PASSWORD } },
    );
    return {
      username: demo.username,
      id: login.user.id,
      role: login.user.role,
      action: 'logged in',
      accessToken: login.accessToken,
    };
  } catch (err) {
    if (err instanceof GraphQLRequestError && err.code === 'UNAUTHENTICATED') {
      throw new Error(
        `${demo.username} exists but does not accept the demo password "${DEMO_PASSWORD}"; not touching it`,
        { cause: err },
      );
    }
    throw err;
  }
}

interface TaskNode {
  id: string;
  title: string;
  assignee: { id: string } | null;
}

const dateIn = (days: number) =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

/** The owner's task with exactly this title, if any (`search` matches substrings, any case). */
async function findOwnTask(
  url: string,
  owner: SeededUser,
  title: string,
): Promise<TaskNode | undefined> {
  const { tasks } = await postGraphQL<{ tasks: { edges: Array<{ node: TaskNode }> } }>(
    url,
    'query ($filter: TaskFilter) { tasks(filter: $filter, first: 100) { edges { node { id title assignee { id } } } } }',
    { filter: { search: title, ownerId: owner.id } },
    owner.accessToken,
  );
  return tasks.edges.map(e => e.node).find(t => t.title === title);
}

/** The tasks service learns of new users from events: a just-registered assignee may not be known yet. */
const assigneeNotKnownYet = (err: unknown) =>
  err instanceof GraphQLRequestError &&
  err.code === 'BAD_USER_INPUT' &&
  /assigneeId$/.test(err.field ?? '');

async function seedTask(
  url: string,
  demo: DemoTask,
  users: Map<Username, SeededUser>,
): Promise<SeededTask> {
  const owner = users.get(demo.owner)!;
  const existing = await findOwnTask(url, owner, demo.title);
  if (existing)
    return { owner: demo.owner, title: demo.title, id: existing.id, action: 'already there' };
  const input = {
    title: demo.title,
    description: demo.description,
    priority: demo.priority,
    ...(demo.status ? { status: demo.status } : {}),
    dueDate: demo.dueInDays === undefined ? null : dateIn(demo.dueInDays),
    assigneeId: demo.assignee ? users.get(demo.assignee)!.id : null,
  };
  const { createTask } = await postGraphQL<{ createTask: TaskNode }>(
    url,
    'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id title assignee { id } } }',
    { input },
    owner.accessToken,
  );
  return { owner: demo.owner, title: demo.title, id: createTask.id, action: 'created' };
}

async function assignLater(
  url: string,
  task: SeededTask,
  owner: SeededUser,
  assignee: SeededUser,
): Promise<void> {
  await postGraphQL<{ assignTask: TaskNode }>(
    url,
    'mutation ($id: ID!, $assigneeId: ID) { assignTask(id: $id, assigneeId: $assigneeId) { id assignee { id } } }',
    { id: task.id, assigneeId: assignee.id },
    owner.accessToken,
  );
}

/** The number of steps `seedDemo` reports through `onStep`. */
export const SEED_STEPS = 1 + DEMO_USERS.length + DEMO_TASKS.length;

/** Seeds the demo users and tasks through the router at `options.url`. */
export async function seedDemo(options: SeedOptions): Promise<SeedResult> {
  const { url } = options;
  const deadline = () => Date.now() + (options.waitMs ?? 60_000);
  const onStep = options.onStep ?? (() => {});
  const onDone = options.onDone ?? (() => {});
  const onWait = options.onWait ?? (() => {});

  onStep('waiting for the router');
  await waitForRouter(url, deadline(), onWait);
  onDone(`router ready at ${url}`);

  const users = new Map<Username, SeededUser>();
  for (const demo of DEMO_USERS) {
    onStep(`user ${demo.username}`);
    const user = await retrying(() => registerOrLogin(url, demo), deadline(), onWait);
    users.set(demo.username, user);
    onDone(`${user.username}: ${user.action} (${user.role})`);
  }

  const tasks: SeededTask[] = [];
  for (const demo of DEMO_TASKS) {
    onStep(`task "${demo.title}"`);
    // Until the tasks service has the assignee from the user events, creating is refused:
    // find-then-create again, so a retry never makes a second task.
    const task = await retrying(
      () => seedTask(url, demo, users),
      deadline(),
      onWait,
      assigneeNotKnownYet,
    );
    if (task.action === 'created' && demo.assignLater) {
      const owner = users.get(demo.owner)!;
      const assignee = users.get(demo.assignLater)!;
      await retrying(
        () => assignLater(url, task, owner, assignee),
        deadline(),
        onWait,
        assigneeNotKnownYet,
      );
    }
    tasks.push(task);
    onDone(`task "${task.title}" (${task.owner}): ${task.action}`);
  }
  return { url, users: [...users.values()], tasks };
}

function summary(result: SeedResult): string {
  const created = result.tasks.filter(t => t.action === 'created').length;
  const lines = [
    `Seeded ${result.url}`,
    `  users (password "${DEMO_PASSWORD}"):`,
    ...result.users.map(
      u => `    ${u.username.padEnd(6)} ${u.role.padEnd(5)} ${u.action.padEnd(10)} ${u.id}`,
    ),
    `  tasks: ${created} created, ${result.tasks.length - created} already there`,
  ];
  const admin = result.users.find(u => u.role === 'ADMIN');
  lines.push(
    admin
      ? `  ${admin.username} is ADMIN (first user registered on this database)`
      : '  none of the demo users is ADMIN: this database had users before the first seed',
  );
  return lines.join('\n');
}

const USAGE = `Usage: npm run seed [-- --url <router graphql url>] [--wait <seconds>]

Registers (or logs in) alice, bob and carol with password "${DEMO_PASSWORD}" and creates their
demo tasks through the router. Safe to run again: nothing is created twice.

  --url   the router's GraphQL endpoint (default ${DEFAULT_URL})
  --wait  seconds to wait for the router to be ready and to retry (default 60)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: DEFAULT_URL },
      wait: { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const url = new URL(values.url).toString();
  const waitSeconds = Number(values.wait);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
    throw new Error(`--wait must be a number of seconds, got ${values.wait}`);

  // The bar needs a terminal; piped or in CI, one line per step on stderr says the same.
  const tty = Boolean(process.stderr.isTTY);
  const bar = new cliProgress.SingleBar(
    {
      format: 'seeding [{bar}] {value}/{total} {step}',
      stream: process.stderr,
      hideCursor: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  if (tty) bar.start(SEED_STEPS, 0, { step: '' });
  let lastWait = '';
  try {
    const result = await seedDemo({
      url,
      waitMs: waitSeconds * 1000,
      onStep: step => (tty ? bar.update({ step }) : undefined),
      onDone: line => (tty ? bar.increment() : process.stderr.write(`  ${line}\n`)),
      onWait: reason => {
        if (tty) bar.update({ step: `${reason}; retrying` });
        else if (reason !== lastWait) process.stderr.write(`  ${reason}; retrying\n`);
        lastWait = reason;
      },
    });
    if (tty) {
      bar.update({ step: 'done' });
      bar.stop();
    }
    process.stdout.write(`${summary(result)}\n`);
  } catch (err) {
    if (tty) bar.stop();
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
