import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { SUBGRAPHS, type SubgraphName } from '#lib/config.js';
import { SUPERGRAPH_PATH } from './paths.js';

/**
 * Composes every `subgraphs/<name>/schema.graphql` into `schema/supergraph.graphql`.
 * `--check` fails instead of writing when the committed file is stale (CI runs that).
 */
const root = new URL('../', import.meta.url);
export { SUPERGRAPH_PATH };
const DEFAULT_PORTS: Record<SubgraphName, number> = { users: 4001, tasks: 4002, notifications: 4003 };

/** Subgraphs that exist in this checkout (tasks and notifications join as they land). */
export function subgraphSchemas() {
  return SUBGRAPHS.flatMap((name) => {
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
    throw new Error(`Composition failed:\n${result.errors.map((e) => `  ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sdl = composeSupergraph();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(SUPERGRAPH_PATH, 'utf8');
    if (committed !== sdl) {
      console.error('schema/supergraph.graphql is stale: run `npm run compose` and commit it.');
      process.exit(1);
    }
    console.log('schema/supergraph.graphql is up to date');
  } else {
    writeFileSync(SUPERGRAPH_PATH, sdl);
    console.log(`wrote ${SUPERGRAPH_PATH}`);
  }
}
