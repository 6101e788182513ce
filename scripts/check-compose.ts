import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DCLinter } from 'dclint';
import { parse } from 'yaml';
import { envPrefix, envSchema } from '#lib/config.js';
import { registry } from '#lib/metrics.js';
import { subgraphs } from '../subgraphs/index.js';
import {
  checkObservability,
  seriesNames,
  type BindMount,
  type ObservabilityInput,
} from './check-observability.js';

/**
 * `npm run check:compose`: static checks of the container packaging, for a machine without a
 * Docker engine (CI). docker-compose.yml must be valid Compose (dclint's bundled compose-spec
 * schema, and `docker compose config` too where the compose plugin is installed); app
 * containers get only variables of `envSchema`; everything starts after what it needs is
 * healthy; the image runs as a non-root user and its commands name real entry points; every
 * image is pinned and every UI published on loopback only; and the observability services
 * (scripts/check-observability.ts) see every role.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface CheckResult {
  name: string;
  problems: string[];
  /** Why the check did not run (only the optional `docker compose config`). */
  skipped?: string;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ComposeFile {
  services: Record<string, Dict>;
}

/** Parses docker-compose.yml as Compose does: YAML 1.1 merge keys (`<<: *anchor`) resolved. */
export function parseCompose(text: string): ComposeFile {
  const doc: unknown = parse(text, { merge: true });
  if (!isDict(doc) || !isDict(doc.services)) throw new Error('docker-compose.yml has no services');
  const services: Record<string, Dict> = {};
  for (const [name, service] of Object.entries(doc.services))
    services[name] = isDict(service) ? service : {};
  return { services };
}

/** The services built from this repository's Dockerfile: they run our code and read envSchema. */
export const appServices = (compose: ComposeFile) =>
  Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

/** A YAML scalar as Compose reads it: `null` is empty, numbers and booleans as written. */
const scalarText = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
    ? String(v)
    : v === null || v === undefined
      ? ''
      : JSON.stringify(v);

/** `environment:` as a map, from either of its Compose forms (map, or list of KEY=VALUE). */
export function environmentOf(service: Dict): Record<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map(entry => {
        const text = String(entry);
        const eq = text.indexOf('=');
        return eq === -1 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  if (isDict(env))
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, scalarText(v)]));
  return {};
}

/**
 * Resolves Compose interpolation (`${VAR}`, `${VAR:-default}`, `${VAR:?message}`, `$$`) against
 * `vars`; a required variable that is missing is reported, not thrown.
 */
export function interpolate(
  value: string,
  vars: Record<string, string>,
  missing: string[] = [],
): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (match, name?: string, op?: string, arg?: string) => {
      if (match === '$$') return '$';
      const set = vars[name!];
      const usable = op?.startsWith(':') ? set !== undefined && set !== '' : set !== undefined;
      if (usable) return set!;
      if (op?.endsWith('?')) {
        missing.push(`${name}${arg ? ` (${arg})` : ''}`);
        return '';
      }
      return op?.endsWith('-') ? (arg ?? '') : '';
    },
  );
}

/** Stand-ins for the values `.env` supplies, long enough for envSchema's secret rules. */
const SAMPLE_DOTENV: Record<string, string> = {
  JWT_SECRET: 'x'.repeat(48),
  ROUTER_SECRET: 'y'.repeat(48),
};

export const SECRETS = ['JWT_SECRET', 'ROUTER_SECRET'] as const;

/** The variables of this deployment: the router's and every subgraph's of subgraphs/index.ts. */
const schema = envSchema(subgraphs);

/**
 * Which role a command runs: `router/index.js` → router; `subgraphs/main.js users` → users
 * (a subgraph of subgraphs/index.ts); anything else → undefined.
 */
export function roleOf(command: readonly string[]): string | undefined {
  const at = command.findIndex(part => part.endsWith('.js'));
  const entry = command[at] ?? '';
  if (/(^|\/)router\/index\.js$/.test(entry)) return 'router';
  if (!/(^|\/)subgraphs\/main\.js$/.test(entry)) return undefined;
  return subgraphs.find(s => s.name === command[at + 1])?.name;
}

