import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_CORS_ORIGINS } from '#lib/config.js';
import { originAllowed } from './cors.js';

describe('originAllowed', () => {
  const allowed = DEVELOPMENT_CORS_ORIGINS;

  it('allows a local dev server on any port and Apollo Studio', () => {
    for (const origin of [
      'http://localhost:5173',
      'http://localhost',
      'http://127.0.0.1:4000',
      'http://[::1]:3000',
      'https://studio.apollographql.com',
      'http://LOCALHOST:8080',
    ]) {
      expect(originAllowed(allowed, origin), origin).toBe(true);
    }
  });

  it('compares whole origins: look-alike hosts, other schemes, paths and garbage are refused', () => {
    for (const origin of [
      'http://localhost.evil.com',
      'http://localhost.evil.com:5173',
      'http://evil.localhost:5173',
      'https://localhost:5173',
      'https://studio.apollographql.com.evil.com',
      'http://studio.apollographql.com',
      'http://localhost:5173/',
      'http://localhost:5173/path',
      'http://evil.com#http://localhost:1',
      'http://localhost:99999999',
      'null',
      '',
      'http://local\u0000host:1',
      `http://localhost:${'1'.repeat(10_000)}`,
      'x'.repeat(100_000),
    ]) {
      expect(originAllowed(allowed, origin), origin.slice(0, 60)).toBe(false);
    }
  });

  it('takes an exact entry as it is, its port included', () => {
    const exact = ['https://app.example.com:8443'];
    expect(originAllowed(exact, 'https://app.example.com:8443')).toBe(true);
    expect(originAllowed(exact, 'https://app.example.com')).toBe(false);
    expect(originAllowed(exact, 'https://app.example.com:8444')).toBe(false);
    expect(originAllowed([], 'http://localhost:5173')).toBe(false);
  });
});
