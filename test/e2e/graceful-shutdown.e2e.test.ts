import postgres from 'postgres';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProcessSupergraph, type ProcessSupergraph } from '../support/processes.js';
import { registerAt } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * SIGTERM to the router, then to a subgraph, each its own process, under a keep-alive load of
 * mutations: every request the process had received is answered (none is cut mid-flight: a
 * committed task always reaches its client), keep-alive clients are told `Connection: close`
 * instead of being reset, and the process exits 0 within a few seconds, not after its
 * connections' keep-alive timeout.
 */
let sg: ProcessSupergraph;
let token: string;

beforeAll(async () => {
  sg = await startProcessSupergraph('drain');
  token = (await registerAt(sg.routerUrl, 'drain')).token;
}, 120_000);

afterAll(async () => {
  await sg?.stop();
});

interface Outcome {
  /** `ok`: the task came back; `refused`: the connection was refused at the door. */
  kind: 'ok' | 'refused' | 'error' | 'cut';
  title: string;
  code?: string;
  connection?: string;
  at: number;
}

/** `loops` clients creating tasks over kept-alive connections until the router refuses them. */
function load(loops: number, prefix: string) {
  const agent = new Agent({ keepAliveTimeout: 60_000, connections: loops });
  const outcomes: Outcome[] = [];
  let n = 0;
  const one = async (): Promise<Outcome> => {
    const title = `${prefix}-${(n += 1)}`;
    try {
      const res = await request(sg.routerUrl, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: `mutation ($t: String!) { createTask(input: { title: $t }) { id title } }`,
          variables: { t: title },
        }),
      });
      const body = (await res.body.json()) as {
        data?: { createTask?: { title: string } } | null;
        errors?: { extensions?: { code?: string } }[];
      };
      const connection = String(res.headers.connection ?? '');
      const at = Date.now();
      if (body.data?.createTask?.title === title) return { kind: 'ok', title, connection, at };
      return { kind: 'error', title, code: body.errors?.[0]?.extensions?.code, connection, at };
    } catch (err) {
      const code = (err as { code?: string; cause?: { code?: string } }).code;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      const refused = code === 'ECONNREFUSED' || cause === 'ECONNREFUSED';
      return { kind: refused ? 'refused' : 'cut', title, code: code ?? cause, at: Date.now() };
    }
  };
  const running = Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const outcome = await one();
        outcomes.push(outcome);
        if (outcome.kind === 'refused' || outcome.kind === 'cut') return;
      }
    }),
  );
  return {
    outcomes,
    done: running.then(() => agent.close()),
  };
}

async function storedTitles(prefix: string): Promise<string[]> {
  const sql = postgres(sg.databases.tasks!.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<
      { title: string }[]
    >`select title from tasks where title like ${prefix + '-%'}`;
    return rows.map(r => r.title);
  } finally {
    await sql.end();
  }
}

it('the router answers what it received, says Connection: close, and exits 0 within seconds', async () => {
  const traffic = load(8, 'router');
  await waitFor(() => traffic.outcomes.filter(o => o.kind === 'ok').length >= 40, {
    timeoutMs: 30_000,
  });
  const signalled = Date.now();
  sg.router.kill('SIGTERM');
  const code = await sg.router.exited;
  const exitMs = Date.now() - signalled;
  await traffic.done;

  expect(code, sg.router.output()).toBe(0);
  // Node's own close() would wait for the 65 s keep-alive (cut at the 10 s grace): seconds here.
  expect(exitMs).toBeLessThan(5_000);
  const { outcomes } = traffic;
  expect(outcomes.filter(o => o.kind === 'cut')).toEqual([]);
  expect(outcomes.filter(o => o.kind === 'error')).toEqual([]);
  // The keep-alive clients that were in flight were told to go elsewhere (the others were
  // answered before the router took the signal).
  expect(outcomes.filter(o => o.kind === 'ok' && o.connection === 'close').length).toBeGreaterThan(
    0,
  );
  // Nothing committed without its client hearing of it.
  const acknowledged = outcomes.filter(o => o.kind === 'ok').map(o => o.title);
  expect((await storedTitles('router')).sort()).toEqual(acknowledged.sort());
}, 90_000);

it('a subgraph answers what the router sent it and exits 0; later requests are SERVICE_UNAVAILABLE', async () => {
  await sg.router.restart();
  const traffic = load(8, 'tasks');
  await waitFor(() => traffic.outcomes.filter(o => o.kind === 'ok').length >= 40, {
    timeoutMs: 30_000,
  });
  const signalled = Date.now();
  sg.subgraphs.tasks!.kill('SIGTERM');
  const code = await sg.subgraphs.tasks!.exited;
  const exitMs = Date.now() - signalled;
  // Let the load meet the stopped subgraph, then stop it.
  const seenGone = () =>
    traffic.outcomes.filter(o => o.kind === 'error' && o.at > signalled + exitMs).length >= 8;
  await waitFor(seenGone, { timeoutMs: 30_000 });
  sg.router.kill('SIGTERM');
  await traffic.done;

  expect(code, sg.subgraphs.tasks!.output()).toBe(0);
  expect(exitMs).toBeLessThan(5_000);
  const { outcomes } = traffic;
  expect(outcomes.filter(o => o.kind === 'cut')).toEqual([]);
  // Every failure says "try again", none is an internal error.
  const codes = new Set(outcomes.filter(o => o.kind === 'error').map(o => o.code));
  expect([...codes]).toEqual(['SERVICE_UNAVAILABLE']);
  // What the subgraph committed, its client was told; what the client was told failed was
  // not committed.
  const acknowledged = outcomes.filter(o => o.kind === 'ok').map(o => o.title);
  expect((await storedTitles('tasks')).sort()).toEqual(acknowledged.sort());
}, 90_000);
