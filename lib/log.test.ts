import { describe, expect, it } from 'vitest';
import { captureLog } from './__fixtures__/log.js';

describe('logs', () => {
  it('never carry passwords, tokens or signatures, however they are nested', () => {
    const { log, lines } = captureLog();
    log.info({ password: 'hunter2-secret' }, 'flat');
    log.info(
      {
        input: {
          password: 'hunter2-secret',
          currentPassword: 'old-secret',
          newPassword: 'new-secret',
        },
      },
      'nested',
    );
    log.info({ args: { refreshToken: 'rt-secret', accessToken: 'at-secret' } }, 'tokens');
    log.info(
      {
        req: { headers: { authorization: 'Bearer at-secret', 'x-router-signature': 'sig-secret' } },
      },
      'headers',
    );
    log.info({ variables: { input: { password: 'hunter2-secret' } } }, 'variables');
    const text = lines.join('');
    expect(lines).toHaveLength(5);
    for (const secret of [
      'hunter2-secret',
      'old-secret',
      'new-secret',
      'rt-secret',
      'at-secret',
      'sig-secret',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });
});

/** An error shaped as a driver's: statement values in `params`/`parameters`/`detail`. */
function dbError(message: string, fields: Record<string, unknown>, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? {} : { cause }), fields);
}

describe('errors in logs', () => {
  it('lose the values of statements along their whole cause chain, and keep the rest', () => {
    const { log, lines } = captureLog();
    const driver = dbError('duplicate key value violates unique constraint "users_email_key"', {
      code: '23505',
      constraint_name: 'users_email_key',
      detail: 'Key (email)=(secret-email@example.com) already exists.',
      parameters: ['secret-hash'],
    });
    const drizzle = dbError(
      'Failed query: insert into "users" ("email") values ($1)\nparams: secret-email@example.com,\nsecret-hash',
      { query: 'insert into "users" ("email") values ($1)', params: ['secret-hash'] },
      driver,
    );
    const wrapper = new Error('register failed', { cause: drizzle });
    log.error({ err: wrapper }, 'unexpected error');
    log.error({ err: new AggregateError([drizzle], 'several failed') }, 'aggregate');

    const text = lines.join('');
    expect(text).not.toContain('secret-');
    const [first, second] = lines.map(
      line => JSON.parse(line) as { err: { stack: string; aggregateErrors?: unknown[] } },
    );
    expect(first!.err).toMatchObject({
      type: 'Error',
      message: 'register failed',
      cause: {
        message: 'Failed query: insert into "users" ("email") values ($1)\nparams: [redacted]',
        query: 'insert into "users" ("email") values ($1)',
        params: '[redacted]',
        cause: {
          code: '23505',
          constraint_name: 'users_email_key',
          detail: '[redacted]',
          parameters: '[redacted]',
        },
      },
    });
    expect(first!.err.stack).toContain('register failed');
    expect(second!.err.aggregateErrors?.[0]).toMatchObject({ params: '[redacted]' });
    // The error itself is left as it was: code that handles it still reads its fields.
    expect(drizzle).toMatchObject({ params: ['secret-hash'] });
    expect(driver).toMatchObject({ detail: expect.stringContaining('secret-email') });
  });

  it('of classes with getters only, as DOMException, are logged as they are', () => {
    const { log, lines } = captureLog();
    const aborted = new DOMException('This operation was aborted', 'AbortError');
    log.error({ err: new Error('fetch failed', { cause: aborted }) }, 'aborted');
    log.error({ err: aborted }, 'bare');
    expect(lines.map(line => JSON.parse(line) as unknown)).toMatchObject([
      { err: { message: 'fetch failed', cause: { name: 'AbortError', type: 'DOMException' } } },
      { err: { message: 'This operation was aborted', name: 'AbortError' } },
    ]);
  });

  it('survive a cause chain that loops, and values that are no error', () => {
    const { log, lines } = captureLog();
    const a = dbError('a', { params: ['secret-a'] });
    const b = dbError('b', { params: ['secret-b'] }, a);
    (a as { cause?: unknown }).cause = b;
    log.error({ err: a }, 'loop');
    log.error({ err: 'just a string' }, 'not an error');
    expect(lines).toHaveLength(2);
    expect(lines.join('')).not.toContain('secret-');
    expect(JSON.parse(lines[1]!)).toMatchObject({ err: 'just a string' });
  });
});