const commandOf = (service: Dict): string[] =>
  Array.isArray(service.command)
    ? service.command.map(String)
    : typeof service.command === 'string'
      ? service.command.split(/\s+/)
      : [];
const entryOf = (command: string[]) => command.find(part => part.endsWith('.js'));

/**
 * Every variable an app container gets is a key of envSchema, and with `.env`'s secrets in
 * place the whole environment passes envSchema. Secrets come from `.env`, never literals;
 * each role gets what it needs to talk to its database, the broker and (router) the subgraphs.
 */
export function checkEnvironment(compose: ComposeFile): string[] {
  const problems: string[] = [];
  const known = new Set(Object.keys(schema.shape));
  const apps = appServices(compose);
  if (apps.length === 0) problems.push('no service is built from the Dockerfile (`build:`)');
  const roles = new Map(apps.map(([name, service]) => [roleOf(commandOf(service)), name]));
  for (const subgraph of subgraphs) {
    if (!roles.has(subgraph.name))
      problems.push(
        `no service runs the ${subgraph.name} subgraph (subgraphs/main.js ${subgraph.name})`,
      );
  }
  /** The port a subgraph's container listens on: its `<NAME>_PORT`, else its default. */
  const portOf = (name: string) => {
    const service = compose.services[roles.get(name) ?? ''];
    const set = service ? environmentOf(service)[`${envPrefix(name)}_PORT`] : undefined;
    return set ?? String(subgraphs.find(s => s.name === name)?.port);
  };
  for (const [name, service] of apps) {
    const env = environmentOf(service);
    for (const key of Object.keys(env)) {
      if (!known.has(key))
        problems.push(`${name}: ${key} is not a key of envSchema (lib/config.ts)`);
    }
    if (env.NODE_ENV !== 'production') problems.push(`${name}: NODE_ENV must be production`);
    for (const secret of SECRETS) {
      if (!new RegExp(`^\\$\\{${secret}:\\?[^}]*\\}$`).test(env[secret] ?? '')) {
        problems.push(
          `${name}: ${secret} must come from .env as \${${secret}:?…}, not be missing or written out`,
        );
      }
    }
    const missing: string[] = [];
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, interpolate(v, SAMPLE_DOTENV, missing)]),
    );
    if (missing.length > 0)
      problems.push(`${name}: needs variables that .env does not provide: ${missing.join(', ')}`);
    const parsed = schema.safeParse(resolved);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        problems.push(`${name}: ${issue.path.join('.')}: ${issue.message}`);
    }
    const role = roleOf(commandOf(service));
    if (!role) {
      problems.push(
        `${name}: command does not run a role's compiled entry (router/index.js or subgraphs/main.js <name>)`,
      );
      continue;
    }
    if (role === 'router') {
      for (const { name: sub } of subgraphs) {
        const key = `${envPrefix(sub)}_URL`;
        const url = resolved[key];
        if (!url) {
          problems.push(
            `${name}: ${key} is not set (the router would look for ${sub} on localhost)`,
          );
          continue;
        }
        const { hostname, port } = new URL(url);
        const target = compose.services[hostname];
        if (!target) problems.push(`${name}: ${key} points at ${hostname}, which is not a service`);
        const expected = portOf(sub);
        if (port !== expected)
          problems.push(`${name}: ${key} uses port ${port}, ${sub} listens on ${expected}`);
      }
    } else {
      const prefix = envPrefix(role);
      if (!resolved[`${prefix}_PORT`])
        problems.push(`${name}: ${prefix}_PORT is not set (docker/healthcheck.mjs reads it)`);
      if (!resolved[`${prefix}_DATABASE_URL`])
        problems.push(
          `${name}: ${prefix}_DATABASE_URL is not set (it would fall back to an embedded PGlite)`,
        );
      if (!resolved.AMQP_URL)
        problems.push(`${name}: AMQP_URL is not set (it would exchange no events with the others)`);
    }
  }
  return problems;
}

/**
 * Every service has a healthcheck; every app service waits (`depends_on` long form,
 * `condition: service_healthy`) for the services it depends on, and its own healthcheck asks
 * /ready through the image's docker/healthcheck.mjs (which finds the role's port).
 */
