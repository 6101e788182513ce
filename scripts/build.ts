import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * `npm run build` (into dist/) and the packaging test (into a temporary directory):
 * `tsx scripts/build.ts <outDir>` replaces `outDir` with the compiled services
 * (tsconfig.build.json, laid out like the source), package.json (its "imports" map `#lib/*`)
 * and the files they read at run time: the supergraph, each subgraph's schema and migrations.
 * `outDir` is the app root the image runs.
 */
const [arg] = process.argv.slice(2);
if (!arg) {
  console.error('usage: tsx scripts/build.ts <outDir>');
  process.exit(2);
}
const root = process.cwd();
const outDir = resolve(arg);
// The directory is emptied first: never the checkout itself or a folder that holds it.
const fromOut = relative(outDir, root);
if (!isAbsolute(fromOut) && fromOut !== '..' && !fromOut.startsWith(`..${sep}`)) {
  console.error(`refusing to build into ${outDir}: it holds the sources`);
  process.exit(2);
}

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  join(root, 'node_modules', '.bin', 'tsc'),
  ['-p', 'tsconfig.build.json', '--outDir', outDir],
  { stdio: 'inherit' },
);
cpSync('package.json', join(outDir, 'package.json'));
const assets = [
  'schema/supergraph.graphql',
  'lib/pglite-template',
  ...readdirSync('subgraphs', { withFileTypes: true })
    .filter(entry => entry.isDirectory())
    .flatMap(({ name }) => [`subgraphs/${name}/schema.graphql`, `subgraphs/${name}/drizzle`]),
];
for (const asset of assets.filter(a => existsSync(a)))
  cpSync(asset, join(outDir, asset), { recursive: true });
