import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import { REQUEST_ID_HEADER } from '#lib/log.js';

/** What a browser may send to the router beyond the CORS-safelisted headers. */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  // Apollo Server's CSRF prevention asks GET and simple-type requests for one of these.
  'apollo-require-preflight',
  'x-apollo-operation-name',
  REQUEST_ID_HEADER,
];

/** How long a browser may reuse a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * Whether `origin` (an `Origin` header) is one of `allowed` (CORS_ORIGINS entries, a port
 * may be `*`). Compared whole: `http://localhost.evil.com` is not `http://localhost:*`.
 */
export function originAllowed(allowed: readonly string[], origin: string): boolean {
  const given = /^(https?:\/\/(?:\[[0-9a-f:.]+\]|[^/:[\]]+))(?::\d{1,5})?$/i.exec(origin);
  if (!given) return false;
  const base = given[1]!.toLowerCase();
  return allowed.some(entry => {
    const lower = entry.toLowerCase();
    return lower.endsWith(':*') ? lower.slice(0, -2) === base : lower === origin.toLowerCase();
  });
}

/**
 * CORS for the router: the `cors` package (what Express and Apollo Server's own integrations
 * use) with the origins of CORS_ORIGINS, credentials, the headers this API reads and
 * preflights cached for ten minutes. It answers every `OPTIONS` itself with 204 — without
 * `Access-Control-Allow-*` for an origin not allowed, so the browser refuses — and adds the
 * headers to every other response from an allowed origin. CSRF prevention stays Apollo Server's: CORS only tells
 * browsers what they may read.
 *
 * Returns true when it answered the request (a preflight).
 */
export function corsHandler(allowed: readonly string[]) {
  const middleware = cors({
    origin: (origin, callback) =>
      callback(null, origin !== undefined && originAllowed(allowed, origin)),
    credentials: true,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: [REQUEST_ID_HEADER],
    maxAge: PREFLIGHT_MAX_AGE_S,
    optionsSuccessStatus: 204,
  });
  // With a synchronous `origin` function, `cors` decides synchronously: it either calls `next`
  // or has answered the preflight.
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    let passed = false;
    middleware(req, res, err => {
      if (err) throw err as Error;
      passed = true;
    });
    if (passed && req.method === 'OPTIONS') {
      // A preflight from an origin not allowed: `cors` leaves it alone. Answered all the same
      // (Apollo Server would call it a bad request), with nothing that allows anything.
      res.writeHead(204, { allow: 'GET, POST, OPTIONS', vary: 'Origin', 'content-length': 0 });
      res.end();
      return true;
    }
    return !passed;
  };
}
