import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddressOf } from './client-address.js';

const request = (remoteAddress: string, forwardedFor?: string) =>
  ({
    socket: { remoteAddress },
    connection: { remoteAddress },
    headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
  }) as unknown as IncomingMessage;

describe('the client address', () => {
  it('is the socket’s own unless it comes through a trusted proxy', () => {
    const none = clientAddressOf([]);
    expect(none(request('203.0.113.7', '198.51.100.1'))).toBe('203.0.113.7');
    const behindBalancer = clientAddressOf(['10.0.0.0/8']);
    expect(behindBalancer(request('10.1.2.3', '198.51.100.1'))).toBe('198.51.100.1');
    // A client cannot name itself: the nearest untrusted hop counts, not the first listed.
    expect(behindBalancer(request('10.1.2.3', '1.1.1.1, 198.51.100.1'))).toBe('198.51.100.1');
    // A direct client's own header is ignored.
    expect(behindBalancer(request('203.0.113.7', '1.1.1.1'))).toBe('203.0.113.7');
    expect(clientAddressOf(['loopback'])(request('127.0.0.1', '192.0.2.9'))).toBe('192.0.2.9');
  });
});
