import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import postgres from 'postgres';
import { signClaims } from '#lib/auth/claims.js';
import { issueAccessToken } from '#lib/auth/jwt.js';
import { loadConfig } from '#lib/config.js';
import { createAmqpBus } from '#lib/events/amqp.js';
import { createLogger } from '#lib/log.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { runSubgraph, type RunningSubgraph } from '#lib/subgraph/run.js';
import { subgraphs as descriptors, type SubgraphName } from '../subgraphs/index.js';
import { deleteNamespace } from '../test/support/amqp.js';
import {
  createTestDatabase,
  TEST_AMQP_URL,
  uniqueName,
  type TestDatabase,
} from '../test/support/services.js';
import { seedPrivateFanout } from './fanout-private.js';
import type { HostileCounts } from './hostile.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import {
  FLOOR,
  loadAverage,
  renderMarkdown,
  renderTracing,
  type BenchResults,
  type FanoutRow,
  type SqlRow,
} from './report.js';
import { DEEP_QUERY, MUTATION_MIX, seedShapeViewers } from './shapes.js';
import {
  FLOOR_TASKS_QUERY,
  FLOOR_USERS_QUERY,
  gql,
  sleep,
  summarize,
  TASKS_QUERY,
  type BenchClaims,
  type FanoutMessage,
  type FanoutResult,
  type FanoutSpec,
  type GatewayMessage,
  type GatewaySpec,
  type HttpLoadResult,
  type HttpLoadSpec,
} from './shared.js';
import { startTracedRouter, TRACING_VARIANTS, tracingRow, type TracingResults } from './tracing.js';

/**
 * `npm run bench`: the supergraph's subgraphs on real Postgres (fresh databases) and
 * RabbitMQ (a namespace of its own) in this process; each gateway — our router before and
 * after its optimizations, and Hive Gateway — in a process of its own; the load from
 * another process (`bench/load.ts`). Everything on loopback, bounded in time and count,
 * and cleaned up at the end. Writes `bench/results/latest.{md,json}`.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const RESULTS = join(HERE, 'results');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'no-hive': { type: 'boolean', default: false },
    'no-http': { type: 'boolean', default: false },
    'no-fanout': { type: 'boolean', default: false },
    'no-lag': { type: 'boolean', default: false },
    'no-shapes': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    startup: { type: 'boolean', default: false },
    tracing: { type: 'boolean', default: false },
    'no-tracing': { type: 'boolean', default: false },
    connections: { type: 'string', default: '8' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`Usage: npm run bench [-- --quick] [--profile] [--no-hive] [--connections N]

  --quick        shorter runs (a smoke test of the bench itself; numbers are noisier)
  --profile      run the gateways with --cpu-prof during the HTTP runs; top functions in the report
  --no-hive      leave Hive Gateway (and Hive Gateway + Rust planner) out
  --no-http      skip the HTTP latency and throughput runs
  --no-fanout    skip the subscription fan-out runs
  --no-lag       skip the event-lag samples
  --no-shapes    skip the deep-query and mutation-mix runs
  --connections  concurrent connections of the throughput runs (default 8)
  --scale        only the scale-out topology (bench/scale.ts): 1 vs 2 replicas per role behind HAProxy
  --startup      only npm start's start-up (bench/startup.ts): ready time and RSS, fresh and warm .data/
  --tracing      only the cost of tracing (bench/tracing.ts): router/index.ts with tracing off, 100 %
                 and 10 % sampled, exporting to a receiver of the bench; writes bench/results/tracing.*
  --no-tracing   leave the tracing runs out of the full run
`);
  process.exit(0);
}
// Only the tracing runs: the infrastructure and our router, nothing else measured.
if (args.tracing)
  Object.assign(args, {
    'no-hive': true,
    'no-http': true,
    'no-fanout': true,
    'no-lag': true,
    'no-shapes': true,
  });
const TRACING = args.tracing || !args['no-tracing'];

const QUICK = args.quick;
const loadAtStart = loadavg();
const PLAN = {
  latency: { connections: 1, warmupSeconds: QUICK ? 1 : 2, durationSeconds: QUICK ? 2 : 6 },
  throughput: {
    connections: Number(args.connections),
    warmupSeconds: QUICK ? 1 : 2,
    durationSeconds: QUICK ? 3 : 8,
  },
  fanout: {
    sizes: args['no-fanout'] ? [] : QUICK ? [20, 100] : [100, 1000],
    mutations: QUICK ? 5 : 20,
    intervalMs: 200,
  },
  privateFanout: {
    size: args['no-fanout'] ? 0 : QUICK ? 100 : 1000,
    tasksEach: 3,
    changesPerRound: QUICK ? 10 : 25,
  },
  lag: { samples: args['no-lag'] ? 0 : QUICK ? 10 : 50, pollMs: 2 },
  seed: { tasks: 200 },
  tracing: { rounds: TRACING ? (QUICK ? 1 : 2) : 0 },
  shapes: { tasksEach: 10 },
};

// ---------------------------------------------------------------- progress
const tty = Boolean(process.stderr.isTTY);
const bar = new cliProgress.SingleBar(
  {
    format: 'bench [{bar}] {percentage}% {elapsed}s | {step}',
    stream: process.stderr,
    hideCursor: true,
    barsize: 30,
    fps: 5,
  },
  cliProgress.Presets.shades_classic,
);
const started = performance.now();
const elapsed = () => ((performance.now() - started) / 1000).toFixed(0);
let unitsDone = 0;
let unitsTotal = 1;
let stepName = '';
const progress = {
  start(total: number) {
    unitsTotal = total;
    if (tty) bar.start(total, 0, { step: 'starting', elapsed: '0' });
  },
  step(name: string) {
    stepName = name;
    if (tty) bar.update(unitsDone, { step: name, elapsed: elapsed() });
    else process.stderr.write(`[bench ${elapsed().padStart(4)}s] ${name}\n`);
  },
  /** Moves within the current step: `fraction` of its `units`. */
  within(units: number, fraction: number, detail?: string) {
    if (tty)
      bar.update(unitsDone + units * Math.min(1, fraction), {
        step: detail ? `${stepName} ${detail}` : stepName,
        elapsed: elapsed(),
      });
  },
  done(units: number) {
    unitsDone += units;
    if (tty) bar.update(unitsDone, { step: stepName, elapsed: elapsed() });
  },
  log(line: string) {
    if (tty) bar.update(unitsDone, { step: line, elapsed: elapsed() });
    else process.stderr.write(`[bench ${elapsed().padStart(4)}s]   ${line}\n`);
  },
  stop() {
    if (tty) {
      bar.update(unitsTotal, { step: 'done', elapsed: elapsed() });
      bar.stop();
    }
  },
};

