import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/**
 * The abusive neighbour (`npm run bench`): one authenticated client sending, in loops of its
 * own, the hostile operations of the "hostile clients" work — an amplification query whose list
 * sizes come in variables, 5 MB WebSocket messages, logins to unknown accounts (each a full
 * password hash when not refused first), and over-limit bodies — while a well-behaved client's
 * latency is measured. What each loop got back is counted by outcome, so the report shows the
 * router refused them rather than served them. It runs as a process of its own (bench/run.ts
 * starts it with the router's URL and a token; it answers `{ type: 'stop' }` with its counts), so
 * its own work does not load the process the subgraphs run in.
 */
const AMPLIFICATION = `query Amplify($n: Int) { tasks(first: $n) { edges { node { owner { tasks(first: $n) { edges { node { owner { tasks(first: $n) { edges { node { id } } } } } } } } } } } }`;

export interface HostileCounts {
  /** By operation, then by outcome (`HTTP 400 COST_ESTIMATED_TOO_EXPENSIVE`, `close 1009`, …). */
  [operation: string]: Record<string, number>;
}

function startHostileClient(url: string, token: string): { stop(): Promise<HostileCounts> } {
  let running = true;
  const counts: HostileCounts = {};
  const count = (operation: string, outcome: string) => {
    const byOutcome = (counts[operation] ??= {});
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
  };
  const post = async (operation: string, body: string, auth?: string) => {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(auth ? { authorization: `Bearer ${auth}` } : {}),
        },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
      count(operation, `HTTP ${res.status}${code ? ` ${code}` : ''}`);
    } catch (err) {
      count(operation, (err as Error).name);
    }
  };
  const socketMessage = () =>
    new Promise<void>(resolve => {
      const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
      const done = (outcome: string) => {
        count('5 MB WebSocket message', outcome);
        socket.terminate();
        resolve();
      };
      socket.on('open', () => socket.send('x'.repeat(5_000_000)));
      socket.on('close', code => done(`close ${code}`));
      socket.on('error', err => done(err.name));
    });
  const loop = async (work: () => Promise<void>) => {
    while (running) await work();
  };
  const loops = [
    ...[0, 1].map(() =>
      loop(() =>
        post(
          'amplification query, sizes in variables',
          JSON.stringify({ query: AMPLIFICATION, variables: { n: 100 } }),
          token,
        ),
      ),
    ),
    ...[0, 1].map(() =>
      loop(() =>
        post(
          'login to an unknown account',
          JSON.stringify({
            query: 'mutation ($i: LoginInput!) { login(input: $i) { accessToken } }',
            variables: {
              i: { login: `nobody-${randomBytes(4).toString('hex')}`, password: 'guess-123456' },
            },
          }),
        ),
      ),
    ),
    loop(socketMessage),
    loop(() =>
      post(
        '2 MB body',
        JSON.stringify({ query: `{ me { id } }`, padding: 'x'.repeat(2_000_000) }),
        token,
      ),
    ),
  ];
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, token] = process.argv.slice(2);
  if (!url || !token) throw new Error('usage: hostile.ts <router GraphQL URL> <access token>');
  const client = startHostileClient(url, token);
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'stop') return;
    void client.stop().then(counts => {
      process.send?.({ type: 'counts', counts }, () => process.exit(0));
    });
  });
}
