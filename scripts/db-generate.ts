import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SUBGRAPHS } from '#lib/config.js';

/** `npm run db:generate [name]`: drizzle-kit migrations for every subgraph's Drizzle schema. */
const only = process.argv[2];
for (const name of SUBGRAPHS) {
  if (only && only !== name) continue;
  const config = `subgraphs/${name}/drizzle.config.ts`;
  if (!existsSync(config)) continue;
  execFileSync(join('node_modules', '.bin', 'drizzle-kit'), ['generate', '--config', config], {
    stdio: 'inherit',
  });
}