// ---------------------------------------------------------------- child processes
mkdirSync(RESULTS, { recursive: true });
const childLog = createWriteStream(join(RESULTS, 'bench.log.tmp'));
const children = new Set<ChildProcess>();

function spawnTs(script: string, argv: string[], name: string): ChildProcess {
  const nodeArgs = ['--import', 'tsx', join(HERE, script), ...argv];
  const child = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  child.stdout?.on('data', (d: Buffer) => childLog.write(`[${name}] ${d.toString()}`));
  child.stderr?.on('data', (d: Buffer) => childLog.write(`[${name}] ${d.toString()}`));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** The abusive client (bench/hostile.ts) in a process of its own; `stop()` gives its counts. */
function startHostile(url: string, token: string): { stop(): Promise<HostileCounts> } {
  const child = spawnTs('hostile.ts', [url, token], 'hostile');
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        child.once('message', message => resolve((message as { counts: HostileCounts }).counts));
        child.once('exit', code => reject(new Error(`the hostile client exited (${code})`)));
        child.send({ type: 'stop' });
      }),
  };
}

const slug = (label: string) =>
  label
    .replace(/[^a-z0-9]+/gi, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();

interface Gateway {
  spec: GatewaySpec;
  url: string;
  stats(): Promise<Extract<GatewayMessage, { type: 'stats' }>>;
  /** Starts the V8 CPU profiler in the gateway process; the function it returns stops it and writes `file`. */
  profile(file: string): () => Promise<void>;
  stop(): Promise<void>;
}

async function startGateway(spec: GatewaySpec): Promise<Gateway> {
  const child = spawnTs('gateway.ts', [JSON.stringify(spec)], slug(spec.label));
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${spec.label} did not start within 60 s`)),
      60_000,
    );
    child.on('message', (m: GatewayMessage) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve(m.url);
      } else if (m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`${spec.label}: ${m.message}`));
      }
    });
    child.once('exit', code =>
      reject(
        new Error(
          `${spec.label} exited with ${code} before listening (see bench/results/bench.log.tmp)`,
        ),
      ),
    );
  });
  return {
    spec,
    url,
    stats: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${spec.label} did not answer stats`)),
          10_000,
        );
        const onMessage = (m: GatewayMessage) => {
          if (m.type !== 'stats') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats' });
      }),
    profile: file => {
      child.send({ type: 'profile-start' });
      return () =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`${spec.label} did not write its profile`)),
            30_000,
          );
          const onMessage = (m: GatewayMessage) => {
            if (m.type !== 'profiled') return;
            clearTimeout(timer);
            child.off('message', onMessage);
            resolve();
          };
          child.on('message', onMessage);
          child.send({ type: 'profile-stop', file });
        });
    },
    stop: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs one spec in a fresh load process; `onMessage` sees its progress and phases. */
