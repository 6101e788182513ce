import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

/**
 * `npm run build` (scripts/build.ts) makes a tree that plain `node` runs (no tsx) when it is
 * laid out as the image lays it (dist/* at the app root, next to node_modules): `#lib/*`
 * resolves to the compiled lib, and migrations and schemas are found beside the compiled modules.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let app: string;
let db: TestDatabase;
const children: ChildProcess[] = [];
const secrets = {
  JWT_SECRET: randomBytes(32).toString('hex'),
  ROUTER_SECRET: randomBytes(32).toString('hex'),
};

/** Starts a compiled entry with only the given environment; resolves with its URL once it listens. */
function start(entry: string, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--enable-source-maps', ...entry.split(' ')], {
    cwd: app,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...secrets,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${entry} did not start:\n${output.join('\n')}`)),
      30_000,
    );
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    createInterface({ input: child.stdout }).on('line', line => {
      output.push(line);
      try {
        const record = JSON.parse(line) as { msg?: string; url?: string };
        if (record.msg?.endsWith('listening') && record.url) {
          clearTimeout(timer);
          resolve(record.url.replace(/\/graphql$/, ''));
        }
      } catch {
        // not a log line
      }
    });
    child.on('exit', code => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}:\n${output.join('\n')}`));
    });
  });
}

beforeAll(async () => {
  // What `npm run build` makes in dist/, made here in a directory of the test's own: a test
  // never writes into the checkout.
  app = mkdtempSync(join(tmpdir(), 'supergraph-app-'));
  const build = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', app], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
  db = await createTestDatabase('packaging');
}, 180_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map(c =>
      c.exitCode === null ? new Promise(r => c.once('exit', r)) : Promise.resolve(),
    ),
  );
  await db?.drop();
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the compiled tree', () => {
  it('holds JavaScript, package.json and the files read at run time, and no tests', () => {
    for (const file of [
      'package.json',
      'router/index.js',
      'subgraphs/main.js',
      'lib/config.js',
      'schema/supergraph.graphql',
      ...['users', 'tasks', 'notifications'].flatMap(n => [
        `subgraphs/${n}/src/subgraph.js`,
        `subgraphs/${n}/schema.graphql`,
        `subgraphs/${n}/drizzle/meta/_journal.json`,
      ]),
    ]) {
      expect(existsSync(join(app, file)), file).toBe(true);
    }
    expect(existsSync(join(app, 'lib/config.test.js'))).toBe(false);
    expect(existsSync(join(app, 'test'))).toBe(false);
  });

  it('runs users on Postgres and the router in front with plain node', async () => {
    const users = await start('subgraphs/main.js users', {
      USERS_PORT: '0',
      USERS_DATABASE_URL: db.url,
    });
    expect((await fetch(`${users}/health`)).status).toBe(200);
    expect((await fetch(`${users}/ready`)).status).toBe(200);

    const router = await start('router/index.js', {
      ROUTER_PORT: '0',
      USERS_URL: `${users}/graphql`,
      // Nothing listens there: the router is alive but not ready without them.
      TASKS_URL: 'http://127.0.0.1:9/graphql',
      NOTIFICATIONS_URL: 'http://127.0.0.1:9/graphql',
    });
    expect((await fetch(`${router}/health`)).status).toBe(200);
    const ready = await fetch(`${router}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      reason: 'subgraphs not answering: notifications, tasks',
    });

    const res = await fetch(`${router}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          'mutation ($input: RegisterInput!) { register(input: $input) { user { username role } } }',
        variables: {
          input: {
            username: 'packaged',
            email: 'packaged@example.com',
            password: 'demo-password-1',
          },
        },
      }),
    });
    expect(await res.json()).toEqual({
      data: { register: { user: { username: 'packaged', role: 'ADMIN' } } },
    });
  });
});