export function checkDependencies(compose: ComposeFile): string[] {
  const problems: string[] = [];
  const healthy = (name: string) => {
    const hc = compose.services[name]?.healthcheck;
    return isDict(hc) && hc.disable !== true && Array.isArray(hc.test) && hc.test[0] !== 'NONE';
  };
  for (const [name, service] of Object.entries(compose.services)) {
    if (!healthy(name)) problems.push(`${name}: has no healthcheck`);
    const deps = service.depends_on;
    if (deps === undefined) continue;
    if (!isDict(deps)) {
      problems.push(`${name}: depends_on must be the long form with condition: service_healthy`);
      continue;
    }
    for (const [dep, how] of Object.entries(deps)) {
      if (!compose.services[dep])
        problems.push(`${name}: depends on ${dep}, which is not a service`);
      else if (!healthy(dep)) problems.push(`${name}: depends on ${dep}, which has no healthcheck`);
      if (!isDict(how) || how.condition !== 'service_healthy') {
        problems.push(`${name}: depends on ${dep} without condition: service_healthy`);
      }
    }
  }
  for (const [name, service] of appServices(compose)) {
    if (!isDict(service.depends_on) || Object.keys(service.depends_on).length === 0) {
      problems.push(
        `${name}: depends on nothing; it needs its database, the broker or the subgraphs first`,
      );
    }
    const hc = service.healthcheck;
    if (!roleOf(commandOf(service)) || !isDict(hc)) continue;
    const test = Array.isArray(hc.test) ? hc.test.join(' ') : String(hc.test);
    if (test !== 'CMD node docker/healthcheck.mjs /ready')
      problems.push(`${name}: healthcheck should be node docker/healthcheck.mjs /ready`);
  }
  return problems;
}

/** An image tag that names a release (`17.10`, `v3.14.0`, `4.3-management`) or a digest. */
const PINNED = /(:[^/:@]*\d+\.\d+[^/:@]*|@sha256:[0-9a-f]{64})$/;

/**
 * Every image not built here is pinned to a release, major.minor at least: a bare major
 * (`postgres:17`) or `latest` would change under a running deployment at the next pull.
 */
export function checkImages(compose: ComposeFile): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.build !== undefined) continue;
    const image = typeof service.image === 'string' ? service.image : '';
    if (!PINNED.test(image))
      problems.push(`${name}: image ${image || '(none)'} is not pinned to a release (major.minor)`);
  }
  return problems;
}

/** A published port, from either Compose form: the host address ('' = every interface). */
export function publishedPorts(service: Dict): Array<{ hostIp: string; target: string }> {
  const ports = Array.isArray(service.ports) ? service.ports : [];
  return ports.map(entry => {
    if (isDict(entry))
      return { hostIp: scalarText(entry.host_ip), target: scalarText(entry.target) };
    const text = scalarText(entry).replace(/\/(tcp|udp)$/, '');
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(text);
    if (v6) return { hostIp: v6[1]!, target: v6[2]!.split(':').at(-1)! };
    const parts = text.split(':');
    return { hostIp: parts.length === 3 ? parts[0]! : '', target: parts.at(-1)! };
  });
}

const LOOPBACK_IP = /^(127\.\d+\.\d+\.\d+|::1)$/;

/**
 * Every published port binds the loopback interface (the UIs: RabbitMQ's, Mailpit's, Jaeger's,
 * Prometheus's, Grafana's), except the router's GraphQL port, the one public entry point.
 */
export function checkPublishedPorts(compose: ComposeFile): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const router = service.build !== undefined && roleOf(commandOf(service)) === 'router';
    const routerPort = interpolate(environmentOf(service).ROUTER_PORT ?? '4000', SAMPLE_DOTENV);
    for (const { hostIp, target } of publishedPorts(service)) {
      if (router && target === routerPort) continue;
      if (!LOOPBACK_IP.test(hostIp))
        problems.push(
          `${name}: port ${target} is published on ${hostIp || 'every interface'}, not on loopback (127.0.0.1)`,
        );
    }
  }
  return problems;
}

