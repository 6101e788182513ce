import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GRAPHIQL_PATH } from '../../router/explorer.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { registerUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * A real browser — Debian's Chromium driven by playwright-core, headless, with nothing but
 * loopback reachable — against the router: the explorer as a person uses it (register, a
 * federated query, a subscription that shows an event made by another client), the landing
 * page's fallback when Apollo's CDN is out of reach, and pages of other origins calling the API
 * with `fetch` (CORS). A failing test leaves screenshots in SCREENSHOT_DIR (printed).
 */
let sg: TestSupergraph;
let browser: TestBrowser;
let origin: string;
/** Two pages of other origins: one CORS_ORIGINS allows, one it does not. */
let allowedSite: { server: Server; origin: string };
let foreignSite: { server: Server; origin: string };

/** A tiny site on its own port: one blank page, from which the tests call the API. */
async function startSite(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>another origin</title><p>another origin</p>');
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  allowedSite = await startSite();
  foreignSite = await startSite();
  sg = await startTestSupergraph({ env: { CORS_ORIGINS: allowedSite.origin } });
  origin = new URL(sg.url).origin;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await sg?.stop();
  for (const site of [allowedSite, foreignSite]) site?.server.close();
});
beforeEach(({ task, onTestFailed }) => {
  onTestFailed(async () => {
    const paths = await browser.screenshots(task.name);
    console.error(`screenshots of "${task.name}":\n  ${paths.join('\n  ')}`);
  });
});

/** What an editor (Monaco) of the page shows, as text. */
const editorText = (page: Page, selector: string) =>
  page
    .locator(selector)
    .first()
    .innerText()
    .then(text => text.replace(/\u00a0/g, ' '));

/** Runs one operation of GraphiQL's document: the run button asks which. */
async function run(page: Page, operation: string) {
  await page.locator('.graphiql-execute-button').click();
  await page.getByRole('menuitem', { name: operation, exact: true }).click();
}

/** Replaces the Headers editor's content, as pasting would. */
async function setHeaders(page: Page, headers: Record<string, string>) {
  await page.getByRole('button', { name: 'Headers', exact: true }).click();
  const editor = page.locator('.graphiql-editor-tool .graphiql-editor:visible').first();
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(JSON.stringify(headers));
  // The editor closes quotes and braces as if typed: drop what it added after the text.
  await page.keyboard.press('Shift+ControlOrMeta+End');
  await page.keyboard.press('Delete');
}

describe('the explorer', () => {
  it('registers, runs a federated query and shows a subscription event made by another client', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}${GRAPHIQL_PATH}`);
    await page.locator('.graphiql-execute-button').waitFor();

    // Register, with the example's variables, and read the token from the answer.
    const registered = page.waitForResponse(
      r => r.url() === sg.url && (r.request().postData() ?? '').includes('Register'),
    );
    await run(page, 'Register');
    const answer = (await (await registered).json()) as {
      data: { register: { accessToken: string; user: { username: string } } };
    };
    const { accessToken, user } = answer.data.register;
    expect(user.username).toBe('ada');
    await waitFor(async () => (await editorText(page, '.result-window')).includes('accessToken'));

    // The federated query, signed in through the Headers editor.
    await setHeaders(page, { Authorization: `Bearer ${accessToken}` });
    await createTask(sg, { accessToken }, { title: 'made before the query' });
    await run(page, 'MyWork');
    await waitFor(
      async () => (await editorText(page, '.result-window')).includes('made before the query'),
      {
        message: 'the query result never showed the task',
      },
    );
    expect(await editorText(page, '.result-window')).toContain('"username": "ada"');

    // The subscription, over graphql-ws with the header in connection_init; an event made by
    // another client appears in the page.
    const before = sg.supergraph.subgraphs.tasks!.activeSubscriptions();
    await run(page, 'TaskChanged');
    await waitFor(() => sg.supergraph.subgraphs.tasks!.activeSubscriptions() === before + 1, {
      message: 'the page never subscribed',
    });
    await createTask(sg, { accessToken }, { title: 'seen in the browser' });
    await waitFor(
      async () => (await editorText(page, '.result-window')).includes('seen in the browser'),
      {
        message: 'the event never appeared in the page',
      },
    );
    expect(await editorText(page, '.result-window')).toMatch(
      /"kind": "CREATED"[\s\S]*"username": "ada"/,
    );

    // Nothing was fetched from beyond loopback: the page is self-contained.
    expect(browser.offsite).toEqual([]);
    await page.close();
  });

  it('is where the landing page goes when Apollo Sandbox cannot load from its CDN', async () => {
    const page = await browser.newPage();
    await page.goto(sg.url);
    await page.waitForURL(`${origin}${GRAPHIQL_PATH}`);
    await page.locator('.graphiql-execute-button').waitFor();
    // It did try Apollo's CDN (refused here, as it would be offline), then fell back.
    expect(browser.offsite).toContainEqual(
      expect.stringMatching(/^https:\/\/embeddable-sandbox\.cdn\.apollographql\.com\//),
    );
    expect(browser.refused).toContain('embeddable-sandbox.cdn.apollographql.com:443');
    browser.offsite.splice(0);
    await page.close();
  });
});

describe('a page of another origin calling the API with fetch', () => {
  /** Runs a signed-in `fetch` from a page of `site`: its answer, or how the browser refused it. */
  async function fetchFrom(site: { origin: string }, token: string, query: string) {
    const page = await browser.newPage();
    try {
      await page.goto(`${site.origin}/`);
      return await page.evaluate(
        async ({ url, token, query }) => {
          try {
            const res = await fetch(url, {
              method: 'POST',
              credentials: 'include',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: JSON.stringify({ query }),
            });
            return { status: res.status, body: await res.json() };
          } catch (err) {
            return { refused: String(err) };
          }
        },
        { url: sg.url, token, query },
      );
    } finally {
      await page.close();
    }
  }

  it('works from an origin CORS_ORIGINS allows (preflight, credentials, the Authorization header)', async () => {
    const user = await registerUser(sg, 'cors');
    const answer = await fetchFrom(allowedSite, user.accessToken, '{ me { username } }');
    expect(answer).toEqual({ status: 200, body: { data: { me: { username: user.username } } } });
  });

  it('is refused by the browser from any other origin, and nothing runs', async () => {
    const user = await registerUser(sg, 'foreign');
    const answer = await fetchFrom(
      foreignSite,
      user.accessToken,
      'mutation { createTask(input: { title: "from a foreign origin" }) { id } }',
    );
    expect(answer).toEqual({ refused: expect.stringMatching(/Failed to fetch/) as unknown });
    const tasks = await sg.gql<{ tasks: { totalCount: number } }>('{ tasks { totalCount } }', {
      token: user.accessToken,
    });
    expect(tasks.data?.tasks.totalCount).toBe(0);
  });
});
