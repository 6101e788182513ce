import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** What a test SMTP server received: the parsed message and the envelope's recipients. */
export interface ReceivedMail {
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string | undefined;
  parsed: ParsedMail;
}

/**
 * A real SMTP server on a port of the OS (the `smtp-server` package), parsing what it accepts
 * with `mailparser`. `refuse(address, code)` answers that recipient with `code` (5xx: a
 * permanent refusal) from then on.
 */
export async function startSmtpServer() {
  const received: ReceivedMail[] = [];
  const refusals = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      const code = refusals.get(address.address.toLowerCase());
      if (code === undefined) return callback();
      const err = Object.assign(new Error('Mailbox refused by the test'), { responseCode: code });
      callback(err);
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        parsed => {
          received.push({
            to: session.envelope.rcptTo.map(r => r.address.toLowerCase()),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            messageId: parsed.messageId,
            parsed,
          });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    /** Messages received for `address`. */
    to: (address: string) => received.filter(m => m.to.includes(address.toLowerCase())),
    refuse: (address: string, code: number) => refusals.set(address.toLowerCase(), code),
    stop: () => new Promise<void>(resolve => server.close(() => resolve())),
  };
}

export type TestSmtpServer = Awaited<ReturnType<typeof startSmtpServer>>;

/** The 6-digit code in a code mail. */
export function codeIn(mail: ReceivedMail): string {
  const match = /\b(\d{6})\b/.exec(mail.text);
  if (!match) throw new Error(`no code in "${mail.subject}"`);
  return match[1]!;
}
