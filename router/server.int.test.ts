import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#lib/config.js';
import { closeServer, listen } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { createRouter, routerOptions } from './server.js';

/** The router in production mode: no Sandbox, no introspection; subgraphs down: not ready. */
let url: string;
let stop: () => Promise<void>;

beforeAll(async () => {
  const config = loadConfig({
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    JWT_SECRET: randomBytes(32).toString('hex'),
    ROUTER_SECRET: randomBytes(32).toString('hex'),
  });
  // Subgraph URLs where nothing listens.
  const router = await createRouter(
    routerOptions(config, createLogger({ level: 'silent' }), {
      users: 'http://127.0.0.1:1/graphql',
      tasks: 'http://127.0.0.1:1/graphql',
      notifications: 'http://127.0.0.1:1/graphql',
    }),
  );
  const { server, url: base } = await listen(router.handler, 0, '127.0.0.1');
  router.attach(server);
  url = base;
  stop = async () => {
    await router.stop();
    await closeServer(server);
  };
});
afterAll(() => stop?.());

describe('the router in production', () => {
  it('shows no Sandbox landing page', async () => {
    const res = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await res.text()).not.toMatch(/sandbox|embeddable-sandbox|<html/i);
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
    expect(text).toMatch(/INTERNAL_SERVER_ERROR/);
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/);
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
