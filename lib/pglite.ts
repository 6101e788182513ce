import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { extract } from 'tar';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import type { Logger } from './log.js';

/**
 * The embedded databases of `npm start`, made cheap enough to run three in one process.
 *
 * PGlite's defaults suit one database per browser tab: each instance compiles its own copy of
 * the 9 MB Postgres WebAssembly module, unpacks its own copy of the share files, takes Postgres'
 * default 128 MB of shared buffers, and a new data directory costs an `initdb`, a second
 * Postgres instance that bootstraps the catalogs (seconds of CPU). Here every instance of the
 * process shares one compiled module and one share bundle, runs with small buffers (a developer's
 * data fits many times over), and a new data directory starts from a committed template of an
 * initialised cluster (`TEMPLATE_FILE`, written by `npm run db:template`) instead of an initdb.
 * What PGlite offers for it is its own API: `pgliteWasmModule`, `initdbWasmModule`, `fsBundle`,
 * `postgresqlconf`, `loadDataDir`.
 */

/**
 * Postgres settings of every embedded database. `shared_buffers` is the one that shows: at the
 * default 128 MB each instance's WebAssembly memory grows by that much once pages are touched.
 */
const EMBEDDED_POSTGRES_CONF = [
  'shared_buffers=8MB',
  'temp_buffers=2MB',
  'work_mem=2MB',
  'maintenance_work_mem=16MB',
];

/** The initialised cluster new data directories start from (a tar, brotli-compressed). */
export const TEMPLATE_FILE = new URL('./pglite-template/datadir.tar.br', import.meta.url);
/** The PGlite version that wrote it: another version's cluster may not be readable. */
export const TEMPLATE_VERSION_FILE = new URL('./pglite-template/version.json', import.meta.url);

/** The version of the installed `@electric-sql/pglite`. */
export async function pgliteVersion(): Promise<string> {
  const manifest = new URL('../package.json', pgliteDist());
  const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
  return version;
}

/** PGlite's dist/ folder, where its WebAssembly modules and share bundle sit beside its code. */
const pgliteDist = (): URL =>
  pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite'));

type SharedArtifacts = Pick<PGliteOptions, 'pgliteWasmModule' | 'initdbWasmModule' | 'fsBundle'>;

// Node's WebAssembly global, which the project's TypeScript libs (no DOM) do not declare.
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      compile(bytes: Uint8Array): Promise<NonNullable<SharedArtifacts['pgliteWasmModule']>>;
    };
  }
).WebAssembly;

let artifacts: Promise<SharedArtifacts> | undefined;

/** Loaded once per process, on first use; a failure is not cached, the next caller retries. */
function sharedArtifacts(): Promise<SharedArtifacts> {
  artifacts ??= loadArtifacts().catch((err: unknown) => {
    artifacts = undefined;
    throw err;
  });
  return artifacts;
}

async function loadArtifacts(): Promise<SharedArtifacts> {
  const dist = pgliteDist();
  const [pgliteWasm, initdbWasm, bundle] = await Promise.all([
    readFile(new URL('./pglite.wasm', dist)),
    readFile(new URL('./initdb.wasm', dist)),
    readFile(new URL('./pglite.data', dist)),
  ]);
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
    wasm.compile(pgliteWasm),
    wasm.compile(initdbWasm),
  ]);
  return { pgliteWasmModule, initdbWasmModule, fsBundle: new Blob([bundle]) };
}

/** True when the committed template was written by the installed PGlite (else: warn, initdb). */
async function templateUsable(log: Logger): Promise<boolean> {
  if (!existsSync(TEMPLATE_FILE) || !existsSync(TEMPLATE_VERSION_FILE)) return false;
  const [recorded, installed] = await Promise.all([
    readFile(TEMPLATE_VERSION_FILE, 'utf8').then(
      text => (JSON.parse(text) as { pglite: string }).pglite,
    ),
    pgliteVersion(),
  ]);
  if (recorded === installed) return true;
  log.warn(
    { template: recorded, installed },
    'the PGlite data-directory template was written by another PGlite: new databases run initdb (run `npm run db:template`)',
  );
  return false;
}

/**
 * Unpacks the template into `dir` (which must not hold a database), streaming from the file to
 * the disk: PGlite's own `loadDataDir` would hold the 40 MB cluster in memory, twice. Unpacked
 * beside `dir` first and renamed into place, so a crash never leaves half a cluster behind.
 */
async function unpackTemplate(dir: string): Promise<void> {
  const staging = `${dir}.unpacking`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await extract({ file: fileURLToPath(TEMPLATE_FILE), cwd: staging, brotli: true });
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Opens (creating when new) the embedded database in `dir`, sharing the process's compiled
 * module and share bundle with every other one.
 */
export async function openPglite(dir: string, log: Logger): Promise<PGlite> {
  const fresh = !existsSync(join(dir, 'PG_VERSION'));
  if (fresh) {
    if (existsSync(dir) && (await readdir(dir)).length > 0)
      throw new Error(
        `${dir} holds files but no database: move them away or point DATA_DIR elsewhere`,
      );
    const template = await templateUsable(log);
    if (template) await unpackTemplate(dir);
    else await mkdir(dir, { recursive: true });
    log.info({ dir, template }, 'created the embedded database');
  }
  return PGlite.create(dir, {
    ...(await sharedArtifacts()),
    postgresqlconf: EMBEDDED_POSTGRES_CONF,
  });
}

/**
 * A freshly initialised cluster as a tar (what `npm run db:template` compresses and commits):
 * initdb in memory, with the settings every embedded database runs with.
 */
export async function initialisedCluster(): Promise<Uint8Array> {
  const db = await PGlite.create({ postgresqlconf: EMBEDDED_POSTGRES_CONF });
  try {
    await db.exec('checkpoint');
    const tar = await db.dumpDataDir('none');
    return new Uint8Array(await tar.arrayBuffer());
  } finally {
    await db.close();
  }
}
