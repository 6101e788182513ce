import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { envSchema } from '#lib/config.js';
import { subgraphs } from '../../subgraphs/index.js';

/** What a user configures is written down: every variable of this deployment, in both places. */
it('documents every variable the code reads in README.md and .env.example', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  for (const name of Object.keys(envSchema(subgraphs).shape)) {
    expect(readme, `README.md documents ${name}`).toContain(`\`${name}\``);
    expect(example, `.env.example lists ${name}`).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  }
});