async function runLoad<R>(
  spec: HttpLoadSpec | FanoutSpec,
  onMessage: (m: FanoutMessage) => void = () => {},
): Promise<R> {
  const child = spawnTs('load.ts', [], `load-${slug(spec.label)}`);
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load run ${spec.label} took longer than 5 minutes`));
    }, 300_000);
    let settled = false;
    child.on(
      'message',
      (m: FanoutMessage | { type: 'result'; result: R } | { type: 'error'; message: string }) => {
        if (m.type === 'result') {
          settled = true;
          clearTimeout(timer);
          resolve(m.result);
        } else if (m.type === 'error') {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`load run ${spec.label}: ${m.message}`));
        } else onMessage(m);
      },
    );
    child.once('exit', code => {
      clearTimeout(timer);
      if (!settled) reject(new Error(`load process for ${spec.label} exited with ${code}`));
    });
    child.send({ type: 'run', spec });
  });
}

// ---------------------------------------------------------------- the run
const cleanups: Array<() => Promise<unknown>> = [];
let cleaning: Promise<void> | undefined;
/** Stops everything the run started and removes its databases and queues; once, whoever asks first. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const fn of cleanups.splice(0).reverse())
      await fn().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
  })();
  return cleaning;
}
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write('\ninterrupted: cleaning up (Ctrl-C again to leave everything behind)\n');
  void cleanup().finally(() => process.exit(130));
});

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function main(): Promise<BenchResults> {
  const hive = !args['no-hive'];
  const gatewayCount = hive ? 5 : 3;
  // Rough seconds per step, for the progress bar only.
  const httpUnits =
    (PLAN.latency.warmupSeconds +
      PLAN.latency.durationSeconds +
      2 * (PLAN.throughput.warmupSeconds + PLAN.throughput.durationSeconds) +
      3) *
    (gatewayCount + 1);
  const fanoutUnits = PLAN.fanout.sizes.length * (hive ? 7 : 3) * 12;
  const tracingUnits =
    PLAN.tracing.rounds *
    TRACING_VARIANTS.length *
    (PLAN.throughput.warmupSeconds + PLAN.throughput.durationSeconds + 1);
  progress.start(10 + 15 + httpUnits + tracingUnits + 5 + fanoutUnits + 20);

  // ---- infrastructure: fresh databases, a namespaced bus, the subgraphs in this process
  progress.step('creating databases and a RabbitMQ namespace');
  const jwtSecret = randomBytes(32).toString('hex');
  const routerSecret = randomBytes(32).toString('hex');
  const config = loadConfig(
    {
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      JWT_SECRET: jwtSecret,
      ROUTER_SECRET: routerSecret,
      ACCESS_TOKEN_TTL: '3600',
      AMQP_URL: TEST_AMQP_URL,
      DATABASE_POOL_SIZE: '10',
    },
    descriptors,
  );
  const log = createLogger({ level: 'error', destination: childLog });
  const SUBGRAPHS = descriptors.map(d => d.name as SubgraphName);
  const databases = {} as Record<SubgraphName, TestDatabase>;
  for (const name of SUBGRAPHS) {
    const database = await createTestDatabase(`bench_${name}`);
    databases[name] = database;
    cleanups.push(() => database.drop());
  }
  const namespace = `${uniqueName('bench')}.`;
  cleanups.push(() => deleteNamespace(namespace));
  const bus = await createAmqpBus({
    url: TEST_AMQP_URL,
    log,
    namespace,
    queues: workQueues(descriptors),
  });
  cleanups.push(() => bus.close());
  const statements: Record<SubgraphName, string[]> = { users: [], tasks: [], notifications: [] };
  let counting = false;
  /** Statements per subgraph during a throughput run (the outbox relay's polling left out). */
  const underLoad: Record<SubgraphName, number> = { users: 0, tasks: 0, notifications: 0 };
  let countingLoad = false;
  const relayStatement = /pg_try_advisory|"outbox"/;
  const common = (name: SubgraphName) => ({
    config,
    bus,
    log,
    port: 0,
    databaseUrl: databases[name].url,
    onQuery: (q: string) => {
      if (counting) statements[name].push(q);
      if (countingLoad && !relayStatement.test(q)) underLoad[name] += 1;
    },
  });
  progress.done(5);
  progress.step('starting the subgraphs (users, tasks, notifications)');
  const subgraphs = {} as Record<SubgraphName, RunningSubgraph>;
  for (const descriptor of descriptors) {
    const name = descriptor.name as SubgraphName;
    const running = await runSubgraph(descriptor, common(name));
    subgraphs[name] = running;
    cleanups.push(() => running.stop());
  }
  const subgraphUrls = {
    users: `${subgraphs.users.url}/graphql`,
    tasks: `${subgraphs.tasks.url}/graphql`,
    notifications: `${subgraphs.notifications.url}/graphql`,
  };
  progress.done(5);

  // ---- gateways, each in a process of its own
  const specs: GatewaySpec[] = [
    {
      label: 'router (before)',
      kind: 'router',
      baseline: true,
      subgraphUrls,
      jwtSecret,
      routerSecret,
    },
    { label: 'router (after)', kind: 'router', subgraphUrls, jwtSecret, routerSecret },
    ...(hive
      ? [
          { label: 'Hive Gateway', kind: 'hive' as const, subgraphUrls, jwtSecret, routerSecret },
          {
            label: 'Hive Gateway + Rust planner',
            kind: 'hive-rust' as const,
            subgraphUrls,
            jwtSecret,
            routerSecret,
          },
        ]
      : []),
  ];
  progress.step(`starting ${specs.map(s => s.label).join(', ')}`);
  const profileDir = args.profile ? join(RESULTS, 'profiles') : undefined;
  if (profileDir) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  const gateways = await Promise.all(specs.map(spec => startGateway(spec)));
  const stopGateways = async () => {
    await Promise.all(gateways.map(g => g.stop()));
  };
  cleanups.push(stopGateways);
  const ours = gateways[1]!;
  progress.done(5);

  // ---- seed through our router's API: 3 users, 200 tasks with assignees
  progress.step(`seeding 3 users and ${PLAN.seed.tasks} tasks through the router`);
  type Auth = {
    register: {
      accessToken: string;
      user: { id: string; role: 'USER' | 'ADMIN'; username: string };
    };
  };
  const register = async (username: string, displayName: string, url = ours.url) =>
    (
      await gql<Auth>(
        url,
        'mutation ($input: RegisterInput!) { register(input: $input) { accessToken user { id role username } } }',
        {
          input: {
            username,
            email: `${username}@example.com`,
            password: 'bench-password-1',
            displayName,
          },
        },
      )
    ).register;
  const alice = await register('alice', 'Alice Anderson'); // first user: ADMIN
  const bob = await register('bob', 'Bob Brown');
  const carol = await register('carol', 'Carol Clark');
  const createTask = async (title: string, assigneeId: string | null) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return (
          await gql<{ createTask: { id: string } }>(
            ours.url,
            'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id } }',
            { input: { title, assigneeId, priority: 'MEDIUM' } },
            alice.accessToken,
          )
        ).createTask.id;
      } catch (err) {
        // The tasks service learns of new users from events: retry until it knows them.
        if ((err as { code?: unknown }).code !== 'BAD_USER_INPUT' || attempt > 100) throw err;
        await sleep(50);
      }
    }
  };
  const taskIds: Array<{ id: string; assignee: 'bob' | 'carol' }> = [];
  for (let i = 0; i < PLAN.seed.tasks; i += 4) {
    const batch = await Promise.all(
      [0, 1, 2, 3].map(async k => {
        const assignee = (i + k) % 2 === 0 ? 'bob' : 'carol';
        const id = await createTask(
          `Task ${i + k + 1}`,
          assignee === 'bob' ? bob.user.id : carol.user.id,
        );
        return { id, assignee } as const;
      }),
    );
    taskIds.push(...batch);
    progress.within(15, taskIds.length / PLAN.seed.tasks);
  }
  progress.done(15);

  // ---- correctness first: every target answers the same data
  const viewer: BenchClaims = {
    userId: alice.user.id,
    role: alice.user.role,
    username: alice.user.username,
    sessionId: randomUUID(),
    clientAddress: null,
  };
  const floorOnce = async () => {
    const post = async (url: string, body: unknown) => {
      const text = JSON.stringify(body);
      const audience = url === subgraphUrls.tasks ? 'tasks' : 'users';
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...signClaims(viewer, routerSecret, { audience, body: text }),
        },
        body: text,
      });
      return (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
    };
    type Ref = { id: string } | null;
    const tasks = (await post(subgraphUrls.tasks, { query: FLOOR_TASKS_QUERY })) as {
      data?: { tasks: { edges: Array<{ node: { owner: Ref; assignee: Ref } }> } };
      errors?: unknown[];
    };
    if (tasks.errors || !tasks.data)
      throw new Error(`floor tasks call failed: ${JSON.stringify(tasks.errors)}`);
    const ids = [
      ...new Set(
        tasks.data.tasks.edges
          .flatMap(({ node }) => [node.owner?.id, node.assignee?.id])
          .filter((id): id is string => !!id),
      ),
    ];
    const users = await post(subgraphUrls.users, {
      query: FLOOR_USERS_QUERY,
      variables: { representations: ids.map(id => ({ __typename: 'User', id })) },
    });
    if (users.errors || !users.data)
      throw new Error(`floor users call failed: ${JSON.stringify(users.errors)}`);
    return tasks.data.tasks.edges.length;
  };
  const reference = JSON.stringify(await gql(ours.url, TASKS_QUERY, {}, alice.accessToken));
  for (const g of gateways) {
    const answer = JSON.stringify(await gql(g.url, TASKS_QUERY, {}, alice.accessToken));
    if (answer !== reference)
      throw new Error(
        `${g.spec.label} answers the query differently from our router:\n${answer.slice(0, 300)}\n${reference.slice(0, 300)}`,
      );
  }
  if ((await floorOnce()) !== 50) throw new Error('the floor did not get a page of 50 tasks');

  // ---- SQL statements per operation (median of 5, the outbox relay's polling left out)
  progress.step('counting SQL statements per operation');
  /** Waits for a second without a statement beyond the relay's polling (consumers caught up). */
  const waitForQuiet = async (timeoutMs: number) => {
    const quietFrom = performance.now();
    for (;;) {
      for (const name of SUBGRAPHS) statements[name].length = 0;
      counting = true;
      await sleep(1000);
      counting = false;
      const busy = SUBGRAPHS.some(name => statements[name].some(q => !relayStatement.test(q)));
      if (!busy || performance.now() - quietFrom > timeoutMs) break;
    }
  };
  // The consumers are still applying the seed's events: wait for a quiet second first.
  await waitForQuiet(60_000);
  const countStatements = async (label: string, run: () => Promise<unknown>): Promise<SqlRow> => {
    const counts: Array<Record<SubgraphName, number>> = [];
    for (let i = 0; i < 5; i++) {
      for (const name of SUBGRAPHS) statements[name].length = 0;
      counting = true;
      await run();
      counting = false;
      counts.push(
        Object.fromEntries(
          SUBGRAPHS.map(name => [
            name,
            statements[name].filter(q => !relayStatement.test(q)).length,
          ]),
        ) as Record<SubgraphName, number>,
      );
    }
    const median = (name: SubgraphName) => counts.map(c => c[name]).sort((a, b) => a - b)[2] ?? 0;
    const row = {
      label,
      users: median('users'),
      tasks: median('tasks'),
      notifications: median('notifications'),
    };
    return { ...row, total: row.users + row.tasks + row.notifications };
  };
  const sql: SqlRow[] = [await countStatements(FLOOR, floorOnce)];
  for (const g of gateways)
    sql.push(
      await countStatements(g.spec.label, () => gql(g.url, TASKS_QUERY, {}, alice.accessToken)),
    );
  progress.done(5);

  // ---- HTTP: latency at 1 connection, then throughput at N, each target in turn
  // Viewers of their own for the "one viewer per connection" runs: ADMIN tokens minted for the
  // run (as the users service would issue them), so each sees the same page alice sees.
  const loadViewers = Array.from({ length: PLAN.throughput.connections }, (_, i) => {
    const claims: BenchClaims = {
      userId: randomUUID(),
      role: 'ADMIN',
      username: `loadviewer${i}`,
      sessionId: randomUUID(),
      clientAddress: null,
    };
    const user = { id: claims.userId, role: claims.role, username: claims.username };
    return { claims, token: issueAccessToken(user, claims.sessionId, config.jwt).token };
  });
  const minted = JSON.stringify(await gql(ours.url, TASKS_QUERY, {}, loadViewers[0]!.token));
  if (minted !== reference)
    throw new Error('a minted ADMIN viewer does not see the page alice sees');
  const targetsFor = (many: boolean): Array<{ label: string; target: HttpLoadSpec['target'] }> => [
    {
      label: FLOOR,
      target: {
        kind: 'floor',
        tasksUrl: subgraphUrls.tasks,
        usersUrl: subgraphUrls.users,
        notificationsUrl: subgraphUrls.notifications,
        routerSecret,
        claims: many ? loadViewers.map(v => v.claims) : [viewer],
      },
    },
    ...gateways.map(g => ({
      label: g.spec.label,
      target: {
        kind: 'graphql' as const,
        url: g.url,
        tokens: many ? loadViewers.map(v => v.token) : [alice.accessToken],
      },
    })),
  ];
  const http: BenchResults['http'] = { latency: [], throughput: [], throughputViewers: [] };
  const sqlUnderLoad: SqlRow[] = [];
  const profiles: ProfileSummary[] | undefined = profileDir ? [] : undefined;
  const phases = args['no-http']
    ? []
    : ([
        { key: 'latency', plan: PLAN.latency, many: false, viewers: 'one viewer' },
        { key: 'throughput', plan: PLAN.throughput, many: false, viewers: 'one viewer' },
        {
          key: 'throughputViewers',
          plan: PLAN.throughput,
          many: true,
          viewers: `${PLAN.throughput.connections} viewers, one per connection`,
        },
      ] as const);
  for (const { key: phase, plan, many, viewers: viewersLabel } of phases) {
    for (const t of targetsFor(many)) {
      const units = plan.warmupSeconds + plan.durationSeconds + 1;
      progress.step(
        `${phase === 'latency' ? 'latency' : 'throughput'}: ${t.label}, ${plan.connections} connection(s), ${viewersLabel}, ${plan.durationSeconds} s`,
      );
      // Profiled when asked: the gateway under load from distinct viewers (no sharing), nothing else.
      const gateway = gateways.find(g => g.spec.label === t.label);
      const profileFile =
        profileDir && phase === 'throughputViewers' && gateway
          ? join(profileDir, `${slug(t.label)}.cpuprofile`)
          : undefined;
      const stopProfile = profileFile ? gateway?.profile(profileFile) : undefined;
      for (const name of SUBGRAPHS) underLoad[name] = 0;
      countingLoad = phase !== 'latency';
      const result = await runLoad<HttpLoadResult>(
        { mode: 'http', label: t.label, target: t.target, viewers: viewersLabel, ...plan },
        m => {
          if (m.type === 'progress') progress.within(units, m.done / m.total);
        },
      );
      if (countingLoad) {
        countingLoad = false;
        const per = (name: SubgraphName) =>
          Math.round((underLoad[name] / Math.max(1, result.totalOperations)) * 100) / 100;
        sqlUnderLoad.push({
          label: `${t.label} (${viewersLabel})`,
          users: per('users'),
          tasks: per('tasks'),
          notifications: per('notifications'),
          total: 0,
        });
        const last = sqlUnderLoad[sqlUnderLoad.length - 1]!;
        last.total = Math.round((last.users + last.tasks + last.notifications) * 100) / 100;
      }
      if (stopProfile && profileFile) {
        await stopProfile();
        profiles?.push(summarizeProfile(t.label, profileFile));
      }
      http[phase].push(result);
      progress.log(
        `${t.label}: ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, ${result.failures} failed`,
      );
      progress.done(units);
    }
  }

  // ---- the other shapes (bench/shapes.ts): a deep query and a mutation-heavy mix, a viewer per connection
  const shapes: NonNullable<BenchResults['shapes']> = [];
  if (!args['no-http'] && !args['no-shapes']) {
    progress.step('seeding the shape viewers (registered, ADMIN, tasks assigned to each other)');
    const shapeViewers = await seedShapeViewers({
      url: ours.url,
      adminToken: alice.accessToken,
      jwt: config.jwt,
      count: PLAN.throughput.connections,
      tasksEach: PLAN.shapes.tasksEach,
    });
    // Correctness first: every gateway answers the deep query as our router does.
    const deepReference = JSON.stringify(
      await gql(ours.url, DEEP_QUERY, {}, shapeViewers[0]!.token),
    );
    for (const g of gateways) {
      const answer = JSON.stringify(await gql(g.url, DEEP_QUERY, {}, shapeViewers[0]!.token));
      if (answer !== deepReference)
        throw new Error(
          `${g.spec.label} answers the deep query differently from our router:\n${answer}\n${deepReference}`,
        );
    }
    const viewersLabel = `${PLAN.throughput.connections} viewers, one per connection`;
    for (const name of ['deep', 'mutations'] as const) {
      const rows: HttpLoadResult[] = [];
      const targets = [
        {
          label: FLOOR,
          target: {
            kind: 'floor' as const,
            tasksUrl: subgraphUrls.tasks,
            usersUrl: subgraphUrls.users,
            notificationsUrl: subgraphUrls.notifications,
            routerSecret,
            claims: shapeViewers.map(v => v.claims),
          },
        },
        ...gateways.map(g => ({
          label: g.spec.label,
          target: { kind: 'graphql' as const, url: g.url, tokens: shapeViewers.map(v => v.token) },
        })),
      ];
      for (const t of targets) {
        const plan = PLAN.throughput;
        const units = plan.warmupSeconds + plan.durationSeconds + 1;
        progress.step(`${name}: ${t.label}, ${plan.connections} connections, ${viewersLabel}`);
        const gateway = gateways.find(g => g.spec.label === t.label);
        const profileFile =
          profileDir && name === 'deep' && gateway
            ? join(profileDir, `deep-${slug(t.label)}.cpuprofile`)
            : undefined;
        const stopProfile = profileFile ? gateway?.profile(profileFile) : undefined;
        const result = await runLoad<HttpLoadResult>(
          {
            mode: 'http',
            label: t.label,
            target: t.target,
            viewers: viewersLabel,
            shape: {
              name,
              viewers: shapeViewers.map(({ tasks, assignees }) => ({ tasks, assignees })),
            },
            ...plan,
          },
          m => {
            if (m.type === 'progress') progress.within(units, m.done / m.total);
          },
        );
        if (stopProfile && profileFile) {
          await stopProfile();
          profiles?.push(summarizeProfile(`${t.label} (deep query)`, profileFile));
        }
        rows.push(result);
        progress.log(
          `${name} ${t.label}: ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, ${result.failures} failed`,
        );
        progress.done(units);
      }
      shapes.push({ name, query: name === 'deep' ? DEEP_QUERY : MUTATION_MIX, rows });
    }
  }

  // ---- the abusive neighbour: a well-behaved client's latency alone, then beside a client
  // sending the hostile operations (bench/hostile.ts), side by side in this run
  let neighbour: BenchResults['neighbour'];
  if (!args['no-http']) {
    const target = { kind: 'graphql' as const, url: ours.url, tokens: [alice.accessToken] };
    const measure = (label: string) => {
      progress.step(`abusive neighbour: ${ours.spec.label}, ${label}`);
      return runLoad<HttpLoadResult>(
        { mode: 'http', label, target, viewers: 'one viewer', ...PLAN.latency },
        () => {},
      );
    };
    const alone = await measure('alone');
    const hostile = startHostile(ours.url, bob.accessToken);
    const beside = await measure('beside an abusive client');
    neighbour = { gateway: ours.spec.label, alone, beside, hostile: await hostile.stop() };
    progress.log(
      `abusive neighbour: p99 ${alone.latencyMs.p99.toFixed(2)} ms alone, ${beside.latencyMs.p99.toFixed(2)} ms beside it`,
    );
  }

  // ---- the cost of tracing (bench/tracing.ts): router/index.ts off, 100 % and 10 % sampled,
  // side by side, round after round, the same viewers and load as the per-viewer throughput run
  let tracing: TracingResults | undefined;
  if (PLAN.tracing.rounds > 0) {
    progress.step('tracing: starting router/index.ts off, 100 % and 10 % sampled');
    const traced = await Promise.all(
      TRACING_VARIANTS.map(variant =>
        startTracedRouter(variant, {
          subgraphUrls,
          jwtSecret,
          routerSecret,
          onOutput: line => childLog.write(line),
        }),
      ),
    );
    const stopTraced = () => Promise.all(traced.map(t => t.stop()));
    cleanups.push(stopTraced);
    // Against our router now: the mutation mix has changed the tasks since `reference`.
    const current = JSON.stringify(await gql(ours.url, TASKS_QUERY, {}, alice.accessToken));
    for (const t of traced) {
      const answer = JSON.stringify(await gql(t.url, TASKS_QUERY, {}, alice.accessToken));
      if (answer !== current)
        throw new Error(`${t.variant.label} answers the query differently from our router`);
    }
    const viewersLabel = `${PLAN.throughput.connections} viewers, one per connection`;
    const rounds = traced.map((): HttpLoadResult[] => []);
    const units = PLAN.throughput.warmupSeconds + PLAN.throughput.durationSeconds + 1;
    for (let round = 1; round <= PLAN.tracing.rounds; round++) {
      for (const [i, t] of traced.entries()) {
        progress.step(`tracing: ${t.variant.label}, round ${round}/${PLAN.tracing.rounds}`);
        const result = await runLoad<HttpLoadResult>(
          {
            mode: 'http',
            label: t.variant.label,
            target: { kind: 'graphql', url: t.url, tokens: loadViewers.map(v => v.token) },
            viewers: viewersLabel,
            ...PLAN.throughput,
          },
          m => {
            if (m.type === 'progress') progress.within(units, m.done / m.total);
          },
        );
        rounds[i]!.push(result);
        progress.log(
          `${t.variant.label}: ${result.opsPerSecond.toFixed(0)} ops/s, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, ${result.failures} failed`,
        );
        progress.done(units);
      }
    }
    // Stopped first (each flushes what it holds), then counted.
    await stopTraced();
    cleanups.splice(cleanups.indexOf(stopTraced), 1);
    tracing = {
      protocol: 'http/protobuf',
      connections: PLAN.throughput.connections,
      durationSeconds: PLAN.throughput.durationSeconds,
      viewers: viewersLabel,
      rows: traced.map((t, i) => tracingRow(t.variant, rounds[i]!, t.receiver.counts())),
    };
    const rejected = traced.reduce((sum, t) => sum + t.receiver.counts().rejected, 0);
    if (rejected > 0) throw new Error(`the OTLP receiver could not read ${rejected} export(s)`);
    if (tracing.rows[0]!.exports > 0) throw new Error('the router without an endpoint exported');
    if (tracing.rows.slice(1).some(r => r.spans === 0))
      throw new Error('a traced router exported no spans');
  }

  progress.step('stopping the HTTP-phase gateways');
  await stopGateways();
  cleanups.splice(cleanups.indexOf(stopGateways), 1);

  // ---- subscription fan-out, on fresh gateway processes (so their memory is the fan-out's)
  const fanout: FanoutRow[] = [];
  const fanoutTask = taskIds[0]!.id;
  const viewers = Array.from(
    { length: Math.max(0, ...PLAN.fanout.sizes) },
    (_, i) =>
      issueAccessToken(
        { id: randomUUID(), role: 'ADMIN', username: `viewer${i}` },
        randomUUID(),
        config.jwt,
      ).token,
  );
  // "before" differs from "after" only where viewers are distinct (one viewer: one resolution per change either way).
  const fanoutRuns = specs.flatMap(spec =>
    PLAN.fanout.sizes.flatMap(size =>
      (spec.baseline ? [false] : [true, false]).map(sameViewer => ({ spec, size, sameViewer })),
    ),
  );
  /** One fan-out run on a fresh process of `spec`: delivery, latency, memory, resolutions per change. */
  const measureFanout = async (
    spec: GatewaySpec,
    label: string,
    load: Omit<FanoutSpec, 'url' | 'label' | 'mode' | 'tag'>,
    profileFile: string | undefined,
  ): Promise<FanoutRow> => {
    progress.step(`fan-out: ${label}`);
    const gateway = await startGateway(spec);
    try {
      const idle = await gateway.stats();
      let subscribed = idle;
      let peakRss = idle.rss;
      let sampler: NodeJS.Timeout | undefined;
      const tag = `bench-${randomBytes(3).toString('hex')}`;
      const stopProfile = profileFile ? gateway.profile(profileFile) : undefined;
      const result = await runLoad<FanoutResult>(
        { mode: 'fanout', label, url: gateway.url, tag, ...load },
        m => {
          if (m.type === 'progress') progress.within(12, m.done / m.total, `${m.done}/${m.total}`);
          else if (m.type === 'phase') {
            if (m.detail) progress.log(`${label}: ${m.phase} (${m.detail})`);
            if (m.phase === 'subscribed') {
              void gateway.stats().then(s => {
                subscribed = s;
                peakRss = Math.max(peakRss, s.rss);
              });
            }
            if (m.phase === 'streaming' && !sampler) {
              // Every 250 ms, but never a second question while a busy gateway has not answered the first.
              let asking = false;
              sampler = setInterval(() => {
                if (asking) return;
                asking = true;
                void gateway
                  .stats()
                  .then(
                    s => (peakRss = Math.max(peakRss, s.rss)),
                    () => {},
                  )
                  .finally(() => (asking = false));
              }, 250);
            }
          }
        },
      );
      clearInterval(sampler);
      const finished = await gateway.stats();
      const resolved =
        (finished.subscriptions?.eventsResolved ?? 0) -
        (subscribed.subscriptions?.eventsResolved ?? 0);
      if (stopProfile && profileFile) {
        await stopProfile();
        profiles?.push(summarizeProfile(`${label} (fan-out)`, profileFile));
      }
      progress.log(
        `${label}: ${result.delivered}/${result.expected} delivered, ${result.unexpected ?? 0} unexpected, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, peak RSS ${mb(peakRss)} MB`,
      );
      progress.done(12);
      return {
        ...result,
        gateway: spec.label,
        rssIdleMb: mb(idle.rss),
        rssSubscribedMb: mb(subscribed.rss),
        rssPeakMb: mb(peakRss),
        upstreamSubscriptions: subscribed.subscriptions?.upstreamSubscriptions ?? null,
        resolutionsPerChange: finished.subscriptions ? resolved / result.mutations : null,
      };
    } finally {
      await gateway.stop();
    }
  };
  for (const { spec, size, sameViewer } of fanoutRuns) {
    const label = `${spec.label}: ${size} subscribers, ${sameViewer ? 'one viewer' : `${size} viewers`}`;
    // Profiled when asked: the largest distinct-viewer runs, where every event is resolved per viewer.
    const profileFile =
      profileDir && !sameViewer && size === Math.max(...PLAN.fanout.sizes)
        ? join(profileDir, `fanout-${slug(label)}.cpuprofile`)
        : undefined;
    fanout.push(
      await measureFanout(
        spec,
        label,
        {
          subscriberTokens: sameViewer
            ? Array.from({ length: size }, () => alice.accessToken)
            : viewers.slice(0, size),
          mutatorToken: alice.accessToken,
          taskId: fanoutTask,
          mutations: PLAN.fanout.mutations,
          intervalMs: PLAN.fanout.intervalMs,
        },
        profileFile,
      ),
    );
  }

  // ---- fan-out of ordinary users (bench/fanout-private.ts): each sees its own tasks and a few shared
  const privateFanout: FanoutRow[] = [];
  if (PLAN.privateFanout.size > 0) {
    progress.step(
      `seeding ${PLAN.privateFanout.size} ordinary users with ${PLAN.privateFanout.tasksEach} tasks each`,
    );
    const usersDb = postgres(databases.users.url, { max: 1, onnotice: () => {} });
    const seedDb = postgres(databases.tasks.url, { max: 1, onnotice: () => {} });
    const seeded = await seedPrivateFanout({
      usersDb,
      tasksDb: seedDb,
      jwt: config.jwt,
      count: PLAN.privateFanout.size,
      tasksEach: PLAN.privateFanout.tasksEach,
    }).finally(() => Promise.all([usersDb.end(), seedDb.end()]));
    for (const spec of specs.filter(s => !s.baseline)) {
      privateFanout.push(
        await measureFanout(
          spec,
          `${spec.label}: ${PLAN.privateFanout.size} ordinary users`,
          {
            subscriberTokens: seeded.tokens,
            mutatorToken: seeded.tokens[0]!,
            taskId: seeded.tasks[0]!.id,
            mutations: PLAN.fanout.mutations,
            intervalMs: PLAN.fanout.intervalMs,
            private: {
              tasks: seeded.tasks,
              tasksEach: PLAN.privateFanout.tasksEach,
              changesPerRound: PLAN.privateFanout.changesPerRound,
            },
          },
          undefined,
        ),
      );
    }
  }

  // ---- event lag, polled in the consumers' databases
  // The consumers may still be applying the fan-out's thousands of changes: a lag sample taken
  // behind that backlog would measure the backlog (and miss its 10 s deadline).
  progress.step('event lag: waiting for the consumers to catch up');
  if (PLAN.lag.samples > 0) await waitForQuiet(180_000);
  progress.step(`event lag: ${PLAN.lag.samples} registrations and ${PLAN.lag.samples} assignments`);
  // On the bench's broker namespace, so revocations reach it (the others run on their own).
  const lagRouter =
    PLAN.lag.samples > 0
      ? await startGateway({ ...specs[1]!, bus: { url: TEST_AMQP_URL, namespace } })
      : ours;
  cleanups.push(() => lagRouter.stop());
  const tasksDb = postgres(databases.tasks.url, { max: 1, onnotice: () => {} });
  const notificationsDb = postgres(databases.notifications.url, { max: 1, onnotice: () => {} });
  cleanups.push(() => Promise.all([tasksDb.end(), notificationsDb.end()]));
  const pollUntil = async (found: () => Promise<boolean>, what: string) => {
    const deadline = performance.now() + 10_000;
    for (;;) {
      if (await found()) return performance.now();
      if (performance.now() > deadline) throw new Error(`${what} never appeared`);
      await sleep(PLAN.lag.pollMs);
    }
  };
  const registrationLag: number[] = [];
  for (let i = 0; i < PLAN.lag.samples; i++) {
    const user = await register(
      `lag${i}_${randomBytes(2).toString('hex')}`,
      `Lag ${i}`,
      lagRouter.url,
    );
    const acknowledged = performance.now();
    const seen = await pollUntil(
      async () => (await tasksDb`select 1 from user_stubs where id = ${user.user.id}`).length > 0,
      'user stub',
    );
    registrationLag.push(seen - acknowledged);
    progress.within(20, (i + 1) / (2 * PLAN.lag.samples));
  }
  const assignmentLag: number[] = [];
  const toReassign = taskIds.filter(t => t.assignee === 'bob').slice(1, 1 + PLAN.lag.samples);
  for (const [i, task] of toReassign.entries()) {
    await gql(
      lagRouter.url,
      'mutation ($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }',
      { id: task.id, a: carol.user.id },
      alice.accessToken,
    );
    const acknowledged = performance.now();
    const seen = await pollUntil(
      async () =>
        (
          await notificationsDb`select 1 from notifications where task_id = ${task.id} and user_id = ${carol.user.id} and kind = 'TASK_ASSIGNED'`
        ).length > 0,
      'notification',
    );
    assignmentLag.push(seen - acknowledged);
    progress.within(20, 0.5 + (i + 1) / (2 * PLAN.lag.samples));
  }
  // Logout → the router refuses the session's access token (401), polled through the router.
  const revocationLag: number[] = [];
  for (let i = 0; i < PLAN.lag.samples; i++) {
    const username = `revoke${i}_${randomBytes(2).toString('hex')}`;
    const session = (
      await gql<{ register: { accessToken: string; refreshToken: string } }>(
        lagRouter.url,
        'mutation ($input: RegisterInput!) { register(input: $input) { accessToken refreshToken } }',
        { input: { username, email: `${username}@example.com`, password: 'bench-password-1' } },
      )
    ).register;
    await gql(
      lagRouter.url,
      'mutation ($t: String!) { logout(refreshToken: $t) }',
      { t: session.refreshToken },
      session.accessToken,
    );
    const acknowledged = performance.now();
    const seen = await pollUntil(async () => {
      const res = await fetch(lagRouter.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${session.accessToken}`,
        },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      await res.arrayBuffer();
      return res.status === 401;
    }, 'revocation');
    revocationLag.push(seen - acknowledged);
  }
  progress.done(20);

  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--', 'router', 'bench', 'lib', 'subgraphs'],
      { cwd: ROOT, encoding: 'utf8' },
    ).trim();
    if (dirty) commit += ' (with uncommitted changes)';
  } catch {
    // not a git checkout
  }
  return {
    meta: {
      date: new Date().toISOString(),
      commit,
      node: process.version,
      cpu: `${cpus()[0]?.model ?? 'unknown'} × ${availableParallelism()}`,
      memoryGb: Math.round(totalmem() / 1024 ** 3),
      quick: QUICK,
      plan: PLAN,
      query: TASKS_QUERY,
      seeded: { users: 3, tasks: PLAN.seed.tasks },
      loadAverage: { start: loadAtStart, end: loadavg() },
    },
    http,
    ...(shapes.length ? { shapes } : {}),
    sql,
    sqlUnderLoad,
    fanout,
    ...(privateFanout.length ? { privateFanout } : {}),
    ...(neighbour ? { neighbour } : {}),
    ...(tracing ? { tracing } : {}),
    eventLag: {
      pollMs: PLAN.lag.pollMs,
      registrationToStub: summarize(registrationLag),
      assignmentToNotification: summarize(assignmentLag),
      logoutToRefused: summarize(revocationLag),
    },
    ...(profiles ? { profiles } : {}),
  };
}

