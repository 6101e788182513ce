import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/services.js';
import { captureLog } from './__fixtures__/log.js';
import { openDatabase, type OpenedDatabase } from './db.js';
import { outbox } from './events/tables.js';

/**
 * A failed statement, logged as the services log it: the SQL, the code and the message say
 * what went wrong, and no parameter value (a password hash, an email, a token) is in the line.
 */

const schema = { outbox };
const migrationsFolder = fileURLToPath(
  new URL('./events/__fixtures__/migrations', import.meta.url),
);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function open(driver: 'postgres' | 'pglite'): Promise<OpenedDatabase<typeof schema>> {
  const common = { name: 'log', schema, migrationsFolder, log: captureLog().log };
  if (driver === 'postgres') {
    const database = await createTestDatabase('log');
    cleanups.push(() => database.drop());
    const opened = await openDatabase({ ...common, url: database.url, dataDir: '' });
    cleanups.push(() => opened.close());
    return opened;
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'log-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const opened = await openDatabase({ ...common, url: undefined, dataDir });
  cleanups.push(() => opened.close());
  return opened;
}

describe.each(['postgres', 'pglite'] as const)('a failed insert on %s, logged', driver => {
  // Opened in a hook: PGlite takes seconds to start on a busy machine.
  let db: OpenedDatabase<typeof schema>['db'];
  beforeAll(async () => {
    db = (await open(driver)).db;
  });

  it('keeps the SQL, the code and the message, and no parameter value', async () => {
    // What a users row holds: the scrypt hash must never reach a log.
    const secret = 'scrypt$15$8$3$c2VjcmV0LXNhbHQ$c2VjcmV0LWhhc2gtdmFsdWU';
    // NOT NULL fails: Postgres then quotes the whole failing row, secret included, in `detail`.
    const err: unknown = await db
      .insert(outbox)
      .values({ id: randomUUID(), type: secret, envelope: sql`null` })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(Error);
    expect(JSON.stringify(err) + String((err as Error).message)).toContain(secret);

    const { log, lines } = captureLog();
    log.child({ service: 'users' }).error({ err }, 'unexpected error');
    log.error(err, 'logged bare');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain('c2VjcmV0');
      const logged = JSON.parse(line) as {
        err: { message: string; stack: string; cause?: { code?: string; message?: string } };
      };
      expect(logged.err.message).toContain('insert into "outbox"');
      expect(logged.err.stack).toContain('insert into "outbox"');
      expect(logged.err.cause).toMatchObject({
        code: '23502',
        message: expect.stringContaining('null value in column "envelope"'),
      });
    }
  });
});

describe('a failed statement of postgres.js itself, logged', () => {
  it('keeps the SQL and the code, and no parameter, whether or not debug shows them', async () => {
    const database = await createTestDatabase('logpg');
    cleanups.push(() => database.drop());
    const secret = 'scrypt$15$8$3$cG9zdGdyZXMtc2FsdA$cG9zdGdyZXMtaGFzaA';
    for (const debug of [false, true]) {
      // With `debug`, postgres.js makes `parameters` and `args` enumerable: logged unless redacted.
      const sql = postgres(database.url, {
        debug: debug ? () => undefined : false,
        onnotice: () => {},
      });
      cleanups.push(() => sql.end());
      await sql`create table if not exists creds (id int primary key, hash text not null)`;
      await sql`insert into creds values (1, 'first') on conflict do nothing`;
      const err: unknown = await sql`insert into creds values (${1}, ${secret})`.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `debug ${debug}`).toMatchObject({ code: '23505', parameters: ['1', secret] });

      const { log, lines } = captureLog();
      log.error({ err }, 'unexpected error');
      const [line] = lines;
      expect(line).not.toContain(secret);
      expect(line).not.toContain('cG9zdGdyZXM');
      const logged = JSON.parse(line!) as { err: Record<string, unknown> };
      expect(logged.err).toMatchObject({ code: '23505', constraint_name: 'creds_pkey' });
      if (debug) {
        expect(logged.err).toMatchObject({
          query: expect.stringContaining('insert into creds values ($1, $2)'),
          parameters: '[redacted]',
          args: '[redacted]',
        });
      }
    }
  });
});
