import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../log.js';
import {
  assertTopology,
  assertWorkQueue,
  deferred,
  firstSetup,
  watchChannel,
  type Context,
} from './amqp-channel.js';
import { headersFromAmqp, type EventHandler } from './bus.js';
import { parseEvent, PoisonMessageError } from './envelope.js';
import { sleep, trySettle } from './timing.js';

/**
 * One `consume` call: a channel of its own with its prefetch, consuming a durable work queue
 * that dead-letters to the DLX. Parses every message; poison is nacked without requeue,
 * other failures are requeued after a backoff.
 */
export class WorkConsumer {
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private current: { channel: Channel; consumerTag: string } | undefined;
  private wrapper: ChannelWrapper;
  private stopped: Promise<void> | undefined;
  private ready = deferred();
  /** Bumped by every reopen, so a superseded channel's setup stands down. */
  private generation = 0;
  private readonly log: Logger;

  constructor(
    private readonly ctx: Context,
    private readonly queue: string,
    private readonly bindings: readonly string[],
    private readonly handler: EventHandler,
    private readonly prefetch: number,
  ) {
    this.log = ctx.log.child({ queue });
    this.wrapper = this.open();
  }

  /** Resolves once the queue is declared, bound and consumed; at once while the broker is down. */
  started(): Promise<void> {
    return firstSetup(this.ctx, this.ready.promise);
  }

  private open(): ChannelWrapper {
    const { names } = this.ctx;
    const generation = ++this.generation;
    const ready = this.ready;
    const wrapper = this.ctx.manager.createChannel({
      name: this.queue,
      confirm: false,
      setup: async (channel: Channel) => {
        if (this.stopping || generation !== this.generation) return;
        try {
          await assertTopology(channel, this.ctx);
          await assertWorkQueue(channel, names, this.queue, this.bindings);
          await channel.prefetch(this.prefetch);
          watchChannel(
            this.ctx,
            channel,
            () => this.current?.channel === channel,
            why => this.reopen(why),
          );
          const { consumerTag } = await channel.consume(this.queue, msg => {
            if (msg) this.onMessage(channel, msg);
            else if (this.current?.channel === channel)
              this.reopen('consumer cancelled by the broker');
          });
          if (generation !== this.generation) return;
          this.current = { channel, consumerTag };
          ready.resolve();
        } catch (err) {
          ready.reject(err as Error);
          throw err;
        }
      },
    });
    wrapper.on('error', (err: Error) => this.log.error({ err }, 'consumer channel setup failed'));
    return wrapper;
  }

  private reopen(why: string) {
    if (this.stopping) return;
    this.log.warn({ why }, 'reopening consumer channel');
    const old = this.wrapper;
    this.current = undefined;
    this.ready = deferred();
    this.wrapper = this.open();
    old.close().catch(() => {});
  }

  private onMessage(channel: Channel, msg: ConsumeMessage) {
    if (this.stopping) {
      // Arrived between basic.cancel and its ok: give it back untouched.
      trySettle(() => channel.nack(msg, false, true));
      return;
    }
    const handling: Promise<void> = this.handle(channel, msg).finally(() =>
      this.inFlight.delete(handling),
    );
    this.inFlight.add(handling);
  }

  // Settles on the channel that delivered the message: delivery tags mean nothing on another.
  private async handle(channel: Channel, msg: ConsumeMessage) {
    const context = {
      messageId: msg.properties.messageId as string | undefined,
      routingKey: msg.fields.routingKey,
      redelivered: msg.fields.redelivered,
    };
    try {
      const event = parseEvent(msg.content, msg.fields.routingKey);
      await this.handler(event, headersFromAmqp(msg.properties.headers));
      if (!trySettle(() => channel.ack(msg)))
        this.log.warn(context, 'channel lost before ack; the broker will redeliver');
    } catch (err) {
      if (err instanceof PoisonMessageError) {
        this.log.warn({ ...context, reason: err.message }, 'poison message dead-lettered');
        trySettle(() => channel.nack(msg, false, false));
        return;
      }
      this.log.error({ ...context, err }, 'event handler failed; will redeliver');
      await sleep(this.ctx.retryDelayMs, this.abort.signal);
      trySettle(() => channel.nack(msg, false, true));
    }
  }

  /** Cancels the consumer, lets the messages in hand settle, then closes the channel. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.abort.abort();
      const current = this.current;
      if (current) await current.channel.cancel(current.consumerTag).catch(() => {});
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      await this.wrapper.close().catch(() => {});
    })();
    return this.stopped;
  }
}
