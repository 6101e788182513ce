import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { rateLimited } from '#lib/errors.js';

/**
 * Password hashing with scrypt from node:crypto: memory-hard, in the standard library,
 * nothing native to build. Parameters are one of OWASP's scrypt settings (N=2^15, r=8,
 * p=3) and are stored in the hash, so they can be raised later without breaking logins.
 */
const PARAMS = { logN: 15, r: 8, p: 3 } as const;
const KEY_LENGTH = 32;

function derive(
  password: string,
  salt: Buffer,
  logN: number,
  r: number,
  p: number,
): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS.logN, PARAMS.r, PARAMS.p);
  return [
    'scrypt',
    PARAMS.logN,
    PARAMS.r,
    PARAMS.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, logN, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !logN || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await derive(
    password,
    Buffer.from(salt, 'base64url'),
    Number(logN),
    Number(r),
    Number(p),
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * A hash of a random password, checked against when the account does not exist, so an
 * unknown login takes as long as a wrong password and reveals nothing.
 */
let decoy: Promise<string> | undefined;
async function verifyAgainstDecoy(password: string): Promise<false> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(password, await decoy);
  return false;
}

/** scrypt, with at most so many hashes at once (MAX_CONCURRENT_PASSWORD_HASHES, …). */
export interface PasswordHashing {
  /** Hashes running at once; each holds ~32 MiB and a libuv thread for ~100-200 ms. */
  concurrency: number;
  /** Hashes waiting for one of those; beyond them a request is RATE_LIMITED. */
  queue: number;
  /** The longest a hash waits for its turn before it is refused the same way (default 1 s). */
  maxWaitMs?: number;
}

export interface Passwords {
  hash(password: string): Promise<string>;
  verify(password: string, stored: string): Promise<boolean>;
  /** What checking a password of an account that does not exist costs: the same as any. */
  verifyAgainstDecoy(password: string): Promise<false>;
  /** Hashes running and waiting now (tests, metrics). */
  load(): { running: number; waiting: number };
}

/** How long a refused client is told to wait: a queue's worth of hashes takes about that. */
const BUSY_RETRY_AFTER_SECONDS = 1;
const busy = () =>
  rateLimited(
    'Too many sign-ins are being checked right now; try again in a moment',
    BUSY_RETRY_AFTER_SECONDS,
  );

/**
 * Password hashing bounded as a whole: every scrypt of the service (logins known or not,
 * registrations, password changes) takes a turn, `concurrency` at a time, `queue` waiting, and
 * a request beyond them is refused at once with RATE_LIMITED instead of queueing behind
 * everyone (40 logins to unknown accounts would otherwise push a real one from 0.2 to 2.7 s).
 * A counting semaphore of a dozen lines: p-limit and p-queue queue without bound and cannot
 * refuse, which is the point here.
 */
export function createPasswords(options: PasswordHashing): Passwords {
  // Made now, outside any turn: the first unknown login must not cost two hashes.
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  let running = 0;
  // Whose turn comes next: a known account's before any check against the decoy (a login
  // naming no account), which may also fill half the queue only. A flood of logins to unknown
  // accounts then delays a real one by the hashes running, not by the whole queue.
  const waiting: (() => void)[] = [];
  const decoys: (() => void)[] = [];
  const decoyQueue = Math.floor(options.queue / 2);
  async function turn<T>(work: () => Promise<T>, decoy = false): Promise<T> {
    if (running >= options.concurrency) {
      const queued = waiting.length + decoys.length;
      if (queued >= options.queue || (decoy && decoys.length >= decoyQueue)) {
        throw busy();
      }
      const line = decoy ? decoys : waiting;
      let timer: NodeJS.Timeout | undefined;
      // A turn that does not come soon is refused too, well within the request's deadline
      // (REQUEST_TIMEOUT_MS), rather than answered SERVICE_UNAVAILABLE once that has passed.
      const served = await new Promise<boolean>(resolve => {
        const next = () => {
          clearTimeout(timer);
          resolve(true);
        };
        line.push(next);
        timer = setTimeout(() => {
          line.splice(line.indexOf(next), 1);
          resolve(false);
        }, options.maxWaitMs ?? 1_000);
      });
      if (!served) throw busy();
    } else {
      running += 1;
    }
    try {
      return await work();
    } finally {
      // The turn passes straight to the next in line: `running` stays as it is.
      const next = waiting.shift() ?? decoys.shift();
      if (next) next();
      else running -= 1;
    }
  }
  return {
    hash: password => turn(() => hashPassword(password)),
    verify: (password, stored) => turn(() => verifyPassword(password, stored)),
    verifyAgainstDecoy: password => turn(() => verifyAgainstDecoy(password), true),
    load: () => ({ running, waiting: waiting.length + decoys.length }),
  };
}
