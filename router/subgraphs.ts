import { Supergraph } from '@apollo/federation-internals';
import type { SubgraphSpec } from '#lib/config.js';

/**
 * The subgraphs a supergraph composes, each with the port of the URL it was composed with:
 * what the router's config reads `<NAME>_URL` for. The router learns its subgraphs here, never
 * from their code.
 */
export function subgraphsOf(supergraphSdl: string): SubgraphSpec[] {
  return Supergraph.build(supergraphSdl)
    .subgraphs()
    .values()
    .map(({ name, url }) => ({ name, port: Number(new URL(url).port) }));
}
