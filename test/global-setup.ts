import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'amqplib';
import postgres from 'postgres';
import { TEST_AMQP_URL, TEST_POSTGRES_URL } from './support/services.js';

/**
 * Runs once before the suite: checks that Postgres and RabbitMQ answer and stops the run
 * with a clear message when one does not. Tests never skip for a missing service.
 * Its teardown removes the run's DATA_DIR (vitest.config.ts) and fails the run when a test
 * wrote the checkout's default `.data/` instead.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const checkoutData = '.data';
  const hadCheckoutData = existsSync(checkoutData);
  const problems: string[] = [];
  const sql = postgres(TEST_POSTGRES_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (err) {
    problems.push(`Postgres at ${TEST_POSTGRES_URL}: ${(err as Error).message}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  try {
    const conn = await connect(TEST_AMQP_URL);
    await conn.close();
  } catch (err) {
    problems.push(`RabbitMQ at ${TEST_AMQP_URL}: ${(err as Error).message}`);
  }
  if (problems.length > 0) {
    throw new Error(
      `The tests need a running Postgres and RabbitMQ (set TEST_POSTGRES_URL / TEST_AMQP_URL):\n  ${problems.join('\n  ')}`,
    );
  }
  return async () => {
    const dataDir = process.env.SUPERGRAPH_TEST_DATA_DIR;
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (!hadCheckoutData && existsSync(checkoutData))
      throw new Error('a test wrote .data/ into the checkout: give it a DATA_DIR of its own');
  };
}
