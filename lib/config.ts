import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** The services of the supergraph, in start order. */
export const SUBGRAPHS = ['users', 'tasks', 'notifications'] as const;
export type SubgraphName = (typeof SUBGRAPHS)[number];
export type Role = SubgraphName | 'router';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const optionalUrl = z
  .string()
  .trim()
  .transform(v => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();
const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Every environment variable the code reads, with its default. README's table and
 * `.env.example` list exactly these; `test/config.test.ts` keeps them in step.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('0.0.0.0'),
  ROUTER_PORT: port(4000),
  USERS_PORT: port(4001),
  TASKS_PORT: port(4002),
  NOTIFICATIONS_PORT: port(4003),
  /** Where the router reaches each subgraph; defaults to localhost and the port above. */
  USERS_URL: optionalUrl,
  TASKS_URL: optionalUrl,
  NOTIFICATIONS_URL: optionalUrl,
  /** postgres:// URL per subgraph; unset means embedded PGlite under DATA_DIR. */
  USERS_DATABASE_URL: optionalUrl,
  TASKS_DATABASE_URL: optionalUrl,
  NOTIFICATIONS_DATABASE_URL: optionalUrl,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  DATA_DIR: z.string().default('.data'),
  /** amqp:// URL of RabbitMQ; unset means the in-process bus (one-process mode only). */
  AMQP_URL: optionalUrl,
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters').optional(),
  JWT_ISSUER: z.string().min(1).default('supergraph'),
  JWT_AUDIENCE: z.string().min(1).default('supergraph'),
  ACCESS_TOKEN_TTL: seconds(15 * 60),
  REFRESH_TOKEN_TTL: seconds(30 * 24 * 60 * 60),
  ROUTER_SECRET: z.string().min(32, 'ROUTER_SECRET must be at least 32 characters').optional(),
  /** Largest accepted HTTP request body, in bytes. */
  BODY_LIMIT: z.coerce.number().int().positive().default(1_000_000),
  /** How long the router waits for a subgraph, in milliseconds. */
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Operation limits at the router (graphql-armor). */
  MAX_DEPTH: z.coerce.number().int().positive().default(12),
  MAX_ALIASES: z.coerce.number().int().positive().default(15),
  MAX_TOKENS: z.coerce.number().int().positive().default(2_000),
  MAX_DIRECTIVES: z.coerce.number().int().positive().default(50),
  MAX_COST: z.coerce.number().int().positive().default(50_000),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  production: boolean;
  logLevel: Env['LOG_LEVEL'];
  host: string;
  ports: Record<Role, number>;
  subgraphUrls: Record<SubgraphName, string>;
  databaseUrls: Record<SubgraphName, string | undefined>;
  databasePoolSize: number;
  dataDir: string;
  amqpUrl: string | undefined;
  jwt: {
    secret: string;
    issuer: string;
    audience: string;
    accessTokenTtl: number;
    refreshTokenTtl: number;
  };
  routerSecret: string;
  bodyLimit: number;
  subgraphTimeoutMs: number;
  limits: OperationLimits;
  /** Secrets generated for this run because none were set (development only). */
  generatedSecrets: string[];
}

/** What one operation may ask of the router; anything beyond is refused before planning. */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  maxCost: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The one config loader. Fails fast with every problem listed; in production a
 * missing secret is an error, in development a random one is generated for this run.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(i => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`Invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const generatedSecrets: string[] = [];
  const secret = (name: 'JWT_SECRET' | 'ROUTER_SECRET'): string => {
    const value = e[name];
    if (value) return value;
    if (production) throw new ConfigError(`${name} must be set when NODE_ENV=production`);
    generatedSecrets.push(name);
    return randomBytes(32).toString('base64url');
  };
  const ports = {
    router: e.ROUTER_PORT,
    users: e.USERS_PORT,
    tasks: e.TASKS_PORT,
    notifications: e.NOTIFICATIONS_PORT,
  };
  return {
    env: e.NODE_ENV,
    production,
    logLevel: e.LOG_LEVEL,
    host: e.HOST,
    ports,
    subgraphUrls: {
      users: e.USERS_URL ?? `http://localhost:${ports.users}/graphql`,
      tasks: e.TASKS_URL ?? `http://localhost:${ports.tasks}/graphql`,
      notifications: e.NOTIFICATIONS_URL ?? `http://localhost:${ports.notifications}/graphql`,
    },
    databaseUrls: {
      users: e.USERS_DATABASE_URL,
      tasks: e.TASKS_DATABASE_URL,
      notifications: e.NOTIFICATIONS_DATABASE_URL,
    },
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: e.DATA_DIR,
    amqpUrl: e.AMQP_URL,
    jwt: {
      secret: secret('JWT_SECRET'),
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTokenTtl: e.ACCESS_TOKEN_TTL,
      refreshTokenTtl: e.REFRESH_TOKEN_TTL,
    },
    routerSecret: secret('ROUTER_SECRET'),
    bodyLimit: e.BODY_LIMIT,
    subgraphTimeoutMs: e.SUBGRAPH_TIMEOUT_MS,
    limits: {
      maxDepth: e.MAX_DEPTH,
      maxAliases: e.MAX_ALIASES,
      maxTokens: e.MAX_TOKENS,
      maxDirectives: e.MAX_DIRECTIVES,
      maxCost: e.MAX_COST,
    },
    generatedSecrets,
  };
}
