import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./subgraphs/users/src/db/schema.ts'],
  out: './subgraphs/users/drizzle',
});
