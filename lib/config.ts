import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const optionalUrl = z
  .string()
  .trim()
  .transform(v => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** A browser origin, `scheme://host[:port]`, where the port may be `*` (any port). */
const CORS_ORIGIN = /^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(:(\d{1,5}|\*))?$/i;
/** Comma-separated origins; unset stays undefined (the environment's default applies). */
const corsOrigins = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const origins = value
      .split(',')
      .map(entry => entry.trim())
      .filter(Boolean);
    for (const origin of origins) {
      if (!CORS_ORIGIN.test(origin)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${origin.slice(0, 100)}" is not an origin like https://app.example.com or http://localhost:*`,
        });
      }
    }
    return origins;
  });

/**
 * Who may call the API from a browser in development when CORS_ORIGINS is unset: a dev server
 * on this machine (Vite, Next, …) on any port, and Apollo Studio's hosted Sandbox.
 */
export const DEVELOPMENT_CORS_ORIGINS: readonly string[] = [
  'http://localhost:*',
  'http://127.0.0.1:*',
  'http://[::1]:*',
  'https://studio.apollographql.com',
];

/** What the config loader knows of a subgraph: its name and its port when none is set. */
export interface SubgraphSpec {
  readonly name: string;
  readonly port: number;
}

/** The prefix of a subgraph's variables: `users` → `USERS_PORT`, `USERS_URL`, `USERS_DATABASE_URL`. */
export const envPrefix = (name: string): string => name.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** The variables every subgraph has, by suffix of its prefix. */
const subgraphVariables = (defaultPort: number) => ({
  PORT: port(defaultPort),
  /** Where the router reaches it; defaults to localhost and its port. */
  URL: optionalUrl,
  /** postgres:// URL of its database; unset means embedded PGlite under DATA_DIR. */
  DATABASE_URL: optionalUrl,
});

/** The variables of the whole deployment that are not a subgraph's own. */
/**
 * The standard OpenTelemetry variables this deployment documents. The SDK reads them itself
 * (lib/telemetry.ts); they are here so that a typo fails at start and the README, .env.example
 * and docker-compose are held to them like every other variable.
 */
