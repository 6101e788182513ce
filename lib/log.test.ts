import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';

describe('logs', () => {
  it('never carry passwords, tokens or signatures, however they are nested', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: 'trace', destination });
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
