import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pgliteVersion, TEMPLATE_VERSION_FILE } from '../lib/pglite.js';
import { composeSupergraph } from '../schema/compose.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';
import { subgraphs } from '../subgraphs/index.js';
import { drizzleGenerate } from './drizzle.js';

/**
 * Fails when a committed generated file is stale: the supergraph, the codegen resolver
 * types, or a subgraph's migrations (a schema change without its migration); or when a
 * committed copy of a contract owned outside the repository differs from it. CI runs it.
 */
const problems: string[] = [];
const bin = (name: string) => join('node_modules', '.bin', name);

if (readFileSync(SUPERGRAPH_PATH, 'utf8') !== composeSupergraph()) {
  problems.push('schema/supergraph.graphql is stale: run `npm run compose`');
}

// The API and event contracts are owned outside this repository (../shared/contract); their
// committed copies (test/contract checks the composed API against the first) must be the
// current ones wherever shared/ is at hand. CI clones may not have it: then there is nothing
// to compare with.
const contractCopies = [
  ['../shared/contract/api.graphql', 'schema/contract.graphql'],
  ['../shared/contract/next/email.graphql', 'schema/contract-email.graphql'],
  ['../shared/contract/events.md', 'docs/events.md'],
] as const;
for (const [shared, copy] of contractCopies) {
  if (existsSync(shared) && readFileSync(shared, 'utf8') !== readFileSync(copy, 'utf8'))
    problems.push(`${copy} differs from ${shared}: copy it over`);
}

// The embedded databases' template (lib/pglite.ts) is a cluster written by one PGlite version;
// another version would start every new database with initdb again (seconds), or not read it.
const template = JSON.parse(readFileSync(TEMPLATE_VERSION_FILE, 'utf8')) as { pglite: string };
if (template.pglite !== (await pgliteVersion())) {
  problems.push(
    `lib/pglite-template was written by PGlite ${template.pglite}, not the installed ${await pgliteVersion()}: run \`npm run db:template\``,
  );
}

try {
  execFileSync(bin('graphql-codegen'), ['--config', 'codegen.ts', '--check'], { stdio: 'pipe' });
} catch {
  problems.push('generated resolver types are stale: run `npm run codegen`');
}

// Migrations: drizzle-kit generates into a copy of each migrations folder; anything it adds
// or changes there means the Drizzle schema changed without a migration. The checkout is not
// written to.
for (const subgraph of subgraphs) {
  const copy = mkdtempSync(join(tmpdir(), `migrations-${subgraph.name}-`));
  try {
    cpSync(subgraph.migrationsFolder, copy, { recursive: true });
    const before = snapshot(copy);
    drizzleGenerate(subgraph, copy);
    const after = snapshot(copy);
    const differs =
      after.size !== before.size || [...after].some(([file, text]) => before.get(file) !== text);
    if (differs) {
      problems.push(
        `${subgraph.name}: the Drizzle schema has changes without a migration: run \`npm run db:generate\``,
      );
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** Every file under `dir` with its text. */
function snapshot(dir: string): Map<string, string> {
  return new Map(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter(entry => entry.isFile())
      .map(entry => {
        const path = join(entry.parentPath, entry.name);
        return [relative(dir, path), readFileSync(path, 'utf8')];
      }),
  );
}

if (problems.length > 0) {
  console.error(`Generated files are out of date:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  'generated files are up to date (supergraph, resolver types, migrations, contract copies)',
);
