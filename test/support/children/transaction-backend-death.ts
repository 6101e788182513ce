/**
 * porsager/postgres#1208 as every service meets it, in a child process (a crash must not take
 * the test runner with it): the backend of a transaction's connection (reserved for it) dies
 * while a statement is in flight; postgres.js rolls back on that connection, whose socket is
 * gone. Unpatched, the ROLLBACK's buffered write throws from a setImmediate and the process
 * dies; patched, the transaction rejects and the pool serves the next query.
 *
 *   node --import tsx transaction-backend-death.ts <path of a postgres package> <postgres:// URL>
 *
 * Prints `{"transaction": code, "after": value}` and exits 0 when the process survived.
 */
import type Postgres from 'postgres';

const [packageDir, url] = process.argv.slice(2);
if (!packageDir || !url) throw new Error('usage: transaction-backend-death.ts <package dir> <url>');
const { default: postgres } = (await import(`${packageDir}/src/index.js`)) as {
  default: typeof Postgres;
};
const sql = postgres(url, { max: 2, onnotice: () => {} });
const killer = postgres(url, { max: 1, onnotice: () => {} });
let pid: number | undefined;
const transaction = sql
  .begin(async tx => {
    const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
    pid = row!.pid;
    await tx`select pg_sleep(5)`;
  })
  .then(
    () => 'committed',
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  );
while (pid === undefined) await new Promise(resolve => setTimeout(resolve, 10));
await killer`select pg_terminate_backend(${pid})`;
const outcome = await transaction;
const [after] = await sql<{ one: number }[]>`select 1 as one`;
process.stdout.write(JSON.stringify({ transaction: outcome, after: after?.one }) + '\n');
await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })]);