/** A service's bind mounts (`./path:/in/container[:ro]`, or the long form of type bind). */
export function bindMounts(service: Dict): BindMount[] {
  const volumes = Array.isArray(service.volumes) ? service.volumes : [];
  return volumes.flatMap((entry): BindMount[] => {
    if (isDict(entry))
      return entry.type === 'bind'
        ? [{ source: scalarText(entry.source), target: scalarText(entry.target) }]
        : [];
    const [source = '', target = ''] = scalarText(entry).split(':');
    return /^[./~]/.test(source) ? [{ source, target }] : [];
  });
}

/** What a service mounts from the repository exists (a missing one would be an empty folder). */
export function checkBindMounts(compose: ComposeFile, root: string): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    for (const { source } of bindMounts(service)) {
      if (!existsSync(join(root, source)))
        problems.push(`${name}: mounts ${source}, which is not in the repository`);
    }
  }
  return problems;
}

/**
 * What the observability checks read of the compose file: the app containers with their
 * environment as Compose hands it over (`.env` stand-ins in), the other services' images and
 * bind mounts; `series`, the metric names to hold the dashboards to.
 */
export const observabilityInput = (
  compose: ComposeFile,
  root: string,
  series: ReadonlySet<string>,
): ObservabilityInput => ({
  root,
  services: Object.keys(compose.services),
  apps: appServices(compose).map(([name, service]) => ({
    name,
    role: roleOf(commandOf(service)),
    env: Object.fromEntries(
      Object.entries(environmentOf(service)).map(([k, v]) => [k, interpolate(v, SAMPLE_DOTENV)]),
    ),
  })),
  images: Object.entries(compose.services)
    .filter(([, s]) => s.build === undefined)
    .map(([name, s]) => ({ name, image: scalarText(s.image), mounts: bindMounts(s) })),
  series,
});

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions, line continuations joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.trim().startsWith('#')) return; // a comment inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(full);
    if (match)
      instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!, line: start });
  });
  return instructions;
}

/** JSON-array (exec) form of CMD/HEALTHCHECK, or the shell form split on spaces. */
const execForm = (args: string): string[] => {
  try {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed)) return parsed.map(String);
  } catch {
    // shell form
  }
  return args.split(/\s+/);
};

/**
 * The runtime (last) stage runs as a non-root user; the commands of the image and of the
 * compose services name compiled entry points whose sources exist; every COPY from the
 * build context names something that exists.
 */
export function checkDockerfile(dockerfile: string, compose: ComposeFile, root: string): string[] {
  const problems: string[] = [];
  const instructions = parseDockerfile(dockerfile);
  const froms = instructions.map((ins, i) => (ins.keyword === 'FROM' ? i : -1)).filter(i => i >= 0);
  if (froms.length < 2)
    problems.push('Dockerfile: expected a multi-stage build (deps/build, then runtime)');
  const runtime = instructions.slice(froms.at(-1) ?? 0);
  const users = runtime.filter(ins => ins.keyword === 'USER');
  const user = users.at(-1)?.args.trim().split(':')[0];
  if (!user) problems.push('Dockerfile: the runtime stage has no USER: it would run as root');
  else if (user === 'root' || user === '0')
    problems.push(`Dockerfile: the runtime stage runs as ${user}`);

  const commands: Array<[string, string[]]> = [];
  const cmd = runtime.filter(ins => ins.keyword === 'CMD').at(-1);
  if (!cmd) problems.push('Dockerfile: the runtime stage has no CMD');
  else commands.push(['Dockerfile CMD', execForm(cmd.args)]);
  for (const [name, service] of appServices(compose))
    commands.push([`compose ${name} command`, commandOf(service)]);
  for (const [where, command] of commands) {
    const entry = entryOf(command) ?? '';
    if (!roleOf(command)) {
      problems.push(`${where}: runs ${entry || 'no .js file'}, not a role's compiled entry`);
    } else if (!existsSync(join(root, entry.replace(/\.js$/, '.ts')))) {
      problems.push(
        `${where}: ${entry} would be compiled from ${entry.replace(/\.js$/, '.ts')}, which does not exist`,
      );
    }
  }

  for (const ins of instructions.filter(i => i.keyword === 'COPY' || i.keyword === 'ADD')) {
    const parts = execForm(ins.args).filter(p => p !== '');
    if (parts.some(p => p.startsWith('--from='))) continue;
    const sources = parts.filter(p => !p.startsWith('--')).slice(0, -1);
    for (const source of sources) {
      if (!existsSync(join(root, source)))
        problems.push(`Dockerfile line ${ins.line}: COPY source ${source} does not exist`);
    }
  }
  return problems;
}

