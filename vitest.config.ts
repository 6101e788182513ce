import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

// What services write under DATA_DIR (mail as .eml files, embedded databases) goes to a folder
// of this run, never into the checkout; test/global-setup.ts removes it, and fails the run if
// the checkout's own .data/ was written.
const dataDir = (process.env.SUPERGRAPH_TEST_DATA_DIR ??= join(
  tmpdir(),
  `supergraph-test-${process.pid}-${Date.now()}`,
));

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module) builds. Node, and so every dependency,
    // loads the CJS one; Vite would hand our own code the ESM one, and two GraphQLError
    // classes break instanceof checks (graphql-ws refuses errors of the other class).
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: [
      'lib/**/*.test.ts',
      'router/**/*.test.ts',
      'subgraphs/**/*.test.ts',
      'schema/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel workers, each with its own databases and bus namespace.
    pool: 'forks',
    env: { NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', DATA_DIR: dataDir },
  },
});
