import { readdirSync } from 'node:fs';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import js from '@eslint/js';

/**
 * Type-aware lint (typescript-eslint's recommended type-checked rules) plus the layering the
 * code relies on, checked rather than remembered:
 * - `lib/` is shared by every service: it imports nothing from `router/` or `subgraphs/`;
 * - no subgraph imports another (they talk through the router and the bus);
 * - the router imports no subgraph (it learns them from the supergraph).
 */
// Every folder under subgraphs/ is a subgraph: a new one is fenced in without editing this file.
const subgraphFolders = readdirSync(new URL('./subgraphs/', import.meta.url), {
  withFileTypes: true,
})
  .filter(entry => entry.isDirectory())
  .map(entry => entry.name);

export default defineConfig(
  {
    ignores: [
      'node_modules/',
      'dist/',
      '.data/',
      'coverage/',
      '**/__generated__/',
      'bench/results/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    // Resolves `./x.js` to `./x.ts` and `#lib/*` through package.json, as TypeScript does.
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // Plugin hooks, bus handlers and fakes implement promise-returning interfaces; an `async`
      // without an `await` is how those read best, and `no-floating-promises` guards the rest.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './lib',
              from: ['./router', './subgraphs'],
              message: 'lib/ is shared by every service and imports none of them.',
            },
            {
              target: './router',
              from: './subgraphs',
              message:
                'The router learns the subgraphs from the supergraph, never from their code.',
            },
            ...subgraphFolders.map(name => ({
              target: `./subgraphs/${name}`,
              from: './subgraphs',
              except: [`./${name}`],
              message: 'A subgraph never imports another: they meet in the router and on the bus.',
            })),
          ],
        },
      ],
    },
  },
  {
    // vitest's asymmetric matchers (`expect.any`, `objectContaining`) are typed `any`, and
    // tests and benchmarks pull hooks out of the objects they are handed (Hive's plugin API).
    files: ['**/*.test.ts', 'test/**', '**/__fixtures__/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  prettier,
);
