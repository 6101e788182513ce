import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { Logger } from '#lib/log.js';

/** Where the bundled GraphiQL is served, next to /graphql (development only). */
export const GRAPHIQL_PATH = '/graphiql';

/**
 * The document GraphiQL opens with: one operation each to sign up, sign in, read across the
 * subgraphs and listen, picked with the run button (their variables have distinct names, so
 * one variables document serves them all).
 */
const EXAMPLE_OPERATIONS = `# This router's API. Run an operation with the button (it asks which), or Ctrl-Enter
# on one. Register or Login, then set the Authorization header (Headers, below) to
# "Bearer <accessToken>": it is sent with queries and in graphql-ws's connection_init.

mutation Register($registration: RegisterInput!) {
  register(input: $registration) {
    accessToken
    refreshToken
    user { id username displayName }
  }
}

mutation Login($credentials: LoginInput!) {
  login(input: $credentials) {
    accessToken
    refreshToken
    user { id username }
  }
}

# One query across users, tasks and notifications.
query MyWork {
  me {
    username
    displayName
    tasks(first: 5) { totalCount edges { node { id title status assignee { displayName } } } }
    unreadNotificationCount
  }
}

# Streams over graphql-ws on this URL: change a task (another tab, another client) to see it.
subscription TaskChanged {
  taskChanged {
    kind
    taskId
    task { title status owner { displayName } }
    actor { username }
  }
}
`;
const EXAMPLE_VARIABLES = JSON.stringify(
  {
    registration: { username: 'ada', email: 'ada@example.com', password: 'correct horse battery' },
    credentials: { login: 'ada', password: 'correct horse battery' },
  },
  null,
  2,
);
// Empty until signed in: an empty Authorization is anonymous (introspection works).
const EXAMPLE_HEADERS = JSON.stringify({ Authorization: '' }, null, 2);

/**
 * GraphiQL's fetcher for this router, in the page: queries and mutations over HTTP POST to
 * /graphql with the headers of the Headers editor; subscriptions over graphql-ws on the same
 * URL, the editor's `Authorization` sent in `connection_init` (where the router reads it on a
 * socket), one lazy client per distinct `Authorization`.
 */
const FETCHER = `
(function () {
  var endpoint = new URL('graphql', location.href).toString();
  var clients = {};
  function client(authorization) {
    var key = authorization || '';
    if (!clients[key]) {
      clients[key] = graphqlWs.createClient({
        url: endpoint.replace(/^http/, 'ws'),
        connectionParams: authorization ? { authorization: authorization } : {},
        retryAttempts: 2,
      });
    }
    return clients[key];
  }
  function header(headers, name) {
    for (var key in headers) if (key.toLowerCase() === name) return String(headers[key]);
    return undefined;
  }
  function operationType(params, documentAST) {
    var definitions = (documentAST && documentAST.definitions) || [];
    for (var i = 0; i < definitions.length; i++) {
      var d = definitions[i];
      if (d.kind !== 'OperationDefinition') continue;
      if (!params.operationName || (d.name && d.name.value === params.operationName)) return d.operation;
    }
    var match = /^\\s*(query|mutation|subscription)\\b/m.exec(params.query.replace(/#[^\\n]*/g, ''));
    return match ? match[1] : 'query';
  }
  window.routerFetcher = function (params, options) {
    var headers = {};
    var given = (options && options.headers) || {};
    // An empty header (the Authorization placeholder) is not sent.
    for (var name in given) if (given[name] !== '' && given[name] != null) headers[name] = given[name];
    if (operationType(params, options && options.documentAST) === 'subscription') {
      return client(header(headers, 'authorization')).iterate({
        query: params.query,
        operationName: params.operationName || undefined,
        variables: params.variables || undefined,
      });
    }
    return fetch(endpoint, {
      method: 'POST',
      credentials: 'same-origin',
      headers: Object.assign(
        { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
        headers
      ),
      body: JSON.stringify(params),
    }).then(function (response) { return response.json(); });
  };
})();
`;

/** `</script>` inside inlined code would end the script element early. */
const inline = (code: string) => code.replace(/<\/(script)/gi, '<\\/$1');

/**
 * The GraphiQL page: GraphQL Yoga's self-contained GraphiQL build (`@graphql-yoga/render-graphiql`:
 * the editor, its web workers, styles and icon inlined) and graphql-ws's browser build, with
 * this router's fetcher and example operations. It references no other URL, so it works with
 * no network at all. Built once, on first use: the bundle is large (about 9 MB) and production
 * never loads it.
 */
