import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#lib/config.js';
import { createMemoryBus } from '#lib/events/memory.js';
import { closeServer, listen } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { createRouter, routerOptions } from './server.js';

/** The router in production mode: no Sandbox, no introspection; subgraphs down: not ready. */
let url: string;
const stops: (() => Promise<void>)[] = [];

/** A router built as `index.ts` builds it for `NODE_ENV`, on port 0; stopped after the file. */
async function startRouter(nodeEnv: 'production' | 'development'): Promise<string> {
  const config = loadConfig({
    NODE_ENV: nodeEnv,
    HOST: '127.0.0.1',
    JWT_SECRET: randomBytes(32).toString('hex'),
    ROUTER_SECRET: randomBytes(32).toString('hex'),
  });
  // Subgraph URLs where nothing listens.
  const router = await createRouter(
    routerOptions(
      config,
      createLogger({ level: 'silent' }),
      {
        users: 'http://127.0.0.1:1/graphql',
        tasks: 'http://127.0.0.1:1/graphql',
        notifications: 'http://127.0.0.1:1/graphql',
      },
      createMemoryBus({ log: createLogger({ level: 'silent' }) }),
    ),
  );
  const { server, url: base } = await listen(router.handler, 0, '127.0.0.1');
  router.attach(server);
  stops.push(async () => {
    await router.stop();
    await closeServer(server);
  });
  return base;
}

beforeAll(async () => {
  url = await startRouter('production');
});
afterAll(async () => {
  for (const stop of stops) await stop();
});

/** What a browser sends when someone opens the GraphQL URL. */
const BROWSER = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
};
const SANDBOX = /embeddable-sandbox/;

describe('the router in production', () => {
  it('shows no Sandbox landing page, where a development router shows one', async () => {
    // The same request finds Sandbox on a development router: the probe sees it when it is there.
    const development = await fetch(`${await startRouter('development')}/graphql`, {
      headers: BROWSER,
    });
    expect(development.status).toBe(200);
    expect(development.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await development.text()).toMatch(SANDBOX);

    // In production the page is not there: the request is taken as a GraphQL one, and refused.
    const res = await fetch(`${url}/graphql`, { headers: BROWSER });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    expect(text).not.toMatch(SANDBOX);
    expect(text).not.toMatch(/<html/i);
    expect((JSON.parse(text) as { errors?: unknown[] }).errors).toHaveLength(1);
  });

  it('refuses introspection', async () => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __schema { types { name } } }' }),
    });
    const body = (await res.json()) as {
      errors?: Array<{ message: string; extensions?: { code?: string } }>;
    };
    expect(res.status).toBe(400);
    expect(body.errors?.[0]?.message).toMatch(/introspection/i);
  });

  it('answers errors of a subgraph it cannot reach without internals', async () => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    const text = await res.text();
    // Transient, as a client should read it (503: nothing could run), and nothing more.
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(text)).toMatchObject({
      errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter: 1 } }],
    });
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack|users|fetch/);
  });

  it('is alive but not ready while its subgraphs do not answer', async () => {
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: 'unavailable',
      reason: 'subgraphs not answering: notifications, tasks, users',
    });
  });
});
