import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEVELOPMENT_CORS_ORIGINS,
  envSchema,
  loadConfig,
  loadTelemetryConfig,
} from './config.js';

/** Two subgraphs, as subgraphs/index.ts would name them. */
const subgraphs = [
  { name: 'users', port: 4001 },
  { name: 'task-lists', port: 4002 },
];

describe('config', () => {
  it('runs on defaults in development, generating the secrets it lacks', () => {
    const config = loadConfig({}, subgraphs);
    expect(config.routerPort).toBe(4000);
    expect(config.subgraphs).toEqual({
      users: { port: 4001, url: 'http://localhost:4001/graphql', databaseUrl: undefined },
      'task-lists': { port: 4002, url: 'http://localhost:4002/graphql', databaseUrl: undefined },
    });
    expect(config.amqpUrl).toBeUndefined();
    expect(config.generatedSecrets).toEqual(['JWT_SECRET', 'ROUTER_SECRET']);
    expect(config.jwt.secret.length).toBeGreaterThanOrEqual(32);
  });

  it("reads each subgraph's own variables under its name's prefix", () => {
    const config = loadConfig(
      {
        TASK_LISTS_PORT: '5002',
        USERS_URL: 'http://users.internal:80/graphql',
        USERS_DATABASE_URL: 'postgres://db/users',
      },
      subgraphs,
    );
    expect(config.subgraphs).toEqual({
      users: {
        port: 4001,
        url: 'http://users.internal:80/graphql',
        databaseUrl: 'postgres://db/users',
      },
      'task-lists': { port: 5002, url: 'http://localhost:5002/graphql', databaseUrl: undefined },
    });
  });

  it('refuses to start in production without secrets, naming them', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET must be set/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'j'.repeat(32) })).toThrow(
      /ROUTER_SECRET must be set/,
    );
  });

  it('lists every invalid variable at once', () => {
    try {
      loadConfig(
        {
          ROUTER_PORT: 'abc',
          JWT_SECRET: 'short',
          AMQP_URL: 'not a url',
          TASK_LISTS_PORT: '70000',
          USERS_DATABASE_URL: 'nope',
        },
        subgraphs,
      );
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/ROUTER_PORT/);
      expect(message).toMatch(/JWT_SECRET/);
      expect(message).toMatch(/AMQP_URL/);
      expect(message).toMatch(/TASK_LISTS_PORT/);
      expect(message).toMatch(/USERS_DATABASE_URL/);
    }
  });

  it('lists the variables of every subgraph it is told of, and only those', () => {
    const names = Object.keys(envSchema(subgraphs).shape);
    expect(names).toEqual(
      expect.arrayContaining(['ROUTER_PORT', 'USERS_PORT', 'USERS_URL', 'TASK_LISTS_DATABASE_URL']),
    );
    expect(names.filter(n => n.startsWith('NOTIFICATIONS_'))).toEqual([]);
  });

  it('allows browser origins (CORS_ORIGINS): local dev servers and Apollo Studio in development, none in production until set', () => {
    expect(loadConfig({}).corsOrigins).toEqual(DEVELOPMENT_CORS_ORIGINS);
    const secrets = { JWT_SECRET: 'j'.repeat(32), ROUTER_SECRET: 'r'.repeat(32) };
    expect(loadConfig({ NODE_ENV: 'production', ...secrets }).corsOrigins).toEqual([]);
    expect(
      loadConfig({
        NODE_ENV: 'production',
        ...secrets,
        CORS_ORIGINS: ' https://app.example.com, http://localhost:* ,',
      }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:*']);
    expect(loadConfig({ CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
  });

  it('refuses a CORS_ORIGINS entry that is not an origin, naming it', () => {
    for (const bad of [
      '*',
      'app.example.com',
      'https://app.example.com/',
      'ftp://x',
      'http://a:*:*',
      'https://a b',
      'http://x\u0000y',
    ]) {
      expect(() => loadConfig({ CORS_ORIGINS: `https://ok.example.com,${bad}` }), bad).toThrow(
        /CORS_ORIGINS: .* is not an origin/,
      );
    }
  });

  it('treats an empty URL as unset', () => {
    const config = loadConfig({ USERS_DATABASE_URL: '', AMQP_URL: '' }, subgraphs);
    expect(config.amqpUrl).toBeUndefined();
    expect(config.subgraphs.users?.databaseUrl).toBeUndefined();
  });
});

describe('telemetry config (OTEL_*)', () => {
  it('starts no SDK without an endpoint, or when disabled', () => {
    expect(loadTelemetryConfig({})).toBeUndefined();
    expect(loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBeUndefined();
    expect(loadTelemetryConfig({ OTEL_SERVICE_NAME: 'router' })).toBeUndefined();
    expect(
      loadTelemetryConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_SDK_DISABLED: 'true',
      }),
    ).toBeUndefined();
  });

  it('posts to /v1/traces under the endpoint, in http/protobuf unless told http/json', () => {
    expect(loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318/' })).toEqual({
      tracesUrl: 'http://jaeger:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: undefined,
    });
    expect(
      loadTelemetryConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'edge',
      }),
    ).toEqual({
      tracesUrl: 'https://collector.example/traces',
      protocol: 'http/json',
      serviceName: 'edge',
    });
  });

  const hostile: [string, Record<string, string>][] = [
    ['a non-URL endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' }],
    ['an endpoint of another scheme', { OTEL_EXPORTER_OTLP_ENDPOINT: 'file:///etc/passwd' }],
    ['a traces endpoint of another scheme', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/y' }],
    ['gRPC, which is not served', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }],
    ['an unknown sampler', { OTEL_TRACES_SAMPLER: 'sometimes' }],
    ['a ratio above 1', { OTEL_TRACES_SAMPLER_ARG: '1.5' }],
    ['a negative ratio', { OTEL_TRACES_SAMPLER_ARG: '-0.1' }],
    ['a ratio that is no number', { OTEL_TRACES_SAMPLER_ARG: 'ten percent' }],
    ['a huge ratio string', { OTEL_TRACES_SAMPLER_ARG: '0.'.padEnd(10_000, '1') }],
    ['a service name with a NUL byte', { OTEL_SERVICE_NAME: 'router\u0000evil' }],
    ['a service name with a newline', { OTEL_SERVICE_NAME: 'router\nlevel=error' }],
    ['a huge service name', { OTEL_SERVICE_NAME: 'x'.repeat(10_000) }],
    ['a disabled flag that is neither', { OTEL_SDK_DISABLED: 'yes' }],
  ];
  it.each(hostile)('refuses %s at start, naming the variable', (_what, env) => {
    const run = () =>
      loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', ...env });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(Object.keys(env)[0]!);
  });

  it('takes every ratio from 0 to 1', () => {
    for (const ratio of ['0', '0.1', '.25', '1', '1.0', '1e-3'])
      expect(
        loadTelemetryConfig({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: ratio,
        }),
        ratio,
      ).toBeDefined();
  });
});