/**
 * dclint's .d.ts files import their siblings without extensions, which NodeNext cannot
 * follow: this is the part of its API we use, as its README documents it.
 */
type DCLinterClass = new (config: object) => {
  lintFiles(
    paths: string[],
    fix: boolean,
  ): Array<{ messages: Array<{ line: number; message: string; rule: string }> }>;
};

/** dclint: YAML validity, the compose-spec JSON schema it bundles, and its rules (ordering ones off). */
export function lintCompose(path: string): string[] {
  const linter = new (DCLinter as unknown as DCLinterClass)({
    rules: {
      // Services are listed in start order and keys grouped by purpose, not sorted.
      'services-alphabetical-order': 0,
      'service-keys-order': 0,
      'service-dependencies-alphabetical-order': 0,
      'top-level-properties-order': 0,
      'require-quotes-in-ports': [2, { quoteType: 'double' }],
    },
    quiet: true,
    debug: false,
    exclude: [],
  });
  const results = linter.lintFiles([path], false);
  return results.flatMap(result =>
    result.messages.map(m => `${path}:${m.line}: ${m.message} (${m.rule})`),
  );
}

/**
 * `docker compose config -q`: Compose's own parser and validation. Needs only the CLI plugin,
 * not an engine; skipped where the plugin is not installed.
 */
export function dockerComposeConfig(path: string): CheckResult {
  const name = 'docker compose config';
  const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0)
    return { name, problems: [], skipped: 'the docker compose plugin is not installed' };
  const run = spawnSync('docker', ['compose', '-f', path, 'config', '-q'], {
    encoding: 'utf8',
    env: {
      ...process.env,
      ...Object.fromEntries(SECRETS.map(s => [s, process.env[s] || SAMPLE_DOTENV[s]!])),
    },
  });
  const output = `${run.stdout}${run.stderr}`.trim();
  return { name, problems: run.status === 0 ? [] : [output || `exited with ${run.status}`] };
}

/** All the checks, on the files at `root`. */
export async function checkPackaging(root = ROOT): Promise<CheckResult[]> {
  const composePath = join(root, 'docker-compose.yml');
  const results: CheckResult[] = [
    { name: 'compose schema and lint (dclint)', problems: lintCompose(composePath) },
  ];
  results.push(dockerComposeConfig(composePath));
  let compose: ComposeFile;
  try {
    compose = parseCompose(readFileSync(composePath, 'utf8'));
  } catch (err) {
    return [...results, { name: 'parse docker-compose.yml', problems: [(err as Error).message] }];
  }
  results.push({ name: 'app environment ⊆ envSchema', problems: checkEnvironment(compose) });
  results.push({ name: 'healthchecks and depends_on', problems: checkDependencies(compose) });
  results.push({ name: 'images pinned to a release', problems: checkImages(compose) });
  results.push({ name: 'UIs published on loopback only', problems: checkPublishedPorts(compose) });
  results.push({ name: 'bind mounts exist', problems: checkBindMounts(compose, root) });
  results.push({
    name: 'Dockerfile: non-root runtime, entry points, COPY sources',
    problems: checkDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'), compose, root),
  });
  // The metrics the code registers, as /metrics would print them (lib/metrics.ts).
  const series = seriesNames(await registry.metrics());
  results.push(...checkObservability(observabilityInput(compose, root, series)));
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await checkPackaging();
  for (const result of results) {
    const status = result.skipped
      ? `skipped: ${result.skipped}`
      : result.problems.length === 0
        ? 'ok'
        : 'FAILED';
    process.stdout.write(`${result.name}: ${status}\n`);
    for (const problem of result.problems) process.stdout.write(`  - ${problem}\n`);
  }
  if (results.some(r => r.problems.length > 0)) process.exitCode = 1;
}
