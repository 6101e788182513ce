import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { AUTH_FIELDS, errorOf, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe } from '../support/ws.js';

/*
 * EMAIL_VERIFICATION=required through the router, over HTTP and graphql-ws, with mail in the
 * `.eml` mode (no SMTP_URL): each message a file under DATA_DIR/mail, one log line naming it.
 */

let sg: TestSupergraph;
let dataDir: string;
const logLines: string[] = [];
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'email-required-'));
  const logs = new PassThrough();
  let pending = '';
  logs.on('data', (chunk: Buffer) => {
    const parts = (pending + chunk.toString('utf8')).split('\n');
    pending = parts.pop() ?? '';
    logLines.push(...parts);
  });
  sg = await startTestSupergraph({
    env: { EMAIL_VERIFICATION: 'required', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
    logDestination: logs,
  });
}, 120_000);
afterAll(async () => {
  await sg?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const mailFolder = () => join(dataDir, 'mail');

/** The parsed `.eml` files to `address`, once there are `count`, oldest first (by log order). */
async function emlTo(address: string, count = 1) {
  return waitFor(
    async () => {
      const names = await readdir(mailFolder()).catch(() => [] as string[]);
      const mails = [];
      for (const name of names) {
        const parsed = await simpleParser(await readFile(join(mailFolder(), name)));
        const to = Array.isArray(parsed.to) ? parsed.to : parsed.to ? [parsed.to] : [];
        if (to.some(t => t.value.some(v => v.address === address)))
          mails.push({ name, parsed, at: parsed.date?.getTime() ?? 0 });
      }
      return mails.length >= count && mails.sort((a, b) => a.at - b.at);
    },
    { message: `${count} .eml file(s) to ${address}` },
  );
}
const codeOf = (text: string | undefined) => /\b(\d{6})\b/.exec(text ?? '')?.[1];

const CREATE = 'mutation { createTask(input: { title: "needs a verified address" }) { id title } }';
const VERIFY = 'mutation ($c: String!) { verifyEmail(code: $c) { id emailVerified } }';
const REFRESH = `mutation ($t: String!) { refreshToken(refreshToken: $t) { ${AUTH_FIELDS} } }`;
const NOTIFICATIONS = 'subscription { notificationReceived { id } }';

const reasonOf = (res: { errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> }) =>
  res.errors?.[0]?.extensions?.reason;

async function refreshed(user: TestUser): Promise<TestUser> {
  const res = await sg.gql<{ refreshToken: { accessToken: string; refreshToken: string } }>(
    REFRESH,
    { variables: { t: user.refreshToken } },
  );
  expect(res.errors).toBeUndefined();
  return { ...user, ...res.data!.refreshToken };
}

describe('.eml mode (no SMTP_URL)', () => {
  it('writes each message as a file under DATA_DIR/mail, named by one log line without the code', async () => {
    const user = await registerUser(sg, 'eml');
    const [mail] = await emlTo(user.email);
    const code = codeOf(mail!.parsed.text);
    expect(code).toMatch(/^\d{6}$/);
    expect(mail!.parsed.html || '').toContain(code);
    const file = join(mailFolder(), mail!.name);
    const naming = logLines.filter(line => line.includes(file));
    expect(naming).toHaveLength(1);
    expect((JSON.parse(naming[0]!) as { msg: string }).msg).toContain('mail written');
    expect(logLines.some(line => line.includes(code!))).toBe(false);
  });
});

describe('EMAIL_VERIFICATION=required', () => {
  it('an unverified account may use the allow-listed fields only, until it verifies and refreshes', async () => {
    let user = await registerUser(sg, 'req');
    const token = user.accessToken;

    // Refused, with the reason, over HTTP.
    const refused = await sg.gql(CREATE, { token });
    expect(errorOf(refused)?.code).toBe('FORBIDDEN');
    expect(reasonOf(refused)).toBe('EMAIL_NOT_VERIFIED');
    const listing = await sg.gql('{ tasks(first: 1) { edges { node { id } } } }', { token });
    expect(reasonOf(listing)).toBe('EMAIL_NOT_VERIFIED');
    // A forbidden field hidden in a fragment beside an allowed one is refused too.
    const hidden = await sg.gql(
      'query { me { id } ...F } fragment F on Query { unreadNotificationCount }',
      { token },
    );
    expect(reasonOf(hidden)).toBe('EMAIL_NOT_VERIFIED');
    expect(hidden.data ?? null).toBeNull();

    // Allowed: me, updateProfile, requestEmailVerification (throttled, but not refused).
    const me = await sg.gql<{ me: { emailVerified: boolean } }>('{ me { emailVerified } }', {
      token,
    });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me.emailVerified).toBe(false);
    const profile = await sg.gql(
      'mutation { updateProfile(input: { displayName: "Still unverified" }) { id } }',
      { token },
    );
    expect(profile.errors).toBeUndefined();
    const resend = await sg.gql('mutation { requestEmailVerification }', { token });
    expect(reasonOf(resend)).toBeUndefined();

    // Refused over graphql-ws too, subscriptions and mutations alike.
    const socket = openSocket(sg.url, token);
    try {
      const sub = subscribe(socket, NOTIFICATIONS);
      await waitFor(() => sub.done || sub.received.length > 0, { message: 'the refusal' });
      const errors = (sub.received[0]?.errors ??
        (sub.error as (typeof sub.received)[0]['errors'])) as
        Array<{ extensions?: Record<string, unknown> }> | undefined;
      expect(errors?.[0]?.extensions?.reason).toBe('EMAIL_NOT_VERIFIED');
      const viaWs = subscribe(socket, CREATE);
      await waitFor(() => viaWs.done && viaWs.received.length + (viaWs.error ? 1 : 0) > 0, {
        message: 'the mutation over graphql-ws',
      });
      const wsErrors = (viaWs.received[0]?.errors ?? viaWs.error) as
        Array<{ extensions?: Record<string, unknown> }> | undefined;
      expect(wsErrors?.[0]?.extensions?.reason).toBe('EMAIL_NOT_VERIFIED');
    } finally {
      await socket.dispose();
    }

    // Verify (allowed), then refresh: the new token says verified, and everything works.
    const [mail] = await emlTo(user.email);
    const verified = await sg.gql<{ verifyEmail: { emailVerified: boolean } }>(VERIFY, {
      token,
      variables: { c: codeOf(mail!.parsed.text) },
    });
    expect(verified.errors).toBeUndefined();
    expect(verified.data!.verifyEmail.emailVerified).toBe(true);
    // The old access token still says unverified.
    expect(reasonOf(await sg.gql(CREATE, { token }))).toBe('EMAIL_NOT_VERIFIED');
    user = await refreshed(user);
    const created = await sg.gql<{ createTask: { id: string } }>(CREATE, {
      token: user.accessToken,
    });
    expect(created.errors).toBeUndefined();
    expect(created.data!.createTask.id).toBeTruthy();

    const after = openSocket(sg.url, user.accessToken);
    try {
      const sub = subscribe(after, NOTIFICATIONS);
      const viaWs = subscribe(after, CREATE);
      await waitFor(() => viaWs.done, { message: 'the mutation over graphql-ws' });
      expect(viaWs.error).toBeUndefined();
      expect(viaWs.received[0]?.errors).toBeUndefined();
      expect(sub.done).toBe(false);
      sub.stop();
    } finally {
      await after.dispose();
    }
  });

  it('login works unverified, and its token says unverified', async () => {
    const user = await registerUser(sg, 'login');
    const login = await sg.gql<{ login: { accessToken: string } }>(
      `mutation ($l: String!, $p: String!) { login(input: { login: $l, password: $p }) { accessToken } }`,
      { variables: { l: user.username, p: user.password } },
    );
    expect(login.errors).toBeUndefined();
    const res = await sg.gql(CREATE, { token: login.data!.login.accessToken });
    expect(reasonOf(res)).toBe('EMAIL_NOT_VERIFIED');
  });
});
