import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openDatabase, type Database } from '#lib/db.js';
import { createTestDatabase } from '../../../../test/support/services.js';
import { schema } from '../db/schema.js';
import { tasks } from '../subgraph.js';

const TASKS_MIGRATIONS = tasks.migrationsFolder;

export type TasksDb = Database<typeof schema>;
export type Driver = 'postgres' | 'pglite';

export interface OpenedTasksDb {
  db: TasksDb;
  /** postgres:// URL of the database (Postgres only). */
  url?: string;
  close(): Promise<void>;
}

const silent = pino({ level: 'silent' });

/** A fresh, migrated tasks database on real Postgres or on PGlite, as the service opens it. */
export async function openTasksDb(driver: Driver): Promise<OpenedTasksDb> {
  if (driver === 'postgres') {
    const database = await createTestDatabase('tasks');
    const opened = await openDatabase({
      url: database.url,
      name: 'tasks',
      dataDir: '',
      schema,
      migrationsFolder: TASKS_MIGRATIONS,
      log: silent,
    });
    return {
      db: opened.db,
      url: database.url,
      close: async () => {
        await opened.close();
        await database.drop();
      },
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'tasks-'));
  const opened = await openDatabase({
    url: undefined,
    name: 'tasks',
    dataDir,
    schema,
    migrationsFolder: TASKS_MIGRATIONS,
    log: silent,
  });
  return {
    db: opened.db,
    close: async () => {
      await opened.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
