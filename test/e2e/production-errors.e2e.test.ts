import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subgraphs } from '../../subgraphs/index.js';
import {
  startTestSupergraph,
  type GraphQLResponse,
  type TestSupergraph,
} from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { registerUser, type TestUser } from '../support/users.js';

/**
 * In production the router's errors say what went wrong for the client, never which internal
 * service, host or port was involved: no `serviceName`, no subgraph name or URL in a message,
 * whether the error was the client's, a subgraph's or a subgraph that is gone.
 */

let sg: TestSupergraph;
let alice: TestUser;
beforeAll(async () => {
  sg = await startTestSupergraph({
    env: { NODE_ENV: 'production', METRICS_TOKEN: 'x'.repeat(16) },
  });
  await registerUser(sg, 'admin'); // the first user is the admin; alice is not
  alice = await registerUser(sg, 'prod');
  await createTask(sg, alice, { title: 'In production' });
});
afterAll(async () => {
  await sg?.stop();
});

const INTERNAL_NAMES = new RegExp(
  [
    ...subgraphs.map(s => s.name),
    'subgraph',
    'localhost',
    '127\\.0\\.0\\.1',
    ':\\d{4,5}\\b',
    'ECONN',
  ].join('|'),
  'i',
);

/** Every error's message and extensions, which must name nothing internal. */
function expectNothingInternal(res: GraphQLResponse<unknown>) {
  expect(res.errors ?? []).not.toHaveLength(0);
  for (const e of res.errors ?? []) {
    expect(e.extensions).not.toHaveProperty('serviceName');
    expect(e.message).not.toMatch(INTERNAL_NAMES);
    expect(JSON.stringify(e.extensions)).not.toMatch(INTERNAL_NAMES);
  }
}

describe('errors in production', () => {
  it("name no internal service for a client's mistake, at the router or in a subgraph", async () => {
    for (const query of [
      'mutation { updateTask(id: "00000000-0000-4000-8000-000000000000", input: { title: "x" }) { id } }',
      'mutation { createTask(input: { title: "" }) { id } }',
      'mutation { createTask(input: { title: "t", dueDate: 20240101 }) { id } }',
      '{ users { totalCount } }',
      '{ tasks(first: 1000) { totalCount } }',
    ]) {
      expectNothingInternal(await sg.gql(query, { token: alice.accessToken }));
    }
  });

  it('name no internal service when a subgraph is gone', async () => {
    await sg.supergraph.subgraphs.notifications!.stop();
    const res = await sg.gql(
      '{ me { id notifications { totalCount } } tasks { edges { node { title } } } }',
      { token: alice.accessToken },
    );
    expect(res.errors?.map(e => e.extensions?.code)).toContain('SERVICE_UNAVAILABLE');
    expectNothingInternal(res);
  }, 60_000);
});
