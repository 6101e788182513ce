import { subgraphs } from '../subgraphs/index.js';
import { drizzleGenerate } from './drizzle.js';

/** `npm run db:generate [name]`: drizzle-kit migrations for every subgraph's Drizzle schema. */
const only = process.argv[2];
for (const subgraph of subgraphs) {
  if (only && only !== subgraph.name) continue;
  drizzleGenerate(subgraph, subgraph.migrationsFolder, 'inherit');
}
