import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { Repeater } from '@repeaterjs/repeater';
import { ANONYMOUS } from '#lib/auth/claims.js';
import { createLogger } from '#lib/log.js';
import { waitFor } from '../../test/support/wait.js';
import type { RouterContext } from '../context.js';
import { revocationView } from '../revocations.js';
import type { SubscriptionBridge } from '../subscriptions/bridge.js';
import { subscriptionQuota } from '../subscriptions/quota.js';
import { serveHttpStreams, streamProtocolOf } from './http-streams.js';

describe('streamProtocolOf', () => {
  it('reads what graphql-sse and Apollo Client send', () => {
    expect(streamProtocolOf('text/event-stream')).toBe('sse');
    expect(
      streamProtocolOf(
        'multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/graphql-response+json,application/json;q=0.9',
      ),
    ).toBe('multipart');
    expect(streamProtocolOf('multipart/mixed; subscriptionSpec="1.0", application/json')).toBe(
      'multipart',
    );
    expect(streamProtocolOf('application/json, Text/Event-Stream;q=0.5')).toBe('sse');
  });

  it('asks for no stream otherwise: plain JSON, @defer multipart, huge or garbled headers', () => {
    for (const accept of [
      undefined,
      '',
      'application/json',
      '*/*',
      'multipart/mixed',
      'multipart/mixed;deferSpec=20220824',
      'multipart/mixed;subscriptionSpec=2.0',
      'text/event-streamx',
      ';;;,,,;=;=',
      '\u0000text/event-stream',
      `application/json,${'x'.repeat(10_000)},text/event-stream`,
    ]) {
      expect(streamProtocolOf(accept), String(accept).slice(0, 40)).toBeUndefined();
    }
  });
});

describe('a stream whose client stops reading', () => {
  it('is dropped once its backlog passes MAX_RESPONSE_BYTES, ending the subscription', async () => {
    const log = createLogger({ level: 'silent' });
    const maxResponseBytes = 200_000;
    let pushed = 0;
    let ended = false;
    // A bridge that streams 10 kB events as fast as it may, until the stream returns it.
    const bridge: SubscriptionBridge = {
      subscribe: () =>
        new Repeater<ExecutionResult>(async (push, stop) => {
          const timer = setInterval(() => {
            pushed += 1;
            void push({ data: { event: 'x'.repeat(10_000) } });
          }, 1);
          await stop;
          clearInterval(timer);
          ended = true;
        }),
      stats: () => ({
        clientSubscriptions: 0,
        upstreamSubscriptions: 0,
        upstreamSockets: 0,
        eventsResolved: 0,
        eventsShared: 0,
      }),
      close: async () => {},
    };
    const streams = serveHttpStreams({
      run: async (_request, context: RouterContext) => ({
        kind: 'subscription',
        prepared: {
          document: parse('subscription { event }'),
          operationName: null,
          variables: {},
          context,
        },
      }),
      bridge,
      quota: subscriptionQuota({ perConnection: 1, perViewer: 10 }),
      authenticate: () => ({ claims: ANONYMOUS, issuedAt: null, expiresAt: null }),
      revocations: revocationView({ tokenTtlMs: 60_000, log }),
      clientAddress: () => '127.0.0.1',
      formatError: e => e,
      maxResponseBytes,
      log,
    });
    const server = createServer((req, res) => {
      void streams.handle(req, res, {
        body: { query: 'subscription { event }' },
        requestId: 'test',
        log,
      });
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    const body = JSON.stringify({ query: 'subscription { event }' });
    // A client that sends its request and then never reads a byte.
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    socket.pause();
    socket.write(
      `POST /graphql HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    socket.on('error', () => {});
    try {
      await waitFor(() => ended, { timeoutMs: 20_000, message: 'the unread stream went on' });
      // It went on for a while (the sockets' buffers filled first), then stopped for good.
      expect(pushed).toBeGreaterThan(maxResponseBytes / 10_000);
      expect(streams.openStreams()).toBe(0);
      // And the router's side of the connection is gone.
      await waitFor(
        () =>
          new Promise<boolean>(resolve =>
            server.getConnections((_err, count) => resolve(count === 0)),
          ),
        { message: 'the connection was kept' },
      );
    } finally {
      socket.destroy();
      streams.close();
      server.close();
    }
  });
});
