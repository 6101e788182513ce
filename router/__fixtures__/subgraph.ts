import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the stand-in was asked: the headers and body of one request. */
export interface SeenRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A subgraph stand-in on port 0 that answers `{ data: { n } }` (n: this request's number) after
 * `delay` ms and records every request it gets.
 */
export async function startSubgraphStandIn() {
  const seen: SeenRequest[] = [];
  const state = { delay: 50 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const n = seen.push({ headers: req.headers, body });
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { n } }));
      }, state.delay);
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    seen,
    /** How long the next answers take, in ms. */
    setDelay: (ms: number) => {
      state.delay = ms;
    },
    close: () => new Promise<void>(resolve => server.close(() => resolve())),
  };
}
