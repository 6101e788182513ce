import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';

/** Operation limits at the router: refused with 400 and a clear code, never a 500. */
let sg: TestSupergraph;
let user: TestUser;
beforeAll(async () => {
  sg = await startTestSupergraph();
  user = await registerUser(sg, 'limits');
});
afterAll(() => sg?.stop());

it('refuses more aliases than allowed', async () => {
  const aliases = Array.from(
    { length: sg.config.limits.maxAliases + 1 },
    (_, i) => `a${i}: me { id }`,
  ).join(' ');
  const res = await sg.gql(`{ ${aliases} }`, { token: user.accessToken });
  expect(res.status).toBe(400);
  expect(errorOf(res)?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(errorOf(res)?.message).toMatch(/aliases/i);
});

it('refuses an operation deeper than allowed', async () => {
  const deep =
    '{ me { tasks { edges { node { owner { tasks { edges { node { owner { tasks { edges { node { id } } } } } } } } } } } } }';
  const res = await sg.gql(deep, { token: user.accessToken });
  expect(res.status).toBe(400);
  expect(errorOf(res)?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(errorOf(res)?.message).toMatch(/depth/i);
  // One level less is served.
  const shallow =
    '{ me { tasks { edges { node { owner { tasks { edges { node { owner { id } } } } } } } } } }';
  expect((await sg.gql(shallow, { token: user.accessToken })).status).toBe(200);
});

it('refuses nested pages of 100 as too costly, and serves one', async () => {
  const page = 'edges { node { title status owner { displayName } assignee { displayName } } }';
  const one = await sg.gql(`{ tasks(first: 100) { ${page} } }`, { token: user.accessToken });
  expect(one.status).toBe(200);
  const nested = await sg.gql(
    `{ me { tasks(first: 100) { edges { node { owner { tasks(first: 100) { ${page} } } } } } } }`,
    {
      token: user.accessToken,
    },
  );
  expect(nested.status).toBe(400);
  expect(errorOf(nested)?.message).toMatch(/cost/i);
});

it('refuses a document with too many tokens', async () => {
  const fields = Array.from({ length: sg.config.limits.maxTokens }, () => 'id').join(' ');
  const res = await sg.gql(`{ me { ${fields} } }`, { token: user.accessToken });
  expect(res.status).toBe(400);
  expect(errorOf(res)?.code).toBe('GRAPHQL_PARSE_FAILED');
  expect(errorOf(res)?.message).toMatch(/tokens/i);
});

it('refuses a body over BODY_LIMIT with 413', async () => {
  const res = await fetch(sg.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: `{ me { id } }`,
      variables: { pad: 'x'.repeat(sg.config.bodyLimit) },
    }),
  });
  expect(res.status).toBe(413);
  expect(await res.json()).toMatchObject({
    errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
  });
});

it('refuses invalid JSON with 400', async () => {
  const res = await fetch(sg.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"query": ',
  });
  expect(res.status).toBe(400);
});

it('keeps CSRF prevention on: a GET without a preflight header is refused', async () => {
  const res = await fetch(`${sg.url}?query=${encodeURIComponent('{ me { id } }')}`);
  expect(res.status).toBe(400);
  expect(await res.text()).toMatch(/CSRF/i);
});
