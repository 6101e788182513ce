import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import { composeServices } from '@apollo/composition';
import { subgraphs } from '../subgraphs/index.js';
import { SUPERGRAPH_PATH } from './paths.js';

/**
 * Composes the schema of every subgraph of subgraphs/index.ts into `schema/supergraph.graphql`,
 * each at its default port on localhost (the router overrides the URLs with `<NAME>_URL`).
 * `scripts/check-generated.ts` fails the tests when the committed file is stale.
 */
export function composeSupergraph(): string {
  const result = composeServices(
    subgraphs.map(({ name, port, schemaPath }) => ({
      name,
      url: `http://localhost:${port}/graphql`,
      typeDefs: parse(readFileSync(schemaPath, 'utf8')),
    })),
  );
  if (result.errors) {
    throw new Error(`Composition failed:\n${result.errors.map(e => `  ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(SUPERGRAPH_PATH, composeSupergraph());
  console.log(`wrote ${SUPERGRAPH_PATH}`);
}
