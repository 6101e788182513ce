import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import { composeServices } from '@apollo/composition';
import { SUBGRAPHS, type SubgraphName } from '#lib/config.js';
import { SUPERGRAPH_PATH } from './paths.js';

/**
 * Composes every `subgraphs/<name>/schema.graphql` into `schema/supergraph.graphql`.
 * `scripts/check-generated.ts` fails the tests when the committed file is stale.
 */
const root = new URL('../', import.meta.url);
export { SUPERGRAPH_PATH };
const DEFAULT_PORTS: Record<SubgraphName, number> = {
  users: 4001,
  tasks: 4002,
  notifications: 4003,
};

/** Subgraphs that exist in this checkout (tasks and notifications join as they land). */
export function subgraphSchemas() {
  return SUBGRAPHS.flatMap(name => {
    const path = fileURLToPath(new URL(`subgraphs/${name}/schema.graphql`, root));
    let sdl: string;
    try {
      sdl = readFileSync(path, 'utf8');
    } catch {
      return [];
    }
    return [{ name, url: `http://localhost:${DEFAULT_PORTS[name]}/graphql`, typeDefs: parse(sdl) }];
  });
}

export function composeSupergraph(): string {
  const result = composeServices(subgraphSchemas());
  if (result.errors) {
    throw new Error(`Composition failed:\n${result.errors.map(e => `  ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(SUPERGRAPH_PATH, composeSupergraph());
  console.log(`wrote ${SUPERGRAPH_PATH}`);
}
