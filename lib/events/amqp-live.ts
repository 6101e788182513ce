import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import {
  assertTopology,
  deferred,
  firstSetup,
  watchChannel,
  type Context,
} from './amqp-channel.js';
import { headersFromAmqp, topicMatches, type Consumer, type LiveOptions } from './bus.js';
import { parseEvent, type AnyEvent } from './envelope.js';

/**
 * Live fan-out: one exclusive, auto-delete, server-named queue per bus (so per process),
 * bound to the union of the subscribers' patterns; messages are dispatched locally.
 */
export class LiveFanout {
  private readonly subscribers = new Set<LiveOptions>();
  /** pattern → number of subscribers wanting it */
  private readonly patterns = new Map<string, number>();
  private current:
    { channel: Channel; queue: string; bound: Map<string, Promise<unknown>> } | undefined;
  private wrapper: ChannelWrapper | undefined;
  private ready = deferred();
  private generation = 0;
  private closed = false;
  /** Whether a live queue has been bound before: a later one follows a gap. */
  private established = false;

  constructor(private readonly ctx: Context) {}

  private open(): ChannelWrapper {
    const generation = ++this.generation;
    const ready = this.ready;
    const wrapper = this.ctx.manager.createChannel({
      name: 'live',
      confirm: false,
      setup: async (channel: Channel) => {
        if (this.closed || generation !== this.generation) return;
        try {
          await assertTopology(channel, this.ctx);
          // Exclusive: gone with the connection, and a new one is made after a reconnect.
          const { queue } = await channel.assertQueue('', {
            exclusive: true,
            autoDelete: true,
            durable: false,
          });
          const current = { channel, queue, bound: new Map<string, Promise<unknown>>() };
          watchChannel(
            this.ctx,
            channel,
            () => this.current?.channel === channel,
            why => this.reopen(why),
          );
          await channel.consume(queue, msg => msg && this.dispatch(msg), { noAck: true });
          if (generation !== this.generation) return;
          this.current = current;
          await this.bindAll(current);
          ready.resolve();
          // A new queue after a reconnect: whatever was published in between went nowhere.
          if (this.established) this.resumed();
          this.established = true;
        } catch (err) {
          ready.reject(err as Error);
          throw err;
        }
      },
    });
    wrapper.on('error', (err: Error) => this.ctx.log.error({ err }, 'live channel setup failed'));
    return wrapper;
  }

  private reopen(why: string) {
    if (this.closed || !this.wrapper) return;
    this.ctx.log.warn({ why }, 'reopening live channel');
    const old = this.wrapper;
    this.current = undefined;
    this.ready = deferred();
    this.wrapper = this.open();
    old.close().catch(() => {});
  }

  private bindAll(current: NonNullable<LiveFanout['current']>): Promise<unknown> {
    const pending: Promise<unknown>[] = [];
    for (const pattern of this.patterns.keys()) {
      let binding = current.bound.get(pattern);
      if (!binding) {
        binding = current.channel.bindQueue(current.queue, this.ctx.names.exchange, pattern);
        current.bound.set(pattern, binding);
      }
      pending.push(binding);
    }
    return Promise.all(pending);
  }

  private dispatch(msg: ConsumeMessage) {
    const routingKey = msg.fields.routingKey;
    let event: AnyEvent;
    try {
      event = parseEvent(msg.content, routingKey);
    } catch (err) {
      this.ctx.log.warn(
        {
          messageId: msg.properties.messageId as string | undefined,
          routingKey,
          reason: (err as Error).message,
        },
        'invalid live event dropped',
      );
      return;
    }
    const headers = headersFromAmqp(msg.properties.headers);
    for (const subscriber of this.subscribers) {
      if (!subscriber.bindings.some(pattern => topicMatches(pattern, routingKey))) continue;
      try {
        subscriber.onEvent(event, headers);
      } catch (err) {
        this.ctx.log.error({ err, messageId: event.id, type: event.type }, 'live subscriber threw');
      }
    }
  }

  private resumed() {
    for (const subscriber of this.subscribers) {
      try {
        subscriber.onResumed?.();
      } catch (err) {
        this.ctx.log.error({ err }, 'live subscriber threw on resume');
      }
    }
  }

  async subscribe(options: LiveOptions): Promise<Consumer> {
    const subscriber: LiveOptions = { ...options, bindings: [...options.bindings] };
    this.subscribers.add(subscriber);
    for (const pattern of subscriber.bindings)
      this.patterns.set(pattern, (this.patterns.get(pattern) ?? 0) + 1);
    this.wrapper ??= this.open();
    try {
      await firstSetup(this.ctx, this.ready.promise);
      // Resolve only once the broker routes this subscriber's patterns to us.
      if (this.current) await this.bindAll(this.current);
    } catch (err) {
      await this.unsubscribe(subscriber);
      throw err;
    }
    return { stop: async () => this.unsubscribe(subscriber) };
  }

  private async unsubscribe(subscriber: LiveOptions) {
    if (!this.subscribers.delete(subscriber)) return;
    for (const pattern of subscriber.bindings) {
      const count = (this.patterns.get(pattern) ?? 1) - 1;
      if (count > 0) {
        this.patterns.set(pattern, count);
        continue;
      }
      this.patterns.delete(pattern);
      const current = this.current;
      if (current?.bound.delete(pattern)) {
        await current.channel
          .unbindQueue(current.queue, this.ctx.names.exchange, pattern)
          .catch(() => {});
      }
    }
  }

  async close() {
    this.closed = true;
    this.subscribers.clear();
    await this.wrapper?.close().catch(() => {});
  }
}