async function renderGraphiQL(): Promise<string> {
  const assets = await import('@graphql-yoga/render-graphiql/graphiql');
  const require = createRequire(import.meta.url);
  const graphqlWs = await readFile(
    join(dirname(require.resolve('graphql-ws')), '..', 'umd', 'graphql-ws.min.js'),
    'utf8',
  );
  const options = {
    title: 'Supergraph GraphiQL',
    defaultQuery: EXAMPLE_OPERATIONS,
    variables: EXAMPLE_VARIABLES,
    headers: EXAMPLE_HEADERS,
    shouldPersistHeaders: true,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: true,
  };
  const worker = (code: string) => JSON.stringify(code);
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${options.title}</title>
    <link rel="icon" href="${assets.favicon}" />
    <style>${assets.css}</style>
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run GraphiQL.</noscript>
    <div id="root"></div>
    <script>${inline(graphqlWs)}</script>
    <script>${inline(FETCHER)}</script>
    <script>
      function workerUrl(code) {
        return URL.createObjectURL(new Blob([code], { type: 'application/javascript' }));
      }
      var workers = {
        editorWorkerService: workerUrl(${inline(worker(assets.editorWorkerService))}),
        json: workerUrl(${inline(worker(assets.jsonWorker))}),
        graphql: workerUrl(${inline(worker(assets.graphqlWorker))}),
      };
      self.MonacoEnvironment = {
        globalAPI: false,
        getWorkerUrl: function (moduleId, label) { return workers[label]; },
      };
      ${inline(assets.js)};
      YogaGraphiQL.renderYogaGraphiQL(
        document.querySelector('#root'),
        Object.assign(${inline(JSON.stringify(options))}, { fetcher: window.routerFetcher }),
      );
    </script>
  </body>
</html>`;
}

/**
 * Serves GraphiQL at GRAPHIQL_PATH: a handler answering GET and HEAD there, true when it
 * answered. Mounted only outside production (like Apollo Sandbox).
 */
export function graphiqlHandler(log: Logger) {
  let page: Promise<Buffer> | undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== GRAPHIQL_PATH || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    page ??= renderGraphiQL().then(html => Buffer.from(html));
    let body: Buffer;
    try {
      body = await page;
    } catch (err) {
      page = undefined;
      log.error({ err }, 'GraphiQL could not be rendered');
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('GraphiQL could not be rendered; see the router log');
      return true;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

/** Marks where Apollo's landing page starts Sandbox, once its CDN script has (or has not) loaded. */
const SANDBOX_START = /(<script nonce="([^"]+)">\s*var initialEndpoint)/;

/**
 * Apollo Sandbox as the development landing page (Apollo Server's own, embedded), falling back
 * to the bundled GraphiQL when Apollo's CDN cannot be reached: a script, allowed by the page's
 * nonce, runs after the CDN's and goes to GRAPHIQL_PATH if Sandbox did not load. Throws at
 * start-up if Apollo's page no longer has the shape this relies on (a test holds it to it).
 */
export function landingPageWithFallback<
  TContext extends BaseContext,
>(): ApolloServerPlugin<TContext> {
  const sandbox = ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false });
  return {
    async serverWillStart(service) {
      const listener = await sandbox.serverWillStart?.(service);
      if (!listener?.renderLandingPage) throw new Error('Apollo Sandbox renders no landing page');
      const render = () => listener.renderLandingPage!();
      return {
        ...listener,
        async renderLandingPage() {
          const page = await render();
          const original = page.html;
          const html = async () => {
            const text = typeof original === 'string' ? original : await original();
            if (!SANDBOX_START.test(text)) throw new Error('unexpected Apollo Sandbox page');
            return text
              .replace(
                SANDBOX_START,
                `<script nonce="$2">if (!window.EmbeddedSandbox) location.replace(new URL('${GRAPHIQL_PATH.slice(1)}', location.href));</script>\n$1`,
              )
              .replace(
                'it appears that you might be offline.',
                `it appears that you might be offline: <a href="${GRAPHIQL_PATH.slice(1)}">open GraphiQL</a>.`,
              );
          };
          return { ...page, html };
        },
      };
    },
  };
}