function write(results: BenchResults) {
  if (results.tracing) {
    const md = [
      `# Tracing cost (commit ${results.meta.commit}, ${results.meta.date}${results.meta.loadAverage ? `, load average ${loadAverage(results.meta.loadAverage)}` : ''})`,
      '',
      ...renderTracing(results.tracing),
    ].join('\n');
    writeFileSync(join(RESULTS, 'tracing.md'), md);
    writeFileSync(
      join(RESULTS, 'tracing.json'),
      `${JSON.stringify({ meta: results.meta, tracing: results.tracing }, null, 2)}\n`,
    );
    if (args.tracing) return md;
  }
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const md = renderMarkdown(results);
  writeFileSync(join(RESULTS, 'latest.json'), json);
  writeFileSync(join(RESULTS, 'latest.md'), md);
  const history = join(RESULTS, 'history');
  mkdirSync(history, { recursive: true });
  const stamp = results.meta.date.replace(/[:.]/g, '-');
  writeFileSync(join(history, `${stamp}.json`), json);
  return md;
}

if (args.startup) {
  const { compareStartup, renderStartup } = await import('./startup.js');
  const startup = await compareStartup([ROOT], args.quick ? 1 : 3);
  const md = renderStartup(startup);
  writeFileSync(join(RESULTS, 'startup.md'), `${md}\n`);
  writeFileSync(join(RESULTS, 'startup.json'), `${JSON.stringify(startup, null, 2)}\n`);
  process.stdout.write(`${md}\nWritten: bench/results/startup.md, bench/results/startup.json\n`);
  process.exit(0);
}

if (args.scale) {
  const { runScaleBench } = await import('./scale.js');
  await runScaleBench({ quick: args.quick, connections: Number(args.connections) });
  process.exit(0);
}

main()
  .then(async results => {
    progress.step('cleaning up');
    await cleanup();
    progress.stop();
    const md = write(results);
    process.stdout.write(
      `\n${md}\nWritten: ${args.tracing ? 'bench/results/tracing.{md,json}' : 'bench/results/latest.{md,json}, tracing.{md,json}'}\n`,
    );
    childLog.end();
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    progress.stop();
    process.stderr.write(
      `\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    await cleanup();
    childLog.end();
    process.exit(1);
  });
