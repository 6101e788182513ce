import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a quiet, offline headless Chromium: no sandbox (root in CI), no GPU, none of the
 * background traffic (updates, sync, safe browsing), and no name resolves but loopback's, so
 * nothing leaves the machine even if a page asks.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

/** Where screenshots of failed browser tests are kept: a temporary directory, never the checkout. */
const SCREENSHOT_DIR = join(tmpdir(), 'supergraph-browser-e2e');

export interface TestBrowser {
  browser: Browser;
  context: BrowserContext;
  /**
   * What anything in the browser tried to reach beyond loopback, all refused by the proxy:
   * the pages' requests, and Chromium's own background traffic (updates, sign-in, autofill)
   * that the flags do not silence.
   */
  refused: string[];
  /** URLs the pages asked for beyond loopback (never answered). */
  offsite: string[];
  newPage(): Promise<Page>;
  /** Screenshots every open page into SCREENSHOT_DIR, named after `test`; returns the paths. */
  screenshots(test: string): Promise<string[]>;
  close(): Promise<void>;
}

const LOOPBACK = /^(https?|wss?):\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//;

/**
 * The only proxy the browser has: it forwards nothing, records what it was asked for (a URL
 * for http, `host:port` for a CONNECT) and refuses it. Chromium reaches loopback directly
 * (never through a proxy), so a page gets exactly loopback and nothing else — an IP address
 * included, which the resolver rules alone would not stop. Not request interception:
 * Playwright answers CORS preflights itself for routed requests, which would hide what the
 * router answers.
 */
async function startRefusingProxy(refused: string[]): Promise<Server> {
  const proxy = createServer((req, res) => {
    refused.push(req.url ?? '');
    res.writeHead(502).end();
  });
  proxy.on('connect', (req: IncomingMessage, socket: Duplex) => {
    refused.push(req.url ?? '');
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve));
  return proxy;
}

/**
 * Headless Chromium through playwright-core, allowed to reach loopback alone: any other host
 * is unresolvable, and any other address goes to a proxy that refuses it and records it in
 * `refused` (so a test can assert a page needs nothing from outside).
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const refused: string[] = [];
  const proxy = await startRefusingProxy(refused);
  const { port } = proxy.address() as AddressInfo;
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, `--proxy-server=http://127.0.0.1:${port}`],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const offsite: string[] = [];
  context.on('request', request => {
    const url = request.url();
    if (!LOOPBACK.test(url) && !/^(data|blob):/.test(url)) offsite.push(url);
  });
  return {
    browser,
    context,
    refused,
    offsite,
    newPage: () => context.newPage(),
    async screenshots(test) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const name = test.replace(/[^\w-]+/g, '-').slice(0, 80);
      const paths: string[] = [];
      for (const [i, page] of context.pages().entries()) {
        const path = join(SCREENSHOT_DIR, `${name}-${i}.png`);
        await page.screenshot({ path, fullPage: true }).catch(() => undefined);
        paths.push(path);
      }
      return paths;
    },
    close: async () => {
      await browser.close();
      proxy.close();
    },
  };
}
