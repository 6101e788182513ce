import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubgraphFetcher } from './fetcher.js';

/** A subgraph stand-in that answers after `delay` ms and counts what it was asked. */
let server: Server;
let url: string;
const seen: string[] = [];
let delay = 50;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(`${String(req.headers['x-user-id'])} ${body}`);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { n: seen.length } }));
      }, delay);
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
afterAll(() => new Promise<void>(resolve => server.close(() => resolve())));

const query = (text: string, userId: string) => ({
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'x-user-id': userId,
    'x-user-role': 'USER',
    'x-user-name': userId,
    'x-router-timestamp': String(Math.random()),
  },
  body: JSON.stringify({ query: text }),
});

describe('subgraph fetcher', () => {
  it('answers like fetch: status, headers, a body parsed anew for every caller', async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 5_000, dedupe: true });
    seen.length = 0;
    const [a, b] = await Promise.all([
      fetcher.fetch(url, query('query A { x }', 'u1')),
      fetcher.fetch(url, query('query A { x }', 'u1')),
    ]);
    expect(a.ok).toBe(true);
    expect(a.headers.get('Content-Type')).toBe('application/json');
    const [ja, jb] = [await a.json(), await b.json()];
    expect(ja).toEqual(jb);
    expect(ja).not.toBe(jb);
    expect(seen).toHaveLength(1); // one request for both
    fetcher.close();
  });

  it('shares only identical queries of one viewer in flight; never mutations or other viewers', async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 5_000, dedupe: true });
    seen.length = 0;
    await Promise.all([
      fetcher.fetch(url, query('query A { x }', 'u1')),
      fetcher.fetch(url, query('query A { x }', 'u2')),
      fetcher.fetch(url, query('query B { x }', 'u1')),
      fetcher.fetch(url, query('mutation M { x }', 'u1')),
      fetcher.fetch(url, query('mutation M { x }', 'u1')),
    ]);
    expect(seen).toHaveLength(5);
    // Once answered, the same query is asked again.
    seen.length = 0;
    await fetcher.fetch(url, query('query A { x }', 'u1'));
    await fetcher.fetch(url, query('query A { x }', 'u1'));
    expect(seen).toHaveLength(2);
    fetcher.close();
  });

  it('fails like fetch: "fetch failed" on a timeout or a refused connection, with the reason as cause', async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 10 });
    delay = 200;
    await expect(fetcher.fetch(url, query('query A { x }', 'u1'))).rejects.toMatchObject({
      message: 'fetch failed',
      cause: { name: 'TimeoutError' },
    });
    delay = 50;
    await expect(
      fetcher.fetch('http://127.0.0.1:1/graphql', query('query A { x }', 'u1')),
    ).rejects.toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
    fetcher.close();
  });
});
