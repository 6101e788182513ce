import { fileURLToPath } from 'node:url';

/** The committed supergraph the router serves (written by `npm run compose`). */
export const SUPERGRAPH_PATH = fileURLToPath(new URL('./supergraph.graphql', import.meta.url));
