import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./subgraphs/notifications/src/db/schema.ts'],
  out: './subgraphs/notifications/drizzle',
});
