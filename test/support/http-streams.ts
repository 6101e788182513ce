import type { Received } from './ws.js';

/** The Accept header each streaming protocol is asked for with, as its clients send it. */
export const STREAM_ACCEPT = {
  sse: 'text/event-stream',
  multipart:
    'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/graphql-response+json,application/json;q=0.9',
} as const;
export type StreamProtocol = keyof typeof STREAM_ACCEPT;

/** What one HTTP subscription stream has delivered so far, parsed as its protocol frames it. */
export interface TestStream<T> {
  status: number;
  contentType: string | null;
  /** The body of an answer that did not stream (a refusal): parsed JSON. */
  json?: { errors?: Received<T>['errors']; data?: T | null };
  /**
   * Results (`next` events, multipart payloads), in order; an error that ended the stream
   * (multipart `{ payload: null, errors }`) comes last as `{ errors }`.
   */
  received: Array<Received<T>>;
  /** Heartbeats seen: SSE comments, multipart `{}` parts. */
  heartbeats: number;
  /** Everything read, as it came. */
  raw: string;
  /** Resolves when the server ended the stream (completed it, or closed on error). */
  ended: Promise<void>;
  done: boolean;
  /** Closes the response from the client side, as a browser tab or `AbortController` would. */
  close(): void;
}

/**
 * POSTs `query` asking for `protocol` and records what streams back: a raw client of SSE
 * (distinct connections) and Apollo's multipart subscription protocol, to assert the wire
 * format itself (the real clients are tested beside it).
 */
export async function openStream<T>(
  url: string,
  protocol: StreamProtocol,
  query: string,
  options: {
    token?: string;
    variables?: Record<string, unknown>;
    headers?: Record<string, string>;
  } = {},
): Promise<TestStream<T>> {
  const control = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    signal: control.signal,
    headers: {
      accept: STREAM_ACCEPT[protocol],
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables: options.variables ?? {} }),
  });
  const contentType = res.headers.get('content-type');
  const stream: TestStream<T> = {
    status: res.status,
    contentType,
    received: [],
    heartbeats: 0,
    raw: '',
    ended: Promise.resolve(),
    done: false,
    close: () => control.abort(),
  };
  if (!contentType?.startsWith('text/event-stream') && !contentType?.startsWith('multipart/')) {
    stream.json = (await res.json()) as TestStream<T>['json'];
    stream.done = true;
    return stream;
  }
  const reader = res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let pending = '';
  const take = (chunk: string) => {
    stream.raw += chunk;
    pending += chunk;
    if (protocol === 'sse') {
      let end: number;
      while ((end = pending.indexOf('\n\n')) !== -1) {
        const message = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (message.startsWith(':')) {
          stream.heartbeats += 1;
          continue;
        }
        const event = /^event: (.*)$/m.exec(message)?.[1];
        const data = /^data: ?(.*)$/m.exec(message)?.[1] ?? '';
        if (event === 'next') stream.received.push(JSON.parse(data) as Received<T>);
      }
      return;
    }
    const boundary = '\r\n--graphql';
    let end: number;
    while ((end = pending.indexOf(boundary)) !== -1) {
      const message = pending.slice(0, end);
      pending = pending.slice(end + boundary.length);
      const bodyAt = message.indexOf('\r\n\r\n');
      if (bodyAt === -1) continue;
      const part = JSON.parse(message.slice(bodyAt + 4)) as {
        payload?: Received<T> | null;
        errors?: Received<T>['errors'];
      };
      if (Object.keys(part).length === 0) stream.heartbeats += 1;
      else if (part.payload) stream.received.push(part.payload);
      else if (part.errors) stream.received.push({ errors: part.errors });
    }
  };
  stream.ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        take(decoder.decode(value, { stream: true }));
      }
    } catch {
      // Aborted by `close()`.
    } finally {
      stream.done = true;
    }
  })();
  return stream;
}
