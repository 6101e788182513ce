import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPHIQL_PATH } from '../../router/explorer.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';

/**
 * The explorers the router serves: Apollo Sandbox as the development landing page, falling
 * back to the bundled GraphiQL (always at /graphiql in development) when Apollo's CDN cannot
 * be reached; neither in production. What the page does in a browser: browser.e2e.test.ts.
 */

/** Every URL the page would fetch by itself: attributes, CSS `url()`, `@import`. */
function fetchedUrls(html: string): string[] {
  const urls = [
    ...html.matchAll(/\b(?:src|href|action|poster|data)\s*=\s*["']?([^"'\s>]+)/gi),
    ...html.matchAll(/url\(\s*["']?([^"')]+)/gi),
    ...html.matchAll(/@import\s+["']([^"']+)/gi),
  ].map(match => match[1]!);
  return urls.filter(url => /^(https?:)?\/\//i.test(url));
}

describe('in development', () => {
  let sg: TestSupergraph;
  let origin: string;
  beforeAll(async () => {
    sg = await startTestSupergraph();
    origin = new URL(sg.url).origin;
  });
  afterAll(() => sg?.stop());

  it('serves a self-contained GraphiQL at /graphiql: no CDN, nothing from another origin', async () => {
    const res = await fetch(`${origin}${GRAPHIQL_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('YogaGraphiQL.renderYogaGraphiQL');
    expect(html).toContain('graphqlWs.createClient');
    expect(fetchedUrls(html)).toEqual([]);
    expect(html).not.toMatch(/unpkg|jsdelivr|cdnjs|googleapis|cdn\.apollographql/i);
  });

  it('preconfigures GraphiQL for this API: example operations and the Authorization header', async () => {
    const html = await (await fetch(`${origin}${GRAPHIQL_PATH}`)).text();
    for (const operation of [
      'mutation Register',
      'mutation Login',
      'query MyWork',
      'subscription TaskChanged',
    ]) {
      expect(html).toContain(operation);
    }
    expect(html).toContain('\\"Authorization\\": \\"\\"');
    expect(html).toContain('connectionParams: authorization ? { authorization: authorization }');
  });

  it('keeps Apollo Sandbox as the landing page, falling back to GraphiQL when its CDN fails', async () => {
    const res = await fetch(sg.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('embeddable-sandbox.cdn.apollographql.com');
    // The fallback runs after the CDN's script and before Sandbox starts, under the page's nonce.
    expect(html).toMatch(
      /embeddable-sandbox[^\n]*<\/script>\s*<script nonce="[0-9a-f]+">if \(!window\.EmbeddedSandbox\) location\.replace\(new URL\('graphiql'/,
    );
    expect(html).toContain('<a href="graphiql">open GraphiQL</a>');
  });

  it('answers only GET and HEAD at /graphiql', async () => {
    const head = await fetch(`${origin}${GRAPHIQL_PATH}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(1_000_000);
    const post = await fetch(`${origin}${GRAPHIQL_PATH}`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(404);
  });
});

describe('in production', () => {
  let sg: TestSupergraph;
  let origin: string;
  beforeAll(async () => {
    sg = await startTestSupergraph({ env: { NODE_ENV: 'production' } });
    origin = new URL(sg.url).origin;
  });
  afterAll(() => sg?.stop());

  it('serves no explorer: /graphiql is 404 and /graphql shows no Sandbox', async () => {
    const graphiql = await fetch(`${origin}${GRAPHIQL_PATH}`);
    expect(graphiql.status).toBe(404);
    expect(await graphiql.text()).not.toContain('GraphiQL');
    const landing = await fetch(sg.url, { headers: { accept: 'text/html' } });
    expect(await landing.text()).not.toMatch(/Sandbox|graphiql/i);
  });

  it('allows no browser origin until CORS_ORIGINS says so', async () => {
    const res = await fetch(sg.url, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
