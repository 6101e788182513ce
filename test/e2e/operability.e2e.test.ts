import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { registerUser } from '../support/users.js';

let sg: TestSupergraph;
beforeAll(async () => {
  sg = await startTestSupergraph();
});
afterAll(() => sg?.stop());

it('every service answers /health and /ready', async () => {
  for (const base of [
    sg.supergraph.url,
    ...Object.values(sg.supergraph.subgraphs).map(s => s.url),
  ]) {
    const health = await fetch(`${base}/health`);
    expect(health.status, base).toBe(200);
    const ready = await fetch(`${base}/ready`);
    expect(ready.status, base).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  }
});

it('/metrics shows requests per operation, subgraph fetches and the outbox backlog', async () => {
  const user = await registerUser(sg, 'metrics');
  await sg.gql('query WhoAmI { me { id } }', { token: user.accessToken });
  const text = await (await fetch(`${sg.supergraph.url}/metrics`)).text();
  expect(text).toMatch(
    /graphql_requests_total\{service="router",operation="WhoAmI",outcome="ok"\} 1/,
  );
  expect(text).toMatch(
    /graphql_request_duration_seconds_count\{service="users",operation="WhoAmI__users__0"\} 1/,
  );
  expect(text).toMatch(/router_subgraph_fetch_duration_seconds_count\{subgraph="users"\} [1-9]/);
  expect(text).toMatch(/outbox_backlog\{service="users"\} \d+/);
  expect(text).toMatch(/events_dead_lettered\{bus="amqp"\} \d+/);
});

it('a request id travels from the router to the subgraph and back to the client', async () => {
  const res = await fetch(sg.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'trace-me-123' },
    body: JSON.stringify({ query: '{ me { id } }' }),
  });
  expect(res.headers.get('x-request-id')).toBe('trace-me-123');
});
