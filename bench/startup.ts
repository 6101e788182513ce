import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../test/support/ports.js';
import { summarize } from './shared.js';

/**
 * `npm run bench -- --startup` (or `tsx bench/startup.ts` alone): how long `npm start` takes to
 * be ready and how much memory it holds, on a fresh data directory and on a warm one (the same
 * directory again). It runs what `npm start` runs (`tsx main.ts`, the embedded default: three
 * PGlite databases and the in-process bus), on free ports, with the data directory in the OS's
 * temporary folder. `--root DIR` measures another checkout (an older commit) the same way, so a
 * change shows as a ratio measured side by side.
 */

export interface StartupRun {
  /** From spawning the process to `/ready` answering 200. */
  readyMs: number;
  /** The process running main.ts, in MiB, once ready and after a small workload. */
  rssReadyMiB: number;
  rssLoadedMiB: number;
}

export interface StartupResult {
  root: string;
  fresh: StartupRun[];
  warm: StartupRun[];
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** Resident memory of `pid` and every process below it, in MiB, from /proc; the largest one. */
function processTreeRss(pid: number): { largest: number; total: number } {
  const sizes: number[] = [];
  const walk = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      sizes.push(kib / 1024);
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(/\s+/) : []) walk(Number(child));
      }
    } catch {
      // The process ended between two reads.
    }
  };
  walk(pid);
  return { largest: Math.max(0, ...sizes), total: sizes.reduce((a, b) => a + b, 0) };
}

async function post(url: string, query: string, token?: string): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`startup workload: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** What a developer does first: register, create a few tasks, read them back. */
async function workload(url: string, run: number): Promise<void> {
  const username = `startup${run}${Date.now().toString(36)}`;
  const data = (await post(
    url,
    `mutation { register(input: { username: "${username}", email: "${username}@example.com", password: "correct horse battery staple", displayName: "Startup" }) { accessToken } }`,
  )) as { register: { accessToken: string } };
  const token = data.register.accessToken;
  for (let i = 0; i < 20; i++)
    await post(url, `mutation { createTask(input: { title: "task ${i}" }) { id } }`, token);
  for (let i = 0; i < 20; i++)
    await post(
      url,
      '{ me { tasks(first: 20) { edges { node { id title owner { username } } } } } }',
      token,
    );
}

/** Starts `tsx main.ts` in `root` on `dataDir`, measures it, and stops it. */
async function measureOnce(root: string, dataDir: string, run: number): Promise<StartupRun> {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const [router, users, tasks, notifications] = ports;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
    ROUTER_PORT: String(router),
    USERS_PORT: String(users),
    TASKS_PORT: String(tasks),
    NOTIFICATIONS_PORT: String(notifications),
  };
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), 'main.ts'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${router}`;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
      if (performance.now() - started > 120_000) throw new Error(`not ready in 120 s:\n${output}`);
      const ready = await fetch(`${url}/ready`).then(
        r => r.ok,
        () => false,
      );
      if (ready) break;
      await new Promise(done => setTimeout(done, 25));
    }
    const readyMs = performance.now() - started;
    const pid = child.pid ?? 0;
    const rssReadyMiB = processTreeRss(pid).largest;
    await workload(`${url}/graphql`, run);
    const rssLoadedMiB = processTreeRss(pid).largest;
    return { readyMs, rssReadyMiB, rssLoadedMiB };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * `runs` fresh starts of each checkout (each on a new data directory), each followed by a warm
 * start on the same directory; interleaved, so a busy moment of the machine falls on every
 * checkout alike.
 */
export async function compareStartup(roots: string[], runs: number): Promise<StartupResult[]> {
  const results = roots.map((root): StartupResult => ({ root, fresh: [], warm: [] }));
  for (let i = 0; i < runs; i++) {
    for (const result of results) {
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-startup-'));
      try {
        result.fresh.push(await measureOnce(result.root, dataDir, 2 * i));
        result.warm.push(await measureOnce(result.root, dataDir, 2 * i + 1));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  return results;
}

const median = (values: number[]): number => summarize(values).p50;

/** One table: a row per checkout and start kind, medians of the runs. */
export function renderStartup(results: StartupResult[]): string {
  const lines = [
    '| checkout | start | runs | ready (median) | RSS when ready | RSS after a workload |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const result of results) {
    for (const kind of ['fresh', 'warm'] as const) {
      const runs = result[kind];
      lines.push(
        `| ${result.root} | ${kind} \`.data/\` | ${runs.length} | ${(median(runs.map(r => r.readyMs)) / 1000).toFixed(2)} s | ${median(runs.map(r => r.rssReadyMiB)).toFixed(0)} MiB | ${median(runs.map(r => r.rssLoadedMiB)).toFixed(0)} MiB |`,
      );
    }
  }
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      root: { type: 'string', multiple: true },
    },
  });
  const roots = values.root?.length ? values.root.map(r => resolve(r)) : [join(HERE, '..')];
  const results = await compareStartup(roots, Number(values.runs));
  console.log(renderStartup(results));
  writeFileSync(join(HERE, 'results', 'startup.json'), `${JSON.stringify(results, null, 2)}\n`);
}
