import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./subgraphs/tasks/src/db/schema.ts'],
  out: './subgraphs/tasks/drizzle',
});
