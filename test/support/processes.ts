import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { envPrefix } from '#lib/config.js';
import { subgraphs } from '../../subgraphs/index.js';
import { createTestVhost, type TestVhost } from './amqp.js';
import { requireHaproxy, startHaproxy, type Haproxy } from './haproxy.js';
import { freePort } from './ports.js';
import { createTestDatabase, type TestDatabase } from './services.js';
import { waitFor } from './wait.js';

/** One role of the deployment as its own OS process (`npm run start:router`, `start:users`, …). */
export interface RoleProcess {
  readonly name: string;
  /** Base URL (no path): `/graphql`, `/ready` and `/health` live under it. */
  readonly url: string;
  /** The running child; replaced by `restart()`. */
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) of the current child. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
  /** The last lines the role logged (its stdout and stderr), to show when it misbehaved. */
  output(): string;
  /** Starts the role again on the same port and database; resolves once it is ready. */
  restart(): Promise<void>;
}

/** The supergraph as docker-compose runs it: each subgraph and the router its own process. */
export interface ProcessSupergraph {
  readonly routerUrl: string;
  readonly router: RoleProcess;
  readonly subgraphs: Readonly<Record<string, RoleProcess>>;
  readonly databases: Readonly<Record<string, TestDatabase>>;
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

export interface ProcessSupergraphOptions {
  /** Adds to or overrides the variables every role gets. */
  env?: Record<string, string>;
  /**
   * Changes one role's variables, once before it first starts (e.g. its database or broker URL
   * through a `TcpProxy`); `restart()` keeps them.
   */
  roleEnv?: (
    role: string,
    env: Readonly<Record<string, string>>,
  ) => Promise<Record<string, string>> | Record<string, string>;
}

/**
 * Starts every subgraph and the router as separate processes on real Postgres (a database per
 * subgraph, dropped by `stop`) and RabbitMQ (a virtual host of their own: the roles declare the
 * production exchange and queue names), on ports from the OS.
 */
export async function startProcessSupergraph(
  label: string,
  options: ProcessSupergraphOptions = {},
): Promise<ProcessSupergraph> {
  const { vhost, databases, ports, shared } = await provision(label, options);
  const roles: RoleProcess[] = [];
  const role = async (name: string, args: string[]): Promise<RoleProcess> => {
    const env = { ...shared, ...(await options.roleEnv?.(name, shared)) };
    const it = spawnRole(name, args, env, `http://127.0.0.1:${ports[name]}`);
    roles.push(it);
    return it;
  };
  const started = Object.fromEntries(
    await Promise.all(
      subgraphs.map(async ({ name }) => [name, await role(name, ['subgraphs/main.ts', name])]),
    ),
  ) as Record<string, RoleProcess>;
  const stop = async () => {
    await killAll(roles);
    await Promise.all(Object.values(databases).map(d => d.drop()));
    await vhost?.delete();
  };
  try {
    await Promise.all(Object.values(started).map(s => roleReady(s.url)));
    const router = await role('router', ['router/index.ts']);
    await roleReady(router.url);
    return {
      routerUrl: `${router.url}/graphql`,
      router,
      subgraphs: started,
      databases,
      env: shared,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The whole supergraph in one OS process (`npm start`, main.ts) with every role's port. */
export interface OneProcessSupergraph {
  readonly routerUrl: string;
  /** The one process; its `url` is the router's. */
  readonly process: RoleProcess;
  readonly databases: Readonly<Record<string, TestDatabase>>;
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Starts `main.ts` (what `npm start` runs) as a child process on real Postgres, a database per
 * subgraph as `startProcessSupergraph` gives, and the in-process event bus (`npm start`'s
 * default: no AMQP_URL).
 */
export async function startOneProcessSupergraph(
  label: string,
  options: { env?: Record<string, string> } = {},
): Promise<OneProcessSupergraph> {
  const { vhost, databases, ports, shared } = await provision(label, { ...options, amqp: false });
  const it = spawnRole('supergraph', ['main.ts'], shared, `http://127.0.0.1:${ports.router}`);
  const stop = async () => {
    await killAll([it]);
    await Promise.all(Object.values(databases).map(d => d.drop()));
    await vhost?.delete();
  };
  try {
    await roleReady(it.url);
    return { routerUrl: `${it.url}/graphql`, process: it, databases, env: shared, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * What a test supergraph runs on: a database per subgraph, a virtual host of its own (unless
 * `amqp: false`), a port per role, and the variables every role gets.
 */
async function provision(
  label: string,
  options: { env?: Record<string, string>; amqp?: boolean },
): Promise<{
  vhost: TestVhost | undefined;
  databases: Record<string, TestDatabase>;
  ports: Record<string, number>;
  shared: Record<string, string>;
}> {
  const vhost = options.amqp === false ? undefined : await createTestVhost(label);
  const databases = Object.fromEntries(
    await Promise.all(
      subgraphs.map(
        async ({ name }) => [name, await createTestDatabase(`${name}_${label}`)] as const,
      ),
    ),
  );
  const ports = Object.fromEntries(
    await Promise.all(
      ['router', ...subgraphs.map(s => s.name)].map(async name => [name, await freePort()]),
    ),
  ) as Record<string, number>;
  const shared: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    ROUTER_PORT: String(ports.router),
    JWT_SECRET: randomBytes(32).toString('hex'),
    ROUTER_SECRET: randomBytes(32).toString('hex'),
    ...(vhost ? { AMQP_URL: vhost.url } : {}),
    ...Object.fromEntries(
      subgraphs.flatMap(({ name }) => [
        [`${envPrefix(name)}_PORT`, String(ports[name])],
        [`${envPrefix(name)}_URL`, `http://127.0.0.1:${ports[name]}/graphql`],
        [`${envPrefix(name)}_DATABASE_URL`, databases[name]!.url],
      ]),
    ),
    ...options.env,
  };
  return { vhost, databases, ports, shared };
}

const roleReady = (url: string, timeoutMs = 60_000) =>
  waitFor(async () => (await fetch(`${url}/ready`).catch(() => undefined))?.ok === true, {
    timeoutMs,
    message: `${url} not ready`,
  });

async function killAll(roles: readonly RoleProcess[]): Promise<void> {
  await Promise.all(
    roles.map(async r => {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      await r.exited;
    }),
  );
}

/** Spawns one role (`node --import tsx ...args`) with `env` on top of this process's. */
function spawnRole(
  name: string,
  args: string[],
  env: Readonly<Record<string, string>>,
  url: string,
): RoleProcess {
  const state = {} as { child: ChildProcess; exited: Promise<number | string> };
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 200));
  };
  const spawnIt = () => {
    state.child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = state.child;
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    state.exited = new Promise(resolve =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
    );
  };
  spawnIt();
  return {
    name,
    url,
    get child() {
      return state.child;
    },
    get exited() {
      return state.exited;
    },
    kill: (signal = 'SIGTERM') => void state.child.kill(signal),
    output: () => lines.join('\n'),
    restart: async () => {
      if (state.child.exitCode === null && state.child.signalCode === null) {
        state.child.kill('SIGKILL');
        await state.exited;
      }
      spawnIt();
      await roleReady(url);
    },
  };
}

/** The supergraph scaled out: `replicas` processes per role, each role behind HAProxy. */
export interface ScaledSupergraph {
  /** HAProxy's frontend for the routers (`/graphql`, HTTP and WebSocket). */
  readonly routerUrl: string;
  /** Each router directly, bypassing HAProxy (to pin a client to one router). */
  readonly routerUrls: readonly string[];
  readonly routers: readonly RoleProcess[];
  /** Every replica of each subgraph; each is named `<subgraph>-<n>`, its PGAPPNAME too. */
  readonly subgraphs: Readonly<Record<string, readonly RoleProcess[]>>;
  readonly databases: Readonly<Record<string, TestDatabase>>;
  readonly haproxy: Haproxy;
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Starts `replicas` routers and `replicas` processes of every subgraph on real Postgres (a
 * database per subgraph, shared by its replicas) and RabbitMQ (a virtual host of their own),
 * with HAProxy in front of each role: clients reach the routers through one frontend, and the
 * routers reach each subgraph through that subgraph's frontend (`<PREFIX>_URL`). Each replica
 * connects to Postgres with `PGAPPNAME=<role>-<n>`, so `pg_stat_activity` tells them apart.
 */
export async function startScaledSupergraph(
  label: string,
  options: { replicas: number; env?: Record<string, string> },
): Promise<ScaledSupergraph> {
  requireHaproxy();
  const n = options.replicas;
  const names = ['router', ...subgraphs.map(s => s.name)];
  const ports = Object.fromEntries(
    await Promise.all(
      names.map(async name => [name, await Promise.all(Array.from({ length: n }, freePort))]),
    ),
  ) as Record<string, number[]>;
  const haproxy = await startHaproxy(
    names.map(name => ({ name, servers: ports[name]!.map(p => `127.0.0.1:${p}`) })),
  );
  const vhost = await createTestVhost(label).catch(async (err: unknown) => {
    await haproxy.stop();
    throw err;
  });
  const databases = Object.fromEntries(
    await Promise.all(
      subgraphs.map(
        async ({ name }) => [name, await createTestDatabase(`${name}_${label}`)] as const,
      ),
    ),
  );
  const shared: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    JWT_SECRET: randomBytes(32).toString('hex'),
    ROUTER_SECRET: randomBytes(32).toString('hex'),
    AMQP_URL: vhost.url,
    ...Object.fromEntries(
      subgraphs.flatMap(({ name }) => [
        [`${envPrefix(name)}_URL`, `${haproxy.urls[name]}/graphql`],
        [`${envPrefix(name)}_DATABASE_URL`, databases[name]!.url],
      ]),
    ),
    ...options.env,
  };
  const roles: RoleProcess[] = [];
  const replicasOf = (name: string, args: string[], portVar: string) =>
    ports[name]!.map((port, i) => {
      const it = spawnRole(
        `${name}-${i + 1}`,
        args,
        { ...shared, [portVar]: String(port), PGAPPNAME: `${name}-${i + 1}` },
        `http://127.0.0.1:${port}`,
      );
      roles.push(it);
      return it;
    });
  const stop = async () => {
    await killAll(roles);
    await haproxy.stop();
    await Promise.all(Object.values(databases).map(d => d.drop()));
    await vhost.delete();
  };
  try {
    // Every subgraph replica at once (replicas of one migrate under a lock), then the routers.
    const started: Record<string, RoleProcess[]> = {};
    await Promise.all(
      subgraphs.map(async ({ name }) => {
        const all = replicasOf(name, ['subgraphs/main.ts', name], `${envPrefix(name)}_PORT`);
        for (const r of all) await roleReady(r.url, 150_000);
        started[name] = all;
      }),
    );
    const routers = replicasOf('router', ['router/index.ts'], 'ROUTER_PORT');
    for (const r of routers) await roleReady(r.url, 150_000);
    // Until HAProxy's checks have seen every replica up, some requests would get its 503.
    for (const url of Object.values(haproxy.urls))
      await waitFor(
        async () => {
          for (let i = 0; i < 2 * n; i++)
            if (!(await fetch(`${url}/ready`).catch(() => undefined))?.ok) return false;
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 200, message: `${url} (HAProxy) not ready` },
      );
    return {
      routerUrl: `${haproxy.urls.router}/graphql`,
      routerUrls: routers.map(r => `${r.url}/graphql`),
      routers,
      subgraphs: started,
      databases,
      haproxy,
      env: shared,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
