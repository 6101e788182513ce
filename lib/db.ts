import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Logger } from './log.js';
import { openPglite } from './pglite.js';

type Schema = Record<string, unknown>;

/** A Drizzle database, whichever driver is underneath: code above this line never knows. */
export type Database<TSchema extends Schema = Schema> = PgDatabase<PgQueryResultHKT, TSchema>;
/** What `db.transaction` hands its callback; accepted wherever a `Database` is. */
export type Transaction<TSchema extends Schema = Schema> = PgTransaction<
  PgQueryResultHKT,
  TSchema,
  ExtractTablesWithRelations<TSchema>
>;
export type Executor<TSchema extends Schema = Schema> = Database<TSchema> | Transaction<TSchema>;

export interface OpenDatabaseOptions<TSchema extends Schema> {
  /** postgres:// URL; without one, an embedded PGlite database under `dataDir/name`. */
  url: string | undefined;
  /** The service's name: the PGlite folder, and the log context. */
  name: string;
  dataDir: string;
  schema: TSchema;
  /** Folder of drizzle-kit's SQL migrations, applied before the database is handed out. */
  migrationsFolder: string;
  poolSize?: number;
  /**
   * Postgres only: connecting, and each statement (`statement_timeout`), at most this long;
   * a transaction idle for 5× this is ended by the server. Migrations are not bounded.
   */
  timeoutMs?: number;
  log: Logger;
  /** Called for every SQL statement Drizzle sends (tests count them). */
  onQuery?: (query: string) => void;
}

export interface OpenedDatabase<TSchema extends Schema> {
  db: Database<TSchema>;
  driver: 'postgres' | 'pglite';
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Key of the advisory lock that keeps two replicas from migrating at once. */
const MIGRATION_LOCK = 7_301_994;

/**
 * Opens the service's database and applies its migrations: postgres.js when a URL is
 * set, PGlite (files under `dataDir`) otherwise. Same schema, same SQL migrations.
 */
export async function openDatabase<TSchema extends Schema>(
  options: OpenDatabaseOptions<TSchema>,
): Promise<OpenedDatabase<TSchema>> {
  const logger = options.onQuery
    ? { logQuery: (query: string) => options.onQuery?.(query) }
    : undefined;
  const log = options.log.child({ db: options.name });
  if (options.url) {
    const timeoutMs = options.timeoutMs ?? 2_000;
    const clientOptions = {
      onnotice: () => {},
      connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
      // Seconds before reconnecting after a failed connection: postgres.js's default grows to
      // 20 s after a handful of failures (it counts them for the whole pool), which keeps a
      // service unready long after a short database blip. Capped at 2 s.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 2),
    };
    // Migrations on a connection of their own, without the statement timeout (an index on a
    // big table takes what it takes), under a lock so two replicas never migrate at once.
    // Two connections: one holds the lock, the other migrates.
    const migrator = postgres(options.url, { ...clientOptions, max: 2 });
    try {
      const lock = await migrator.reserve();
      try {
        await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
        await migratePostgres(drizzlePostgres(migrator), {
          migrationsFolder: options.migrationsFolder,
        });
      } finally {
        await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {});
        lock.release();
      }
    } finally {
      await migrator.end({ timeout: 5 });
    }
    const client = postgres(options.url, {
      ...clientOptions,
      max: options.poolSize ?? 10,
      // Server-side bounds: a statement that runs (or waits for a lock) too long is cancelled
      // with 57014, answered SERVICE_UNAVAILABLE (lib/errors.ts `isTransient`).
      connection: {
        statement_timeout: timeoutMs,
        idle_in_transaction_session_timeout: timeoutMs * 5,
      },
    });
    const db = drizzlePostgres(client, { schema: options.schema, ...(logger ? { logger } : {}) });
    log.info('postgres ready, migrations applied');
    return {
      db: db as unknown as Database<TSchema>,
      driver: 'postgres',
      ping: async () => {
        await client`select 1`;
      },
      close: () => client.end({ timeout: 5 }),
    };
  }
  const dir = join(options.dataDir, options.name);
  const client = await openPglite(dir, log);
  const db = drizzlePglite(client, { schema: options.schema, ...(logger ? { logger } : {}) });
  await migratePglite(db, { migrationsFolder: options.migrationsFolder });
  log.info({ dir }, 'embedded PGlite ready, migrations applied');
  return {
    db: db as unknown as Database<TSchema>,
    driver: 'pglite',
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => client.close(),
  };
}

/**
 * Rows of a raw `execute`: postgres.js returns an array, PGlite `{ rows }`. Use the query
 * builder where it can say it; this is for the few statements it cannot (advisory locks).
 */
export async function queryRows<T extends Record<string, unknown>>(
  executor: Executor,
  query: ReturnType<typeof sql>,
): Promise<T[]> {
  const result: unknown = await executor.execute(query);
  if (Array.isArray(result)) return result as T[];
  return (result as { rows?: T[] }).rows ?? [];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids are uuids; anything else cannot name a row, and must not reach Postgres as one. */
export const isUuid = (value: string): boolean => UUID.test(value);

/**
 * The constraint a unique violation (SQLSTATE 23505) broke, or null for any other error.
 * Looks through Drizzle's wrapper; postgres.js names it `constraint_name`, PGlite `constraint`.
 */
export function uniqueViolation(err: unknown): string | null {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const { code, constraint_name, constraint } = e as {
      code?: string;
      constraint_name?: string;
      constraint?: string;
    };
    if (code === '23505') return constraint_name ?? constraint ?? '';
  }
  return null;
}
