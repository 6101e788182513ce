import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/support/services.js';
import { TcpProxy } from '../test/support/tcp-proxy.js';
import { waitFor } from '../test/support/wait.js';
import { openDatabase, queryRows, type OpenedDatabase } from './db.js';

/**
 * postgres.js loses its socket under a write it has buffered when a connection is reset or its
 * backend dies, and then throws from a setImmediate: no try/catch can stop that from killing the
 * process (porsager/postgres#1066, #1154, #1208). patches/postgres+3.4.9.patch carries the
 * upstream guard (PR #1209); these tests show the crash without it and the survival with it.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PATCH = join(ROOT, 'patches/postgres+3.4.9.patch');
const CHILD = join(ROOT, 'test/support/children/transaction-backend-death.ts');
const runChild = (packageDir: string, url: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', CHILD, packageDir, url], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });

let database: TestDatabase;
let scratch: string;
beforeAll(async () => {
  database = await createTestDatabase('pgreset');
  scratch = mkdtempSync(join(tmpdir(), 'postgres-unpatched-'));
});
afterAll(async () => {
  await database?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('a transaction whose backend is terminated mid-statement', () => {
  it('kills the process with postgres.js as published', () => {
    // The installed package with the patch taken back out.
    const unpatched = join(scratch, 'postgres');
    cpSync(join(ROOT, 'node_modules/postgres'), unpatched, { recursive: true });
    const reverse = spawnSync('patch', ['-R', '-p3', '-d', unpatched, '-i', PATCH], {
      encoding: 'utf8',
    });
    expect(reverse.status, reverse.stderr + reverse.stdout).toBe(0);
    const run = runChild(unpatched, database.url);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/Cannot read properties of null \(reading 'write'\)/);
    expect(run.stderr).toMatch(/nextWrite/);
  });

  it('rejects with CONNECTION_CLOSED once patched; the process lives on and the pool serves', () => {
    expect(readFileSync(join(ROOT, 'node_modules/postgres/src/connection.js'), 'utf8')).toContain(
      'porsager/postgres#1066',
    );
    const run = runChild(join(ROOT, 'node_modules/postgres'), database.url);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ transaction: 'CONNECTION_CLOSED', after: 1 });
  });
});

describe('connections reset by the network, mid-query and mid-write', () => {
  let proxy: TcpProxy;
  let opened: OpenedDatabase<Record<string, never>>;

  beforeAll(async () => {
    const target = new URL(database.url);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    opened = await openDatabase({
      url: viaProxy.toString(),
      name: 'pgreset',
      dataDir: '',
      schema: {},
      migrationsFolder: fileURLToPath(new URL('./events/__fixtures__/migrations', import.meta.url)),
      poolSize: 4,
      log: pino({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    await opened?.close();
    await proxy?.stop();
  });

  it('settles every query in flight, pooled and in transactions, and recovers by itself', async () => {
    for (let round = 0; round < 3; round++) {
      // Small statements (buffered behind setImmediate), a large one (written at once) and
      // transactions (a reserved connection each), all in flight when the proxy cuts.
      const inFlight = [
        ...Array.from({ length: 8 }, () =>
          queryRows(opened.db, sql`select pg_sleep(0.05), 1 as one`),
        ),
        queryRows(opened.db, sql`select ${'x'.repeat(4096)} as big, pg_sleep(0.05)`),
        ...Array.from({ length: 3 }, () =>
          opened.db.transaction(async tx => {
            await queryRows(tx, sql`select pg_sleep(0.05)`);
            await queryRows(tx, sql`select 1`);
          }),
        ),
      ].map(p =>
        p.then(
          () => 'ok',
          (err: unknown) => (err as Error).message,
        ),
      );
      await new Promise(resolve => setTimeout(resolve, 20));
      await proxy.stop();
      const outcomes = await Promise.all(inFlight);
      expect(outcomes.filter(o => o !== 'ok').length).toBeGreaterThan(0);
      await expect(opened.ping()).rejects.toThrow();
      await proxy.start();
      await waitFor(() => opened.ping().then(() => true), { timeoutMs: 15_000 });
    }
    const [row] = await queryRows<{ one: number }>(opened.db, sql`select 1 as one`);
    expect(row?.one).toBe(1);
    // postgres.js retries a refused connection with backoff before it rejects what waits on it.
  }, 90_000);
});
