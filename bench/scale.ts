import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startScaledSupergraph } from '../test/support/processes.js';
import { loadAverage } from './report.js';
import { gql, gqlRetrying, summarize, type LatencySummary } from './shared.js';

/**
 * `npm run bench -- --scale`: the scale-out topology (test/support/processes.ts
 * `startScaledSupergraph`: routers and subgraph replicas as processes, HAProxy in front of
 * every role, real Postgres and RabbitMQ) under a mixed write load through HAProxy, with one
 * and then two replicas per role. Writes `bench/results/scale.{md,json}`.
 */

const HERE = dirname(fileURLToPath(import.meta.url));

interface ScaleRun {
  replicas: number;
  processes: number;
  seconds: number;
  operations: number;
  errors: number;
  opsPerSecond: number;
  latency: LatencySummary;
}

const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const CREATE = `mutation ($a: ID!, $t: String!) { createTask(input: { title: $t, assigneeId: $a }) { id } }`;
const UPDATE = `mutation ($id: ID!) { updateTask(id: $id, input: { status: IN_PROGRESS }) { id } }`;
const LIST = `query { tasks(first: 10) { edges { node { id title assignee { displayName } } } } }`;

let seq = 0;
const register = async (url: string) => {
  seq += 1;
  const username = `scale${seq}_${Math.random().toString(36).slice(2, 8)}`;
  const input = { username, email: `${username}@example.com`, password: `pw-${username}-secret` };
  // As a client should: RATE_LIMITED (hashing busy) and SERVICE_UNAVAILABLE are retried.
  const { register } = await gqlRetrying<{
    register: { accessToken: string; user: { id: string } };
  }>(url, REGISTER, { input }, undefined, {
    retryOn: ['RATE_LIMITED', 'SERVICE_UNAVAILABLE'],
    attempts: 50,
  });
  return { id: register.user.id, token: register.accessToken };
};

async function run(replicas: number, seconds: number, connections: number): Promise<ScaleRun> {
  // Registrations queue for the password hashing instead of being refused: the topology is
  // measured here, not the login limiter.
  const sg = await startScaledSupergraph(`bench_scale${replicas}`, {
    replicas,
    env: { MAX_QUEUED_PASSWORD_HASHES: '256' },
  });
  try {
    const url = sg.routerUrl;
    await register(url); // the admin
    const assignees = await Promise.all(Array.from({ length: 4 }, () => register(url)));
    const samples: number[] = [];
    let errors = 0;
    const timed = async <T>(op: () => Promise<T>): Promise<T | undefined> => {
      const start = performance.now();
      try {
        const value = await op();
        samples.push(performance.now() - start);
        return value;
      } catch {
        errors += 1;
        return undefined;
      }
    };
    // Warm-up, then the measured window: each client registers, creates an assigned task,
    // updates it and lists a page of tasks, over and over (4 operations per round).
    const client = async (n: number, until: number, measure: boolean) => {
      for (let i = 0; performance.now() < until; i++) {
        const before = samples.length;
        const user = await timed(() => register(url));
        if (!user) continue;
        const assignee = assignees[(n + i) % assignees.length]!.id;
        const created = await timed(() =>
          gql<{ createTask: { id: string } }>(
            url,
            CREATE,
            { a: assignee, t: `b${n}.${i}` },
            user.token,
          ),
        );
        if (created) await timed(() => gql(url, UPDATE, { id: created.createTask.id }, user.token));
        await timed(() => gql(url, LIST, {}, user.token));
        if (!measure) samples.splice(before);
      }
    };
    const warm = performance.now() + 3_000;
    await Promise.all(Array.from({ length: connections }, (_, n) => client(n, warm, false)));
    samples.length = 0;
    errors = 0;
    const started = performance.now();
    const end = started + seconds * 1000;
    await Promise.all(Array.from({ length: connections }, (_, n) => client(n, end, true)));
    const elapsed = (performance.now() - started) / 1000;
    return {
      replicas,
      processes: replicas * 4 + 1,
      seconds: elapsed,
      operations: samples.length,
      errors,
      opsPerSecond: samples.length / elapsed,
      latency: summarize(samples),
    };
  } finally {
    await sg.stop();
  }
}

/** Runs 1 and then 2 replicas per role and writes the report; `quick` shortens the window. */
export async function runScaleBench(options: { quick: boolean; connections: number }) {
  const seconds = options.quick ? 5 : 20;
  const loadAtStart = loadavg();
  const runs: ScaleRun[] = [];
  for (const replicas of [1, 2]) {
    process.stderr.write(`scale: ${replicas} replica(s) per role, ${seconds} s…\n`);
    runs.push(await run(replicas, seconds, options.connections));
  }
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const load = { start: loadAtStart, end: loadavg() };
  const fmt = (n: number) => n.toFixed(1);
  const md = [
    `# Scale-out bench (commit ${commit}, ${new Date().toISOString()}, load average ${loadAverage(load)})`,
    '',
    `Mixed writes through HAProxy (register, create an assigned task, update it, list a page),`,
    `${options.connections} concurrent clients, ${seconds} s after a 3 s warm-up; every role its`,
    `own process, HAProxy in front of the routers and of each subgraph. Machine: 2 cores shared`,
    `with everything else, so the second replica adds hops and processes, not CPU: this shows`,
    `the cost of the scale-out topology, not a gain.`,
    '',
    '| replicas per role | processes | ops/s | p50 ms | p99 ms | errors |',
    '| --- | --- | --- | --- | --- | --- |',
    ...runs.map(
      r =>
        `| ${r.replicas} | ${r.processes} + HAProxy | ${fmt(r.opsPerSecond)} | ${fmt(r.latency.p50)} | ${fmt(r.latency.p99)} | ${r.errors} |`,
    ),
    '',
  ].join('\n');
  const json = JSON.stringify(
    { commit, loadAverage: load, connections: options.connections, seconds, runs },
    null,
    2,
  );
  writeFileSync(join(HERE, 'results', 'scale.json'), `${json}\n`);
  writeFileSync(join(HERE, 'results', 'scale.md'), md);
  process.stdout.write(`\n${md}\nWritten: bench/results/scale.md, bench/results/scale.json\n`);
}
