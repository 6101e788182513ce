import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';

/**
 * Logins that cannot be turned against the service or a victim (README, "Limits"), through
 * the router. The router runs behind a trusted proxy on loopback, so X-Forwarded-For says
 * which client address each login comes from.
 */

let sg: TestSupergraph;
beforeAll(async () => {
  sg = await startTestSupergraph({
    env: {
      TRUSTED_PROXIES: '127.0.0.1',
      MAX_CONCURRENT_PASSWORD_HASHES: '2',
      MAX_QUEUED_PASSWORD_HASHES: '4',
      // A shared machine's scrypt may take a second: a turn may then wait 3 s, not 1.5.
      REQUEST_TIMEOUT_MS: '6000',
      SUBGRAPH_TIMEOUT_MS: '8000',
    },
  });
});
afterAll(async () => {
  await sg?.stop();
});

const LOGIN = 'mutation ($i: LoginInput!) { login(input: $i) { accessToken } }';
const login = (from: string, name: string, password: string) =>
  sg.gql<{ login: { accessToken: string } }>(LOGIN, {
    variables: { i: { login: name, password } },
    headers: { 'x-forwarded-for': from },
  });

/** An address of TEST-NET-3 per `n`: clients the router cannot tell apart otherwise. */
const address = (n: number) => `203.0.113.${n}`;

describe('failed logins', () => {
  let victim: TestUser;
  beforeAll(async () => {
    victim = await registerUser(sg, 'victim');
  });

  it("from an attacker's address do not lock the owner out elsewhere, and stay slow for the attacker", async () => {
    for (let i = 0; i < 5; i++) {
      expect(errorOf(await login(address(1), victim.username, `guess-${i}-pw`))?.code).toBe(
        'UNAUTHENTICATED',
      );
    }
    // The sixth guess from there is refused whatever it is, the right password included.
    const blocked = await login(address(1), victim.username, victim.password);
    expect(errorOf(blocked)?.code).toBe('RATE_LIMITED');
    expect(blocked.errors![0]!.extensions!.retryAfter).toBeGreaterThan(800);

    const owner = await login(address(2), victim.username, victim.password);
    expect(owner.errors).toBeUndefined();
    expect(owner.data?.login.accessToken).toEqual(expect.any(String));
    // The owner's login forgives the owner's own failures, not the attacker's.
    expect(errorOf(await login(address(1), victim.username, victim.password))?.code).toBe(
      'RATE_LIMITED',
    );
  });

  it('across accounts from one address are limited, as to unknown accounts; other addresses are not', async () => {
    const from = address(3);
    for (let i = 0; i < 30; i++) {
      expect(errorOf(await login(from, `nobody_${i}`, 'a wrong password'))?.code, `try ${i}`).toBe(
        'UNAUTHENTICATED',
      );
    }
    const sprayed = await login(from, 'nobody_else', 'a wrong password');
    expect(errorOf(sprayed)?.code).toBe('RATE_LIMITED');
    expect(sprayed.errors![0]!.extensions!.retryAfter).toBeGreaterThan(800);
    const owner = await registerUser(sg, 'elsewhere');
    expect((await login(address(4), owner.username, owner.password)).errors).toBeUndefined();
  });

  it('to an unknown account are limited as to a known one, so the answers tell nothing', async () => {
    const known = await registerUser(sg, 'known');
    const answers = async (name: string, from: string) => {
      const codes: unknown[] = [];
      for (let i = 0; i < 6; i++)
        codes.push(errorOf(await login(from, name, `guess-${i}-pw`))?.code);
      return codes;
    };
    const expected = [...Array<string>(5).fill('UNAUTHENTICATED'), 'RATE_LIMITED'];
    expect(await answers(known.username, address(5))).toEqual(expected);
    expect(await answers('no_such_account', address(6))).toEqual(expected);
  });
});

describe('password hashing', () => {
  it('is bounded: a flood of logins to unknown accounts is partly RATE_LIMITED, and a real login still gets through promptly', async () => {
    const user = await registerUser(sg, 'prompt');
    const timed = async () => {
      const start = performance.now();
      const res = await login(address(200), user.username, user.password);
      return { res, ms: performance.now() - start };
    };
    // The median of three: the machine is shared, one login alone says little.
    const quiet = [await timed(), await timed(), await timed()];
    for (const { res } of quiet) expect(res.errors).toBeUndefined();
    const alone = { ms: quiet.map(q => q.ms).sort((a, b) => a - b)[1]! };

    // 40 clients at once, each from an address of its own (no address limit applies).
    const flood = Array.from({ length: 40 }, (_, i) =>
      login(address(10 + i), `unknown_${i}`, 'a wrong password'),
    );
    await new Promise(resolve => setTimeout(resolve, 50));
    const underLoad = await timed();
    const answers = (await Promise.all(flood)).map(res => res.errors?.[0]?.extensions);

    expect(underLoad.res.errors).toBeUndefined();
    const limited = answers.filter(e => e?.code === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    for (const e of limited) expect(e?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(answers.filter(e => e?.code !== 'RATE_LIMITED')).toEqual(
      Array(40 - limited.length).fill(expect.objectContaining({ code: 'UNAUTHENTICATED' })),
    );
    // Two hashes at once, and a real account's turn before those of unknown ones: the real
    // login waits for the hashes running, where unbounded it waited for all forty (2.7 s
    // against 0.2 s alone).
    console.info(
      `login alone ${alone.ms.toFixed(0)} ms, under a flood of 40: ${underLoad.ms.toFixed(0)} ms, ${limited.length} of 40 refused`,
    );
    // Unbounded, 40 hashes shared the cores with it: 13 to 20 times as long on two cores.
    expect(underLoad.ms).toBeLessThan(Math.max(8 * alone.ms, 3_000));
  });

  it('is not spent on a password over 256 characters: 900 KB is refused at once', async () => {
    const user = await registerUser(sg, 'long');
    const start = performance.now();
    const res = await login(address(201), user.username, 'p'.repeat(900_000));
    const ms = performance.now() - start;
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.password' });
    expect(ms).toBeLessThan(500);
    // 256 characters are still a password, compared as any other.
    expect(errorOf(await login(address(201), user.username, 'p'.repeat(256)))?.code).toBe(
      'UNAUTHENTICATED',
    );
  });
});
