import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { openPglite } from './pglite.js';

/**
 * The embedded databases of `npm start`: a new data directory starts from the committed template
 * (no initdb), keeps what is written to it, and several share the process's compiled module.
 */

const scratch = mkdtempSync(join(tmpdir(), 'pglite-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

describe('openPglite', () => {
  it('creates a new database from the template, and finds what it wrote when reopened', async () => {
    const dir = join(scratch, 'kept');
    const { log, lines } = recordingLogger();
    const db = await openPglite(dir, log);
    await db.exec("create table notes (body text); insert into notes values ('kept')");
    await db.close();
    expect(lines.find(l => l.msg === 'created the embedded database')).toMatchObject({
      dir,
      template: true,
    });
    // Nothing of the unpacking is left beside it.
    expect(readdirSync(scratch).filter(name => name.includes('unpacking'))).toEqual([]);

    const again = recordingLogger();
    const reopened = await openPglite(dir, again.log);
    const { rows } = await reopened.query<{ body: string }>('select body from notes');
    await reopened.close();
    expect(rows).toEqual([{ body: 'kept' }]);
    expect(again.lines.some(l => l.msg === 'created the embedded database')).toBe(false);
  });

  it('gives every database of the process its own data', async () => {
    const { log } = recordingLogger();
    const [a, b] = await Promise.all([
      openPglite(join(scratch, 'a'), log),
      openPglite(join(scratch, 'b'), log),
    ]);
    try {
      await a.exec('create table only_in_a (x int)');
      const { rows } = await b.query<{ n: number }>(
        "select count(*)::int as n from pg_tables where tablename = 'only_in_a'",
      );
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses a folder that holds files but no database, and leaves the files alone', async () => {
    const dir = join(scratch, 'occupied');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const { log } = recordingLogger();
    await expect(openPglite(dir, log)).rejects.toThrow(/holds files but no database/);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('starts over from a half-unpacked template a crash left behind', async () => {
    const dir = join(scratch, 'crashed');
    // What a kill during the unpacking leaves: part of a cluster in the staging folder.
    mkdirSync(`${dir}.unpacking`, { recursive: true });
    writeFileSync(join(`${dir}.unpacking`, 'half-written'), '');
    const { log } = recordingLogger();
    const db = await openPglite(dir, log);
    const { rows } = await db.query<{ one: number }>('select 1 as one');
    await db.close();
    expect(rows).toEqual([{ one: 1 }]);
    expect(existsSync(`${dir}.unpacking`)).toBe(false);
    expect(existsSync(join(dir, 'half-written'))).toBe(false);
  });
});
