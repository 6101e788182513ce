import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUBGRAPHS } from '#lib/config.js';
import { composeSupergraph } from '../schema/compose.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';

/**
 * Fails when a committed generated file is stale: the supergraph, the codegen resolver
 * types, or a subgraph's migrations (a schema change without its migration). CI runs it.
 */
const problems: string[] = [];
const bin = (name: string) => join('node_modules', '.bin', name);

if (readFileSync(SUPERGRAPH_PATH, 'utf8') !== composeSupergraph()) {
  problems.push('schema/supergraph.graphql is stale: run `npm run compose`');
}

// The API contract is owned outside this repository (shared/contract); the committed copy
// that test/contract checks against must be the current one wherever shared/ is at hand.
const sharedContract = '../shared/contract/api.graphql';
if (
  existsSync(sharedContract) &&
  readFileSync(sharedContract, 'utf8') !== readFileSync('schema/contract.graphql', 'utf8')
) {
  problems.push(
    'schema/contract.graphql differs from ../shared/contract/api.graphql: copy it over',
  );
}

try {
  execFileSync(bin('graphql-codegen'), ['--config', 'codegen.ts', '--check'], { stdio: 'pipe' });
} catch {
  problems.push('generated resolver types are stale: run `npm run codegen`');
}

for (const name of SUBGRAPHS) {
  const config = `subgraphs/${name}/drizzle.config.ts`;
  if (!existsSync(config)) continue;
  const dir = `subgraphs/${name}/drizzle`;
  const list = (d: string): string[] =>
    existsSync(d) ? readdirSync(d, { recursive: true, encoding: 'utf8' }).sort() : [];
  const before = list(dir);
  const snapshot = new Map(
    before.map(f => [
      f,
      existsSync(join(dir, f)) && !f.endsWith('/') ? safeRead(join(dir, f)) : '',
    ]),
  );
  execFileSync(bin('drizzle-kit'), ['generate', '--config', config], { stdio: 'pipe' });
  const added = list(dir).filter(f => !snapshot.has(f));
  const changed = before.filter(f => safeRead(join(dir, f)) !== snapshot.get(f));
  // Leave the tree as it was: this is a check, not a generator.
  for (const f of added) rmSync(join(dir, f), { recursive: true, force: true });
  for (const f of changed) writeFileSync(join(dir, f), snapshot.get(f) ?? '');
  if (added.length > 0 || changed.length > 0) {
    problems.push(
      `${name}: the Drizzle schema has changes without a migration: run \`npm run db:generate\``,
    );
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

if (problems.length > 0) {
  console.error(`Generated files are out of date:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('generated files are up to date (supergraph, resolver types, migrations)');
