import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, envSchema, loadConfig } from './config.js';

describe('config', () => {
  it('runs on defaults in development, generating the secrets it lacks', () => {
    const config = loadConfig({});
    expect(config.ports).toEqual({ router: 4000, users: 4001, tasks: 4002, notifications: 4003 });
    expect(config.databaseUrls.users).toBeUndefined();
    expect(config.amqpUrl).toBeUndefined();
    expect(config.generatedSecrets).toEqual(['JWT_SECRET', 'ROUTER_SECRET']);
    expect(config.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(config.subgraphUrls.tasks).toBe('http://localhost:4002/graphql');
  });

  it('refuses to start in production without secrets, naming them', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET must be set/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'j'.repeat(32) })).toThrow(
      /ROUTER_SECRET must be set/,
    );
  });

  it('lists every invalid variable at once', () => {
    try {
      loadConfig({ ROUTER_PORT: 'abc', JWT_SECRET: 'short', AMQP_URL: 'not a url' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/ROUTER_PORT/);
      expect(message).toMatch(/JWT_SECRET/);
      expect(message).toMatch(/AMQP_URL/);
    }
  });

  it('treats an empty URL as unset', () => {
    expect(loadConfig({ USERS_DATABASE_URL: '', AMQP_URL: '' }).amqpUrl).toBeUndefined();
  });

  it('documents every variable it reads in README.md and .env.example', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    for (const name of Object.keys(envSchema.shape)) {
      expect(readme, `README.md documents ${name}`).toContain(`\`${name}\``);
      expect(example, `.env.example lists ${name}`).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    }
  });
});
