import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { GraphQLError } from 'graphql';
import { Agent, request } from 'undici';
import { CLAIM_HEADERS } from '#lib/auth/claims.js';
import { responseTooLarge } from '#lib/errors.js';
import type { ResponseBudget } from './budget.js';

/** The part of a fetch Response that `RemoteGraphQLDataSource` reads. */
class SubgraphResponse implements SubgraphFetchResponse {
  readonly ok: boolean;
  readonly redirected = false;
  bodyUsed = false;
  readonly headers: { get(name: string): string | null; has(name: string): boolean };

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    raw: IncomingHttpHeaders,
    private readonly body: Buffer,
  ) {
    this.ok = status >= 200 && status < 300;
    const get = (name: string) => {
      const value = raw[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    };
    this.headers = { get, has: name => get(name) !== null };
  }

  async text(): Promise<string> {
    this.bodyUsed = true;
    return this.body.toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    this.bodyUsed = true;
    return new Uint8Array(this.body).buffer;
  }

  clone(): SubgraphResponse {
    return this;
  }
}

export interface SubgraphRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

interface RawResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * What a subgraph request must give back: the part of a fetch Response that
 * `RemoteGraphQLDataSource` reads. The global fetch's Response has it too.
 */
export interface SubgraphFetchResponse {
  readonly ok: boolean;
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  readonly redirected: boolean;
  readonly bodyUsed: boolean;
  readonly headers: { get(name: string): string | null; has(name: string): boolean };
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
  clone(): SubgraphFetchResponse;
}

/** How one request may be sent, as the data source decides it from the operation. */
export interface SubgraphFetchOptions {
  /**
   * The request is a query (never a mutation): an identical request of the same viewer to
   * the same subgraph that is in flight at the same time may answer it too.
   */
  shareInFlight: boolean;
  /** The bytes the operation may still read (budget.ts); a response that would exceed it is cut off. */
  budget?: ResponseBudget;
}

export interface SubgraphFetcher {
  fetch(
    url: string,
    init: SubgraphRequestInit,
    options: SubgraphFetchOptions,
  ): Promise<SubgraphFetchResponse>;
  /** Closes the idle keep-alive sockets (the router is stopping). */
  close(): void;
}

/**
 * The identity of a shareable request: the subgraph, the viewer (the claims, not their
 * signature's timestamp) and the exact request body.
 */
function inFlightKey(url: string, init: SubgraphRequestInit): string {
  const h = init.headers ?? {};
  const claims = [CLAIM_HEADERS.userId, CLAIM_HEADERS.role, CLAIM_HEADERS.username].map(
    name => h[name] ?? '',
  );
  const body = typeof init.body === 'string' ? init.body : (init.body?.toString('utf8') ?? '');
  return `${url}\n${claims.join('\n')}\n${body}`;
}

/**
 * Subgraph requests through undici's connection pools (`Agent` + `request`), in place of the
 * global fetch. Node's fetch is undici too, but wraps every request and response in WHATWG
 * objects and streams: about an eighth of the router's CPU under load went to that
 * machinery. `request` is undici's lean API: pooled keep-alive sockets, the body read once
 * into one Buffer. The whole exchange must finish within `timeoutMs`; network failures reject
 * as fetch's do, with "fetch failed" and the reason as `cause` (so no address reaches a client).
 *
 * Requests the caller marks `shareInFlight` (queries) that are identical, of one viewer, to
 * one subgraph and in flight at the same time share one request (as Apollo Router's and Hive
 * Gateway's query de-duplication do): a burst of the same page asked by one user costs the
 * subgraph one execution.
 */
export function createSubgraphFetcher(options: {
  /** The whole exchange, connection to last byte, must finish within this. */
  timeoutMs: number;
}): SubgraphFetcher {
  const agent = new Agent({ keepAliveTimeout: 4_000 });
  const inFlight = new Map<string, Promise<RawResponse>>();

  /** `room`: the bytes the operation may still read; `limit`: its whole budget, for the error. */
  const send = async (
    url: string,
    init: SubgraphRequestInit,
    { room, limit }: { room: number; limit: number },
  ): Promise<RawResponse> => {
    try {
      const res = await request(url, {
        dispatcher: agent,
        method: init.method ?? 'POST',
        headers: init.headers ?? {},
        body: init.body ?? '',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      // Read chunk by chunk: an answer over the budget is dropped at the first chunk past it.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > room) {
          res.body.destroy();
          throw responseTooLarge(limit);
        }
        chunks.push(chunk);
      }
      const body = Buffer.concat(chunks, size);
      return {
        status: res.statusCode,
        statusText: STATUS_CODES[res.statusCode] ?? '',
        headers: res.headers,
        body,
      };
    } catch (err) {
      if (err instanceof GraphQLError) throw err;
      const cause =
        err instanceof DOMException && err.name === 'TimeoutError'
          ? new DOMException(
              `The subgraph did not answer within ${options.timeoutMs} ms`,
              'TimeoutError',
            )
          : err;
      // The cause of a timeout names the limit rather than undici's bare AbortSignal reason.
      // eslint-disable-next-line preserve-caught-error
      throw new TypeError('fetch failed', { cause });
    }
  };

  return {
    fetch: async (url, init, { shareInFlight, budget }) => {
      const key = shareInFlight ? inFlightKey(url, init) : undefined;
      let raw: Promise<RawResponse> | undefined = key === undefined ? undefined : inFlight.get(key);
      if (!raw) {
        raw = send(
          url,
          init,
          budget
            ? { room: budget.limit - budget.used, limit: budget.limit }
            : { room: Number.POSITIVE_INFINITY, limit: Number.POSITIVE_INFINITY },
        );
        if (key !== undefined) {
          inFlight.set(key, raw);
          const forget = () => inFlight.delete(key);
          raw.then(forget, forget);
        }
      }
      // Every caller gets a response of its own: the body is parsed anew for each, so no
      // two operations ever share (and mutate) the same objects.
      const { status, statusText, headers, body } = await raw;
      if (budget) {
        // A shared answer counts against the budget of every operation it serves.
        budget.used += body.length;
        if (budget.used > budget.limit) throw responseTooLarge(budget.limit);
      }
      return new SubgraphResponse(url, status, statusText, headers, body);
    },
    close: () => {
      void agent.close();
    },
  };
}
