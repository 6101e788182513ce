import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { busNames } from '#lib/events/bus.js';
import { parseEvent, type AnyEvent } from '#lib/events/envelope.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { subgraphs } from '../../subgraphs/index.js';
import { TEST_AMQP_URL, uniqueName } from './services.js';
import { TcpProxy } from './tcp-proxy.js';

/**
 * A queue of our own bound to a namespaced exchange, recording every event published
 * there: what another team's consumer would see.
 */
export interface EventTap {
  events: AnyEvent[];
  close(): Promise<void>;
}

export async function tapEvents(
  namespace: string,
  pattern = '#',
  url = TEST_AMQP_URL,
): Promise<EventTap> {
  const names = busNames({ namespace });
  const conn: ChannelModel = await connect(url);
  const ch: Channel = await conn.createChannel();
  await ch.assertExchange(names.exchange, 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  await ch.bindQueue(queue, names.exchange, pattern);
  const events: AnyEvent[] = [];
  await ch.consume(queue, msg => {
    if (!msg) return;
    events.push(parseEvent(msg.content, msg.fields.routingKey));
    ch.ack(msg);
  });
  return {
    events,
    close: async () => {
      await conn.close().catch(() => {});
    },
  };
}

/** Deletes the exchanges and queues a test made under `namespace` (the contract's work queues included). */
export async function deleteNamespace(
  namespace: string,
  queues: readonly string[] = [],
): Promise<void> {
  const names = busNames({ namespace });
  const conn = await connect(TEST_AMQP_URL);
  try {
    const ch = await conn.createChannel();
    for (const q of [...new Set([...queues, ...Object.keys(workQueues(subgraphs))])].map(
      names.queue,
    ))
      await ch.deleteQueue(q);
    await ch.deleteQueue(names.deadLetterQueue);
    await ch.deleteExchange(names.exchange);
    await ch.deleteExchange(names.deadLetterExchange);
  } finally {
    await conn.close().catch(() => {});
  }
}

/**
 * A proxy the test can cut (`proxy.stop()`) and restore (`proxy.start()`) in front of the
 * test broker, and the broker's URL through it: a broker outage without touching RabbitMQ.
 */
export async function proxyToBroker(): Promise<{ proxy: TcpProxy; url: string }> {
  const url = new URL(TEST_AMQP_URL);
  const proxy = new TcpProxy(url.hostname, Number(url.port || 5672));
  await proxy.start();
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

/** A virtual host of the test broker, made for one test; `url` is TEST_AMQP_URL pointed at it. */
export interface TestVhost {
  name: string;
  url: string;
  /** Deletes the virtual host with every exchange and queue declared in it. */
  delete(): Promise<void>;
}

/**
 * A virtual host of its own on the test broker, for a child process that declares the
 * production exchange and queue names (`npm start`'s main.ts takes no namespace): inside it
 * they meet nothing of another run on the same broker. Made with `rabbitmqctl` (the management
 * plugin is not assumed); without it this fails, it never skips.
 */
export async function createTestVhost(prefix: string): Promise<TestVhost> {
  const name = uniqueName(prefix);
  const url = new URL(TEST_AMQP_URL);
  // The broker's default user when the URL names none.
  const user = decodeURIComponent(url.username) || 'guest';
  await rabbitmqctl('add_vhost', name);
  try {
    await rabbitmqctl('set_permissions', '-p', name, user, '.*', '.*', '.*');
  } catch (err) {
    await rabbitmqctl('delete_vhost', name).catch(() => {});
    throw err;
  }
  url.pathname = `/${encodeURIComponent(name)}`;
  return { name, url: url.toString(), delete: () => rabbitmqctl('delete_vhost', name) };
}

const execFileAsync = promisify(execFile);

async function rabbitmqctl(...args: string[]): Promise<void> {
  try {
    await execFileAsync('rabbitmqctl', args, { timeout: 30_000 });
  } catch (err) {
    const { code, stderr } = err as NodeJS.ErrnoException & { stderr?: string };
    if (code === 'ENOENT')
      throw new Error(
        'This test makes a RabbitMQ virtual host of its own with rabbitmqctl, which is not on PATH',
        { cause: err },
      );
    throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${stderr?.trim() ?? String(err)}`, {
      cause: err,
    });
  }
}
