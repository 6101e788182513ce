import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '#lib/events/envelope.js';
import { registry } from '#lib/metrics.js';
import {
  CODE_TTL_MS,
  MAX_CODE_FAILURES,
  RESEND_INTERVAL_MS,
} from '../../subgraphs/users/src/codes.js';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { errorOf, freshUsername, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/*
 * Email (issue 15) through the router, against a real SMTP server on a proxy the tests cut:
 * verification codes, password reset, notification emails, and a mail outbox that loses
 * nothing and sends nothing twice.
 */

let smtp: TestSmtpServer;
let proxy: TcpProxy;
let sg: TestSupergraph;
let sql: postgres.Sql;
beforeAll(async () => {
  smtp = await startSmtpServer();
  proxy = new TcpProxy('127.0.0.1', smtp.port);
  await proxy.start();
  sg = await startTestSupergraph({
    env: {
      SMTP_URL: `smtp://127.0.0.1:${proxy.port}`,
      MAIL_FROM: 'Tests <tests@example.com>',
      // The burst below registers several users at once.
      MAX_QUEUED_PASSWORD_HASHES: '30',
      REQUEST_TIMEOUT_MS: '10000',
    },
  });
  sql = postgres(sg.databaseUrls.users, { max: 2, onnotice: () => {} });
}, 120_000);
afterAll(async () => {
  await sql?.end();
  await sg?.stop();
  await proxy?.stop();
  await smtp?.stop();
});

/** The mails received for `address` once there are `count` of them. */
const mailsTo = (address: string, count = 1) =>
  waitFor(() => smtp.to(address).length >= count && smtp.to(address), {
    message: `${count} mail(s) to ${address}`,
  });
const lastCode = async (address: string, count = 1) =>
  codeIn((await mailsTo(address, count))[count - 1]!);

const VERIFY = 'mutation ($c: String!) { verifyEmail(code: $c) { id email emailVerified } }';
const RESEND = 'mutation { requestEmailVerification }';
const ME = '{ me { id email emailVerified notificationSettings { emailKinds } } }';
const verify = (user: TestUser, code: unknown) =>
  sg.gql<{ verifyEmail: { emailVerified: boolean } }>(VERIFY, {
    token: user.accessToken,
    variables: { c: code },
  });
/** Lets the user ask for a new code now (the resend throttle's window put behind them). */
const pastThrottle = (user: TestUser) =>
  sql`update email_codes set sent_at = now() - ${`${RESEND_INTERVAL_MS + 1000} milliseconds`}::interval where user_id = ${user.id}`;

async function verifiedUser(prefix: string): Promise<TestUser> {
  const user = await registerUser(sg, prefix);
  const res = await verify(user, await lastCode(user.email));
  expect(res.errors).toBeUndefined();
  return user;
}

describe('verification', () => {
  it('register mails a code in text and HTML; verifyEmail sets emailVerified', async () => {
    const user = await registerUser(sg, 'ver');
    let me = await sg.gql<{ me: { emailVerified: boolean } }>(ME, { token: user.accessToken });
    expect(me.data!.me.emailVerified).toBe(false);
    const [mail] = await mailsTo(user.email);
    expect(mail!.parsed.from?.text).toContain('tests@example.com');
    expect(mail!.html).toContain(codeIn(mail!));
    const res = await verify(user, codeIn(mail!));
    expect(res.errors).toBeUndefined();
    expect(res.data!.verifyEmail.emailVerified).toBe(true);
    me = await sg.gql(ME, { token: user.accessToken });
    expect(me.data!.me.emailVerified).toBe(true);
    // Used up: the same code again is refused.
    expect(errorOf(await verify(user, codeIn(mail!)))?.code).toBe('BAD_USER_INPUT');
  });

  it('stores only a hash of the code', async () => {
    const user = await registerUser(sg, 'hash');
    const code = await lastCode(user.email);
    const rows = await sql`select code_hash from email_codes where user_id = ${user.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.code_hash).not.toContain(code);
    const outbox =
      await sql`select count(*)::int as n from mail_outbox where sent_at is not null and "to" = ${user.email}`;
    expect(outbox[0]!.n).toBe(1);
  });

  it(`a code dies after ${MAX_CODE_FAILURES} wrong tries, even for the right code`, async () => {
    const user = await registerUser(sg, 'wrong');
    const code = await lastCode(user.email);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < MAX_CODE_FAILURES; i++)
      expect(errorOf(await verify(user, wrong))?.code).toBe('BAD_USER_INPUT');
    expect(errorOf(await verify(user, code))?.code).toBe('BAD_USER_INPUT');
    // A fresh code works.
    await pastThrottle(user);
    expect((await sg.gql(RESEND, { token: user.accessToken })).errors).toBeUndefined();
    const res = await verify(user, await lastCode(user.email, 2));
    expect(res.data?.verifyEmail.emailVerified).toBe(true);
  });

  it(`a code expires after ${CODE_TTL_MS / 60_000} minutes`, async () => {
    const user = await registerUser(sg, 'expiry');
    const code = await lastCode(user.email);
    await sql`update email_codes set expires_at = now() - interval '1 second' where user_id = ${user.id}`;
    expect(errorOf(await verify(user, code))?.code).toBe('BAD_USER_INPUT');
  });

  it('resending is throttled with RATE_LIMITED and retryAfter', async () => {
    const user = await registerUser(sg, 'resend');
    await mailsTo(user.email);
    const res = await sg.gql(RESEND, { token: user.accessToken });
    expect(errorOf(res)?.code).toBe('RATE_LIMITED');
    const retryAfter = res.errors![0]!.extensions!.retryAfter as number;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(RESEND_INTERVAL_MS / 1000);
    await pastThrottle(user);
    expect((await sg.gql(RESEND, { token: user.accessToken })).data).toEqual({
      requestEmailVerification: true,
    });
    await mailsTo(user.email, 2);
  });

  it('an email change mails a code to the new address and unverifies until it comes back', async () => {
    const user = await verifiedUser('change');
    const next = `${freshUsername('new')}@example.com`;
    const res = await sg.gql<{ updateProfile: { email: string; emailVerified: boolean } }>(
      'mutation ($e: String!) { updateProfile(input: { email: $e }) { email emailVerified } }',
      { token: user.accessToken, variables: { e: next } },
    );
    expect(res.data!.updateProfile).toEqual({ email: next, emailVerified: false });
    const code = await lastCode(next);
    expect(smtp.to(user.email)).toHaveLength(1);
    expect((await verify(user, code)).data?.verifyEmail.emailVerified).toBe(true);
  });

  it('emailVerified is visible like email: null to another user', async () => {
    const user = await registerUser(sg, 'vis');
    const other = await registerUser(sg, 'vis');
    const res = await sg.gql<{ user: { emailVerified: null; notificationSettings: null } }>(
      'query ($id: ID!) { user(id: $id) { emailVerified notificationSettings { emailKinds } } }',
      { token: other.accessToken, variables: { id: user.id } },
    );
    expect(res.data!.user).toEqual({ emailVerified: null, notificationSettings: null });
  });
});

const RESET_REQUEST = 'mutation ($e: String!) { requestPasswordReset(email: $e) }';
const RESET =
  'mutation ($e: String!, $c: String!, $p: String!) { resetPassword(email: $e, code: $c, newPassword: $p) }';

describe('password reset', () => {
  it('an unknown address: the same answer, and no mail', async () => {
    const unknown = `${freshUsername('nobody')}@example.com`;
    const known = await verifiedUser('known');
    expect((await sg.gql(RESET_REQUEST, { variables: { e: unknown } })).data).toEqual({
      requestPasswordReset: true,
    });
    expect((await sg.gql(RESET_REQUEST, { variables: { e: known.email } })).data).toEqual({
      requestPasswordReset: true,
    });
    // The known address's mail came after the unknown's would have (one sender, in order).
    await mailsTo(known.email, 2);
    expect(smtp.to(unknown)).toHaveLength(0);
  });

  it('a known address: code, reset, every old session dead, the old password refused', async () => {
    const user = await verifiedUser('reset');
    expect((await sg.gql(RESET_REQUEST, { variables: { e: user.email } })).errors).toBeUndefined();
    const code = await lastCode(user.email, 2);
    const newPassword = 'a-whole-new-password';
    expect(
      errorOf(
        await sg.gql(RESET, {
          variables: { e: user.email, c: '000000' === code ? '999999' : '000000', p: newPassword },
        }),
      )?.code,
    ).toBe('BAD_USER_INPUT');
    const res = await sg.gql(RESET, { variables: { e: user.email, c: code, p: newPassword } });
    expect(res.data).toEqual({ resetPassword: true });
    // Refresh token dead.
    const refreshed = await sg.gql(
      'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }',
      { variables: { t: user.refreshToken } },
    );
    expect(errorOf(refreshed)?.code).toBe('UNAUTHENTICATED');
    // Access token dead (the revocation reaches the router through the bus).
    await waitFor(
      async () => (await sg.gql('{ me { id } }', { token: user.accessToken })).status === 401,
      {
        message: 'old access token still accepted',
      },
    );
    const login = (password: string) =>
      sg.gql('mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
        variables: { i: { login: user.username, password } },
      });
    expect(errorOf(await login(user.password))?.code).toBe('UNAUTHENTICATED');
    expect((await login(newPassword)).errors).toBeUndefined();
    // The code is used up.
    expect(
      errorOf(await sg.gql(RESET, { variables: { e: user.email, c: code, p: 'another-password' } }))
        ?.code,
    ).toBe('BAD_USER_INPUT');
  });
});

const SETTINGS =
  'mutation ($k: [NotificationKind!]!) { updateNotificationSettings(input: { emailKinds: $k }) { emailKinds } }';

/** A notification.created as the notifications service publishes it. */
const notificationEvent = (userId: string, kind: string, message = 'Ada assigned you "Ship it"') =>
  createEvent(
    'notification.created',
    {
      notification: {
        id: randomUUID(),
        userId,
        kind: kind as 'TASK_ASSIGNED',
        message,
        taskId: randomUUID(),
        actorId: null,
        read: false,
        createdAt: new Date().toISOString(),
      },
    },
    { producer: 'notifications', actorId: null },
  );

describe('notification emails', () => {
  it('only for opted-in kinds and verified addresses; a redelivered event mails once', async () => {
    const opted = await verifiedUser('opted');
    const unverified = await registerUser(sg, 'unver');
    await mailsTo(unverified.email);
    for (const u of [opted, unverified]) {
      const res = await sg.gql<{ updateNotificationSettings: { emailKinds: string[] } }>(SETTINGS, {
        token: u.accessToken,
        variables: { k: ['TASK_ASSIGNED', 'TASK_ASSIGNED', 'TASK_COMPLETED'] },
      });
      expect(res.data!.updateNotificationSettings.emailKinds).toEqual([
        'TASK_ASSIGNED',
        'TASK_COMPLETED',
      ]);
    }
    const me = await sg.gql<{ me: { notificationSettings: { emailKinds: string[] } } }>(ME, {
      token: opted.accessToken,
    });
    expect(me.data!.me.notificationSettings.emailKinds).toEqual([
      'TASK_ASSIGNED',
      'TASK_COMPLETED',
    ]);
    const assigned = notificationEvent(opted.id, 'TASK_ASSIGNED');
    await sg.bus.publish([
      notificationEvent(opted.id, 'TASK_UPDATED', 'not chosen'),
      notificationEvent(unverified.id, 'TASK_ASSIGNED', 'unverified'),
      assigned,
      assigned, // redelivered
    ]);
    const last = notificationEvent(opted.id, 'TASK_COMPLETED', 'Ada completed "Ship it"');
    await sg.bus.publish([last]);
    const mails = await mailsTo(opted.email, 3); // the code, TASK_ASSIGNED, TASK_COMPLETED
    expect(mails.map(m => m.subject)).toEqual([
      'Your verification code',
      'A task was assigned to you',
      'A task was completed',
    ]);
    expect(mails[1]!.text).toContain('Ada assigned you "Ship it"');
    expect(mails[1]!.text).toContain(assigned.data.notification.taskId);
    expect(mails[1]!.html).toContain('Ada assigned you &#34;Ship it&#34;');
    expect(smtp.to(unverified.email)).toHaveLength(1);
    expect(smtp.received.filter(m => m.text.includes('not chosen'))).toHaveLength(0);
  });
});

describe('delivery', () => {
  it('SMTP down during a burst: every message delivered exactly once when it returns', async () => {
    await proxy.stop();
    const users: TestUser[] = [];
    try {
      for (let i = 0; i < 6; i++) users.push(await registerUser(sg, `burst${i}_`));
      // Tried and failed meanwhile (not merely waiting).
      await waitFor(async () => {
        const [row] =
          await sql`select count(*)::int as n from mail_outbox where attempts > 0 and sent_at is null`;
        return row!.n >= 1;
      });
    } finally {
      await proxy.start();
    }
    for (const user of users) await mailsTo(user.email, 1);
    // Everything sent: nothing left that could come a second time.
    await waitFor(
      async () => {
        const [row] =
          await sql`select count(*)::int as n from mail_outbox where sent_at is null and failed_at is null`;
        return row!.n === 0;
      },
      { timeoutMs: 30_000 },
    );
    for (const user of users) expect(smtp.to(user.email)).toHaveLength(1);
    const ids = smtp.received.map(m => m.messageId);
    expect(new Set(ids).size).toBe(ids.length);
  }, 60_000);

  it('a 5xx answer is a permanent failure: recorded, counted in the metrics, not retried', async () => {
    const address = `${freshUsername('bounce')}@example.com`;
    smtp.refuse(address, 550);
    const failedBefore = await failedCount();
    const res = await sg.gql(
      'mutation ($i: RegisterInput!) { register(input: $i) { accessToken } }',
      {
        variables: {
          i: { username: freshUsername('bounce'), email: address, password: 'bounce-password' },
        },
      },
    );
    expect(res.errors).toBeUndefined();
    await waitFor(async () => {
      const [row] = await sql`select failed_at, attempts from mail_outbox where "to" = ${address}`;
      return row?.failed_at != null && row.attempts === 1;
    });
    expect(await failedCount()).toBe(failedBefore + 1);
    expect(smtp.to(address)).toHaveLength(0);
  });
});

async function failedCount(): Promise<number> {
  const metric = await registry.getSingleMetric('mail_messages_total')?.get();
  return metric?.values.find(v => v.labels.outcome === 'failed')?.value ?? 0;
}

describe('hostile inputs', () => {
  const HUGE = 'x'.repeat(100_000);
  const BAD_STRINGS = ['', ' ', HUGE, '\u0000', '12345\u0000', '1234567', '12 456', '١٢٣٤٥٦'];

  it('verifyEmail: bad codes, wrong types, anonymous', async () => {
    const user = await registerUser(sg, 'hostile');
    for (const code of BAD_STRINGS)
      expect(errorOf(await verify(user, code))?.code, JSON.stringify(code.slice(0, 10))).toBe(
        'BAD_USER_INPUT',
      );
    for (const code of [123456, null, ['123456'], { a: 1 }]) {
      const res = await verify(user, code);
      expect(res.errors?.[0]?.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
      expect(res.data?.verifyEmail).toBeFalsy();
    }
    expect(errorOf(await sg.gql(VERIFY, { variables: { c: '123456' } }))?.code).toBe(
      'UNAUTHENTICATED',
    );
    expect(errorOf(await sg.gql(RESEND))?.code).toBe('UNAUTHENTICATED');
  });

  it('requestPasswordReset and resetPassword: bad addresses, codes and passwords', async () => {
    const user = await verifiedUser('hostreset');
    for (const e of BAD_STRINGS)
      expect(errorOf(await sg.gql(RESET_REQUEST, { variables: { e } }))?.code).toBe(
        'BAD_USER_INPUT',
      );
    expect(errorOf(await sg.gql(RESET_REQUEST, { variables: { e: 42 } }))?.code).not.toBe(
      'INTERNAL_SERVER_ERROR',
    );
    for (const e of BAD_STRINGS)
      expect(
        errorOf(await sg.gql(RESET, { variables: { e, c: '123456', p: 'good-password' } }))?.code,
      ).toBe('BAD_USER_INPUT');
    for (const c of BAD_STRINGS)
      expect(
        errorOf(await sg.gql(RESET, { variables: { e: user.email, c, p: 'good-password' } }))?.code,
      ).toBe('BAD_USER_INPUT');
    for (const p of ['', 'short', HUGE, 'pass\u0000word-long'])
      expect(
        errorOf(await sg.gql(RESET, { variables: { e: user.email, c: '123456', p } }))?.code,
      ).toBe('BAD_USER_INPUT');
    // Another account's address with no live code.
    const other = await registerUser(sg, 'hostother');
    expect(
      errorOf(
        await sg.gql(RESET, { variables: { e: other.email, c: '123456', p: 'good-password' } }),
      )?.code,
    ).toBe('BAD_USER_INPUT');
  });

  it('updateNotificationSettings: unknown kinds, wrong types, a huge list, anonymous', async () => {
    const user = await registerUser(sg, 'hostset');
    for (const k of [['NOPE'], ['task_assigned'], 'TASK_ASSIGNED\u0000', [null], 7]) {
      const res = await sg.gql(SETTINGS, { token: user.accessToken, variables: { k } });
      expect(res.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
    }
    const many = await sg.gql<{ updateNotificationSettings: { emailKinds: string[] } }>(SETTINGS, {
      token: user.accessToken,
      variables: { k: Array.from({ length: 10_000 }, () => 'TASK_DELETED') },
    });
    expect(many.data?.updateNotificationSettings.emailKinds ?? errorOf(many)?.code).not.toBe(
      'INTERNAL_SERVER_ERROR',
    );
    expect(errorOf(await sg.gql(SETTINGS, { variables: { k: [] } }))?.code).toBe('UNAUTHENTICATED');
  });
});