/** An OTLP/HTTP endpoint: http or https, nothing else (the exporter posts to it). */
const otlpUrl = optionalUrl.refine(v => v === undefined || /^https?:\/\//i.test(v), {
  message: 'must be an http:// or https:// URL',
});
const telemetryEnv = z.object({
  OTEL_SDK_DISABLED: z.enum(['true', 'false', '']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl,
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', '']).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.enum(['http/protobuf', 'http/json', '']).optional(),
  OTEL_SERVICE_NAME: z
    .string()
    .max(200)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not hold control characters')
    .optional(),
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
      '',
    ])
    .optional(),
  /** The ratio of the traceidratio samplers: a number from 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .trim()
    .max(50)
    .refine(v => v === '' || (/^\d*\.?\d+(e-?\d+)?$/i.test(v) && Number(v) <= 1), {
      message: 'must be a number from 0 to 1',
    })
    .optional(),
});

/** Whether traces are exported, and how: undefined when no SDK is to start (no cost at all). */
export interface TelemetryConfig {
  /** The OTLP/HTTP URL spans are posted to (`…/v1/traces`). */
  tracesUrl: string;
  protocol: 'http/protobuf' | 'http/json';
  /** OTEL_SERVICE_NAME, when set. */
  serviceName: string | undefined;
}

/**
 * Reads the OTEL_* variables as the OpenTelemetry specification does: no endpoint, or
 * OTEL_SDK_DISABLED=true, means no SDK. Invalid values throw a ConfigError.
 */
export function loadTelemetryConfig(
  source: NodeJS.ProcessEnv = process.env,
): TelemetryConfig | undefined {
  const parsed = telemetryEnv.safeParse(source);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(i => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid environment:\n${issues.join('\n')}`);
  }
  const e = parsed.data;
  if (e.OTEL_SDK_DISABLED === 'true') return undefined;
  const base = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!tracesUrl) return undefined;
  return {
    tracesUrl,
    protocol:
      e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || e.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf',
    serviceName: e.OTEL_SERVICE_NAME || undefined,
  };
}

const commonEnv = telemetryEnv.extend({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('0.0.0.0'),
  ROUTER_PORT: port(4000),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  DATA_DIR: z.string().default('.data'),
  /** amqp:// URL of RabbitMQ; unset means the in-process bus (one-process mode only). */
  AMQP_URL: optionalUrl,
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters').optional(),
  JWT_ISSUER: z.string().min(1).default('supergraph'),
  JWT_AUDIENCE: z.string().min(1).default('supergraph'),
  ACCESS_TOKEN_TTL: positiveInt(15 * 60),
  REFRESH_TOKEN_TTL: positiveInt(30 * 24 * 60 * 60),
  /** Seconds a subgraph remembers a mutation's Idempotency-Key and its answer. */
  IDEMPOTENCY_KEY_TTL: positiveInt(24 * 60 * 60),
  ROUTER_SECRET: z.string().min(32, 'ROUTER_SECRET must be at least 32 characters').optional(),
  /** Largest accepted HTTP request body, in bytes. */
  BODY_LIMIT: positiveInt(1_000_000),
  /** How long the router waits for a subgraph, in milliseconds. */
  SUBGRAPH_TIMEOUT_MS: positiveInt(5_000),
  /** How long a subgraph works on one request before answering SERVICE_UNAVAILABLE. */
  REQUEST_TIMEOUT_MS: positiveInt(3_000),
  /** Connecting to Postgres, and each statement, at most this long (ms). */
  DATABASE_TIMEOUT_MS: positiveInt(2_000),
  /** Operation limits at the router: shape (graphql-armor, graphql-js) and demand control. */
  MAX_DEPTH: positiveInt(12),
  MAX_ALIASES: positiveInt(15),
  MAX_TOKENS: positiveInt(2_000),
  MAX_DIRECTIVES: positiveInt(50),
  MAX_COST: positiveInt(10_000),
  /** The size demand control assumes for a list that has no `@listSize` in the schema. */
  COST_DEFAULT_LIST_SIZE: positiveInt(10),
  /** The backstop: a response that grows past this many bytes is cut off. */
  MAX_RESPONSE_BYTES: positiveInt(5_000_000),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(100),
  /** Across every socket and stream of one viewer. */
  MAX_SUBSCRIPTIONS_PER_VIEWER: positiveInt(200),
  /** Open WebSockets from one client address. */
  MAX_SOCKETS_PER_ADDRESS: positiveInt(50),
  /** scrypt hashes the users service runs at once (each ~32 MiB, ~0.1-0.2 s of a core). */
  // Half the cores (at least one): a flood of logins must leave the rest of the machine a core.
  MAX_CONCURRENT_PASSWORD_HASHES: positiveInt(Math.max(1, Math.floor(availableParallelism() / 2))),
  /** Hashes waiting for a turn; a login beyond them is RATE_LIMITED (`retryAfter`). */
  MAX_QUEUED_PASSWORD_HASHES: positiveInt(4),
  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated addresses, CIDR ranges, or
   * `loopback`, `linklocal`, `uniquelocal`); empty: the socket's own address is the client's.
   */
  TRUSTED_PROXIES: z.string().default(''),
  /**
   * Browser origins allowed to call the router (CORS), comma-separated; a port may be `*`.
   * Unset: DEVELOPMENT_CORS_ORIGINS outside production, none in production. Empty: none.
   */
  CORS_ORIGINS: corsOrigins,
  /**
   * /metrics on a port of its own (on METRICS_HOST) instead of each service's port; and/or a
   * bearer token /metrics asks for. In production one of them is required for /metrics at all.
   */
  METRICS_PORT: port(0),
  METRICS_HOST: z.string().default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(),
  /** smtp:// or smtps:// URL the users service mails through; unset: .eml files under DATA_DIR/mail. */
  SMTP_URL: z
    .string()
    .trim()
    .transform(v => (v === '' ? undefined : v))
    .pipe(z.url({ protocol: /^smtps?$/ }).optional())
    .optional(),
  MAIL_FROM: z.string().trim().min(3).max(320).default('Supergraph <no-reply@localhost>'),
  /** `optional`: unverified accounts work; `required`: they may only sign in, verify, edit their profile and log out. */
  EMAIL_VERIFICATION: z.enum(['optional', 'required']).default('optional'),
});

type CommonEnv = z.infer<typeof commonEnv>;

/**
 * Every environment variable the code reads for a deployment of these subgraphs, with its
 * default. README's table and `.env.example` list exactly these (test/docs/config.docs.test.ts
 * keeps them in step), and `npm run check:compose` holds the compose file to them.
 */
export function envSchema(subgraphs: readonly SubgraphSpec[]) {
  return commonEnv.extend(
    Object.fromEntries(
      subgraphs.flatMap(spec =>
        Object.entries(subgraphVariables(spec.port)).map(([suffix, schema]) => [
          `${envPrefix(spec.name)}_${suffix}`,
          schema,
        ]),
      ),
    ),
  );
}

/** Where one subgraph runs and keeps its data. */
export interface SubgraphConfig {
  port: number;
  /** Its GraphQL endpoint, as the router reaches it. */
  url: string;
  /** postgres:// URL; undefined means embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
}

export interface Config {
  env: CommonEnv['NODE_ENV'];
  production: boolean;
  logLevel: CommonEnv['LOG_LEVEL'];
  host: string;
  routerPort: number;
  /** By subgraph name: every subgraph the loader was told of. */
  subgraphs: Readonly<Record<string, SubgraphConfig>>;
  databasePoolSize: number;
  /** DATABASE_TIMEOUT_MS: connect and statement timeout. */
  databaseTimeoutMs: number;
  /** REQUEST_TIMEOUT_MS: a subgraph's deadline for one request. */
  requestTimeoutMs: number;
  /** IDEMPOTENCY_KEY_TTL, in seconds: how long a mutation's key and answer are kept. */
  idempotencyKeyTtl: number;
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
  /** `TRUSTED_PROXIES`, as a list. */
  trustedProxies: string[];
  /** MAX_CONCURRENT_PASSWORD_HASHES, MAX_QUEUED_PASSWORD_HASHES (users service). */
  passwordHashing: { concurrency: number; queue: number };
  /** `CORS_ORIGINS`, or the environment's default: which browser origins may call the router. */
  corsOrigins: readonly string[];
  metrics: {
    /** 0: no port of its own (served on each service's port, where allowed). */
    port: number;
    host: string;
    token: string | undefined;
  };
  /** SMTP_URL, MAIL_FROM, EMAIL_VERIFICATION (users service). */
  mail: {
    smtpUrl: string | undefined;
    from: string;
    verification: 'optional' | 'required';
  };
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
  costDefaultListSize: number;
  maxResponseBytes: number;
  maxSubscriptionsPerConnection: number;
  maxSubscriptionsPerViewer: number;
  maxSocketsPerAddress: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The one config loader, for a deployment of `subgraphs` (the descriptors in subgraphs/index.ts;
 * the router learns them from the supergraph). Fails fast with every problem listed; in
 * production a missing secret is an error, in development a random one is generated for this run.
 */
export function loadConfig(
  source: NodeJS.ProcessEnv = process.env,
  subgraphs: readonly SubgraphSpec[] = [],
): Config {
  const issues: string[] = [];
  const report = (error: z.ZodError, name: (key: string) => string) => {
    for (const i of error.issues)
      issues.push(`  ${name(i.path.join('.')) || '(env)'}: ${i.message}`);
  };
  const parsed = commonEnv.safeParse(source);
  if (!parsed.success) report(parsed.error, key => key);
  const own = subgraphs.map(spec => {
    const prefix = envPrefix(spec.name);
    const vars = z.object(subgraphVariables(spec.port)).safeParse({
      PORT: source[`${prefix}_PORT`],
      URL: source[`${prefix}_URL`],
      DATABASE_URL: source[`${prefix}_DATABASE_URL`],
    });
    if (!vars.success) report(vars.error, key => `${prefix}_${key}`);
    return { name: spec.name, vars: vars.data };
  });
  if (!parsed.success || issues.length > 0) {
    throw new ConfigError(`Invalid environment:\n${issues.join('\n')}`);
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
  const subgraphConfigs: Record<string, SubgraphConfig> = {};
  for (const { name, vars } of own) {
    if (!vars) continue;
    subgraphConfigs[name] = {
      port: vars.PORT,
      url: vars.URL ?? `http://localhost:${vars.PORT}/graphql`,
      databaseUrl: vars.DATABASE_URL,
    };
  }
  return {
    env: e.NODE_ENV,
    production,
    logLevel: e.LOG_LEVEL,
    host: e.HOST,
    routerPort: e.ROUTER_PORT,
    subgraphs: subgraphConfigs,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    idempotencyKeyTtl: e.IDEMPOTENCY_KEY_TTL,
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
      costDefaultListSize: e.COST_DEFAULT_LIST_SIZE,
      maxResponseBytes: e.MAX_RESPONSE_BYTES,
      maxSubscriptionsPerConnection: e.MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxSubscriptionsPerViewer: e.MAX_SUBSCRIPTIONS_PER_VIEWER,
      maxSocketsPerAddress: e.MAX_SOCKETS_PER_ADDRESS,
    },
    trustedProxies: e.TRUSTED_PROXIES.split(',')
      .map(entry => entry.trim())
      .filter(Boolean),
    passwordHashing: {
      concurrency: e.MAX_CONCURRENT_PASSWORD_HASHES,
      queue: e.MAX_QUEUED_PASSWORD_HASHES,
    },
    corsOrigins: e.CORS_ORIGINS ?? (production ? [] : DEVELOPMENT_CORS_ORIGINS),
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST, token: e.METRICS_TOKEN },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, verification: e.EMAIL_VERIFICATION },
    generatedSecrets,
  };
}
