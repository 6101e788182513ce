import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { and, asc, eq, isNull, lte, sql } from 'drizzle-orm';
import nodemailer from 'nodemailer';
import { queryRows, type Database, type Executor } from '#lib/db.js';
import { backoffDelay } from '#lib/events/timing.js';
import type { Logger } from '#lib/log.js';
import { mailOutcomes } from '#lib/metrics.js';
import { mailOutbox, type schema } from '../db/schema.js';

type Db = Executor<typeof schema>;

/** One message, in plain text and HTML. `id` makes it once: the same id is written once. */
export interface Mail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Writes mail to the outbox, in the transaction that causes it. A message whose id is there
 * already (a redelivered event) is not written again.
 */
export async function enqueueMail(tx: Db, mail: readonly Mail[]): Promise<void> {
  if (mail.length === 0) return;
  await tx
    .insert(mailOutbox)
    .values([...mail])
    .onConflictDoNothing({ target: mailOutbox.id });
}

/** Sends one message; throws what nodemailer throws (`responseCode` set for an SMTP answer). */
export type MailTransport = (message: Mail & { from: string }) => Promise<void>;

/**
 * SMTP_URL set: nodemailer over SMTP. Unset: each message as an `.eml` file under
 * `DATA_DIR/mail/`, with one log line naming it (never its text: it may hold a code).
 */
export function createMailTransport(options: {
  smtpUrl: string | undefined;
  dataDir: string;
  log: Logger;
}): MailTransport {
  const headers = (m: Mail & { from: string }) => ({
    from: m.from,
    to: m.to,
    subject: m.subject,
    text: m.text,
    html: m.html,
    messageId: `<${m.id}@supergraph>`,
  });
  if (options.smtpUrl) {
    const smtp = nodemailer.createTransport(options.smtpUrl);
    return async message => {
      await smtp.sendMail(headers(message));
    };
  }
  const folder = join(options.dataDir, 'mail');
  const stream = nodemailer.createTransport({ streamTransport: true, buffer: true });
  return async message => {
    const info = await stream.sendMail(headers(message));
    await mkdir(folder, { recursive: true });
    const file = join(folder, `${message.id.replace(/[^a-zA-Z0-9._-]/g, '_')}.eml`);
    await writeFile(file, info.message as Buffer);
    options.log.info({ file, to: message.to }, 'mail written (SMTP_URL is unset)');
  };
}

/** Key of the advisory lock of the one mail sender per database (the relay's is 7_301_995). */
const MAIL_LOCK = 7_301_997;
const LOCK_RETRY_MS = 250;

export interface MailSender {
  /** Send soon: call after committing a transaction that wrote mail. */
  wake(): void;
  /** Resolves once nothing is due that is not sent or failed for good (tests). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

type PassResult = 'locked' | 'empty' | 'sent' | 'retry';

/**
 * Sends the mail outbox, oldest first, one message per transaction, holding the sender lock:
 * a message is marked sent in the transaction that sent it, so a restart sends nothing twice
 * (but for a crash between the server's answer and the commit). A server that is down or
 * answers 4xx is tried again with backoff; a 5xx answer is a permanent failure, logged and
 * counted (`mail_messages_total{outcome="failed"}`).
 */
export function startMailSender(options: {
  db: Database<typeof schema>;
  transport: MailTransport;
  from: string;
  log: Logger;
  pollIntervalMs?: number;
  maxBackoffMs?: number;
}): MailSender {
  const { db, transport, from } = options;
  const log = options.log.child({ component: 'mail-sender' });
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  let stopped = false;
  let woken = false;
  let wakeIdle: (() => void) | undefined;
  let idleWaiters: Array<() => void> = [];

  const pause = (ms: number) =>
    new Promise<void>(resolve => {
      const done = () => {
        clearTimeout(timer);
        wakeIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeIdle = done;
    });

  const pass = (): Promise<PassResult> =>
    db.transaction(async tx => {
      const [lock] = await queryRows<{ locked: boolean }>(
        tx,
        sql`select pg_try_advisory_xact_lock(${sql.raw(String(MAIL_LOCK))}) as locked`,
      );
      if (!lock?.locked) return 'locked';
      const [row] = await tx
        .select()
        .from(mailOutbox)
        .where(
          and(
            isNull(mailOutbox.sentAt),
            isNull(mailOutbox.failedAt),
            lte(mailOutbox.nextAttemptAt, sql`now()`),
          ),
        )
        .orderBy(asc(mailOutbox.seq))
        .limit(1);
      if (!row) return 'empty';
      try {
        await transport({ ...row, from });
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        const reason = err instanceof Error ? err.message.slice(0, 500) : 'unknown error';
        if (code !== undefined && code >= 500 && code < 600) {
          await tx
            .update(mailOutbox)
            .set({ failedAt: sql`now()`, lastError: reason, attempts: row.attempts + 1 })
            .where(eq(mailOutbox.seq, row.seq));
          mailOutcomes.inc({ outcome: 'failed' });
          log.error({ messageId: row.id, responseCode: code }, 'mail refused for good (5xx)');
          return 'sent';
        }
        const attempts = row.attempts + 1;
        const retryInMs = backoffDelay(attempts, 250, maxBackoffMs);
        await tx
          .update(mailOutbox)
          .set({
            attempts,
            lastError: reason,
            nextAttemptAt: new Date(Date.now() + retryInMs),
          })
          .where(eq(mailOutbox.seq, row.seq));
        mailOutcomes.inc({ outcome: 'retried' });
        log.warn({ messageId: row.id, responseCode: code, retryInMs }, 'mail not sent; retrying');
        return 'retry';
      }
      await tx
        .update(mailOutbox)
        .set({ sentAt: sql`now()` })
        .where(eq(mailOutbox.seq, row.seq));
      mailOutcomes.inc({ outcome: 'sent' });
      log.debug({ messageId: row.id }, 'mail sent');
      return 'sent';
    });

  const nextDue = async (): Promise<number | undefined> => {
    const [row] = await queryRows<{ ms: string | number | null }>(
      db,
      sql`select extract(epoch from min(next_attempt_at) - now()) * 1000 as ms from mail_outbox where sent_at is null and failed_at is null`,
    );
    return row?.ms == null ? undefined : Number(row.ms);
  };

  const loop = async () => {
    let failures = 0;
    while (!stopped) {
      woken = false;
      let result: PassResult;
      try {
        result = await pass();
      } catch (err) {
        failures++;
        const retryInMs = backoffDelay(failures, 250, maxBackoffMs);
        log.warn({ err, retryInMs }, 'mail outbox pass failed');
        await pause(retryInMs);
        continue;
      }
      failures = 0;
      if (result === 'sent') continue;
      if (result === 'locked') {
        await pause(LOCK_RETRY_MS);
        continue;
      }
      const due = await nextDue().catch(() => undefined);
      if (result === 'empty' && due === undefined) {
        for (const resolve of idleWaiters) resolve();
        idleWaiters = [];
      }
      if (!woken) await pause(Math.max(10, Math.min(pollIntervalMs, due ?? pollIntervalMs)));
    }
  };
  const running = loop();

  return {
    wake() {
      woken = true;
      wakeIdle?.();
    },
    idle() {
      return new Promise<void>(resolve => {
        idleWaiters.push(resolve);
        woken = true;
        wakeIdle?.();
      });
    },
    async stop() {
      stopped = true;
      wakeIdle?.();
      await running;
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    },
  };
}
