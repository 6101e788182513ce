import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';
import type { SubgraphDescriptor } from '#lib/subgraph/descriptor.js';

/**
 * Runs `drizzle-kit generate` for one subgraph's Drizzle schema, writing new migrations to
 * `out` (its migrations folder, or a copy of it to compare with). One place for the flags, so
 * no subgraph needs a drizzle.config.ts of its own.
 */
export function drizzleGenerate(
  subgraph: Pick<SubgraphDescriptor, 'tablesModule'>,
  out: string,
  stdio: 'inherit' | 'pipe' = 'pipe',
): void {
  // drizzle-kit reads `--out` relative to the working directory (it prefixes "./"), and it exits
  // 0 even when it fails: what it prints says which.
  const output = execFileSync(
    join('node_modules', '.bin', 'drizzle-kit'),
    [
      'generate',
      '--dialect',
      'postgresql',
      '--schema',
      relative(process.cwd(), subgraph.tablesModule),
      '--out',
      relative(process.cwd(), out),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
  );
  if (stdio === 'inherit') process.stdout.write(output);
  if (!/No schema changes|Your SQL migration file/.test(output)) {
    throw new Error(`drizzle-kit generate failed for ${out}:\n${output}`);
  }
}
