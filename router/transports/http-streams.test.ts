import { describe, expect, it } from 'vitest';
import { streamProtocolOf } from './http-streams.js';

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
