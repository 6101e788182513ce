import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants } from 'node:zlib';
import {
  initialisedCluster,
  pgliteVersion,
  TEMPLATE_FILE,
  TEMPLATE_VERSION_FILE,
} from '../lib/pglite.js';

/**
 * `npm run db:template`: writes the initialised cluster every new embedded database starts from
 * (lib/pglite.ts), and the PGlite version that wrote it. Run it after upgrading PGlite; the drift
 * check (scripts/check-generated.ts) says when.
 */
const tar = await initialisedCluster();
const compressed = brotliCompressSync(tar, {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 11,
    [constants.BROTLI_PARAM_LGWIN]: 24,
    [constants.BROTLI_PARAM_SIZE_HINT]: tar.byteLength,
  },
});
mkdirSync(dirname(fileURLToPath(TEMPLATE_FILE)), { recursive: true });
writeFileSync(TEMPLATE_FILE, compressed);
writeFileSync(
  TEMPLATE_VERSION_FILE,
  `${JSON.stringify({ pglite: await pgliteVersion() }, null, 2)}\n`,
);
console.log(
  `${fileURLToPath(TEMPLATE_FILE)}: ${tar.byteLength} bytes of cluster, ${compressed.byteLength} compressed`,
);
