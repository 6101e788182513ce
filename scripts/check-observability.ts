import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { parser } from '@prometheus-io/lezer-promql';
import { loadTelemetryConfig } from '#lib/config.js';

/**
 * The observability half of `npm run check:compose` (scripts/check-compose.ts builds its
 * input): traces go to a collector of the compose file, Prometheus scrapes every role's
 * /metrics where the role serves it, Grafana's data sources are services of the compose file,
 * and every metric its dashboards plot is one the code registers. Nothing runs in Docker.
 */

/** An app container as the checks see it: its role and its environment, `.env` interpolated. */
export interface AppContainer {
  name: string;
  role: string | undefined;
  env: Record<string, string>;
}

/** A bind mount of a service: a path of the repository, and where the container sees it. */
export interface BindMount {
  source: string;
  target: string;
}

/** What the observability checks need of the compose file. */
export interface ObservabilityInput {
  root: string;
  /** Every service name of the compose file. */
  services: readonly string[];
  apps: readonly AppContainer[];
  /** Bind mounts, and the image, of each service that is not built from the Dockerfile. */
  images: ReadonlyArray<{ name: string; image: string; mounts: readonly BindMount[] }>;
  /** The series names the code exposes (`seriesNames` of a /metrics text). */
  series: ReadonlySet<string>;
}

/**
 * Series a Prometheus text exposition offers, from its `# TYPE` lines (a family with no sample
 * yet is still declared): a histogram `x` is scraped as `x_bucket`, `x_sum` and `x_count`.
 */
export function seriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Series Prometheus writes itself for every target; a dashboard may plot them. */
const SYNTHETIC_SERIES = ['up'];

/**
 * Grafana's interval variables, with a value of the right kind, so the expression parses as
 * Prometheus will receive it. Any other `$variable` is left in and fails to parse.
 */
const GRAFANA_VARIABLES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
};

/**
 * The metric names a PromQL expression selects (Prometheus's own grammar, lezer-promql),
 * or the parse problem.
 */
export function promqlMetricNames(expr: string): { names: string[]; error?: string } {
  const text = expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    return GRAFANA_VARIABLES[name] ?? whole;
  });
  const tree = parser.parse(text);
  const names: string[] = [];
  let error: string | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError && error === undefined)
        error = `does not parse at ${JSON.stringify(text.slice(node.from, node.from + 20))}`;
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) names.push(text.slice(identifier.from, identifier.to));
      }
    },
  });
  return error === undefined ? { names } : { names, error };
}

const datasourceRef = z.object({ type: z.string().optional(), uid: z.string() }).loose();
const target = z
  .object({ refId: z.string(), datasource: datasourceRef.optional(), expr: z.string().optional() })
  .loose();
interface Panel {
  type: string;
  title: string;
  datasource?: z.infer<typeof datasourceRef> | undefined;
  targets?: Array<z.infer<typeof target>> | undefined;
  panels?: Panel[] | undefined;
}
const panel: z.ZodType<Panel> = z.lazy(() =>
  z
    .object({
      type: z.string(),
      title: z.string(),
      datasource: datasourceRef.optional(),
      targets: z.array(target).optional(),
      // A collapsed row keeps its panels inside it.
      panels: z.array(panel).optional(),
    })
    .loose(),
);
/** The part of Grafana's dashboard JSON model the checks read. */
export const dashboardSchema = z
  .object({ uid: z.string().min(1), title: z.string().min(1), panels: z.array(panel) })
  .loose();
export type Dashboard = z.infer<typeof dashboardSchema>;

/** Every panel, those inside rows included, in order. */
export const panelsOf = (dashboard: Dashboard): Panel[] =>
  dashboard.panels.flatMap(p => [p, ...(p.panels ?? [])]);

const datasourcesSchema = z.object({
  datasources: z.array(
    z.object({ name: z.string(), uid: z.string(), type: z.string(), url: z.string() }).loose(),
  ),
});
type Datasource = z.infer<typeof datasourcesSchema>['datasources'][number];

/**
 * A dashboard's panels query provisioned data sources (by uid, of the same type), and every
 * Prometheus query parses and selects only series of `series`.
 */
export function checkDashboard(
  file: string,
  json: unknown,
  series: ReadonlySet<string>,
  datasources: readonly Datasource[],
): string[] {
  const parsed = dashboardSchema.safeParse(json);
  if (!parsed.success)
    return parsed.error.issues.map(i => `${file}: ${i.path.join('.')}: ${i.message}`);
  const problems: string[] = [];
  const known = new Set([...series, ...SYNTHETIC_SERIES]);
  for (const p of panelsOf(parsed.data)) {
    if (p.type === 'row') continue;
    const where = `${file}: panel "${p.title}"`;
    if (!p.targets?.length) problems.push(`${where} has no query`);
    for (const t of p.targets ?? []) {
      const ref = t.datasource ?? p.datasource;
      const source = datasources.find(d => d.uid === ref?.uid);
      if (!source) {
        problems.push(`${where}: data source ${ref?.uid ?? '(none)'} is not provisioned`);
        continue;
      }
      if (ref?.type !== undefined && ref.type !== source.type)
        problems.push(`${where}: data source ${source.uid} is ${source.type}, not ${ref.type}`);
      if (source.type !== 'prometheus') continue;
      if (!t.expr) {
        problems.push(`${where}: query ${t.refId} has no expr`);
        continue;
      }
      const { names, error } = promqlMetricNames(t.expr);
      if (error) problems.push(`${where}: query ${t.refId} ${error}`);
      if (names.length === 0 && !error)
        problems.push(`${where}: query ${t.refId} selects no metric`);
      for (const name of names) {
        if (!known.has(name))
          problems.push(`${where}: ${name} is not a metric the services expose`);
      }
    }
  }
  return problems;
}

/** Where a bind-mounted container path comes from, in the repository; undefined if not mounted. */
function hostPath(root: string, mounts: readonly BindMount[], path: string): string | undefined {
  for (const { source, target } of mounts) {
    const inside = target.replace(/\/+$/, '');
    if (path === inside || path.startsWith(`${inside}/`))
      return join(isAbsolute(source) ? source : join(root, source), path.slice(inside.length));
  }
  return undefined;
}

const readYaml = (path: string): unknown => parse(readFileSync(path, 'utf8'));

const LOOPBACK = /^(127\.|localhost$|::1$|\[::1\]$)/;

const scrapeSchema = z.object({
  scrape_configs: z.array(
    z
      .object({
        job_name: z.string(),
        metrics_path: z.string().optional(),
        scheme: z.string().optional(),
        authorization: z.unknown().optional(),
        static_configs: z.array(z.object({ targets: z.array(z.string()) }).loose()),
      })
      .loose(),
  ),
});

/**
 * Prometheus scrapes each app container once, at `<service>:<METRICS_PORT>/metrics`, where
 * the service serves its metrics to the compose network (METRICS_HOST not loopback), with the
 * token when METRICS_TOKEN asks for one; and nothing that is not one of them.
 */
export function checkScrapeTargets(file: string, config: unknown, apps: readonly AppContainer[]) {
  const parsed = scrapeSchema.safeParse(config);
  if (!parsed.success)
    return parsed.error.issues.map(i => `${file}: ${i.path.join('.')}: ${i.message}`);
  const problems: string[] = [];
  const scraped = new Map<string, number>();
  for (const job of parsed.data.scrape_configs) {
    const where = `${file}: job ${job.job_name}`;
    if ((job.metrics_path ?? '/metrics') !== '/metrics')
      problems.push(`${where}: scrapes ${job.metrics_path}; the services serve /metrics`);
    if ((job.scheme ?? 'http') !== 'http')
      problems.push(`${where}: scheme ${job.scheme}; the metrics port speaks plain HTTP`);
    for (const address of job.static_configs.flatMap(s => s.targets)) {
      const [host = '', port = ''] = address.split(':');
      const app = apps.find(a => a.name === host);
      if (!app) {
        problems.push(`${where}: ${address} is not a service of the supergraph`);
        continue;
      }
      scraped.set(host, (scraped.get(host) ?? 0) + 1);
      const metricsPort = app.env.METRICS_PORT ?? '';
      if (metricsPort === '' || metricsPort === '0') {
        problems.push(
          `${where}: ${host} has no METRICS_PORT; in production its /metrics is not served without one or a token`,
        );
      } else if (port !== metricsPort) {
        problems.push(`${where}: ${address}, but ${host} serves /metrics on ${metricsPort}`);
      }
      const metricsHost = app.env.METRICS_HOST ?? '127.0.0.1';
      if (LOOPBACK.test(metricsHost))
        problems.push(
          `${where}: ${host} binds /metrics to ${metricsHost}; Prometheus cannot reach it (set METRICS_HOST)`,
        );
      if (app.env.METRICS_TOKEN && job.authorization === undefined)
        problems.push(`${where}: ${host} asks for METRICS_TOKEN; the job sends no authorization`);
    }
  }
  for (const app of apps) {
    const times = scraped.get(app.name) ?? 0;
    if (times !== 1) problems.push(`${file}: ${app.name} is scraped ${times} times, not once`);
  }
  return problems;
}

/**
 * Each app container starts the OpenTelemetry SDK (lib/config.ts's loadTelemetryConfig, as the
 * service does) and exports to OTLP/HTTP on a service of the compose file that is not ours.
 */
export function checkTraceExport(
  apps: readonly AppContainer[],
  services: readonly string[],
): string[] {
  const problems: string[] = [];
  for (const app of apps) {
    let config;
    try {
      config = loadTelemetryConfig(app.env);
    } catch (err) {
      problems.push(`${app.name}: ${(err as Error).message}`);
      continue;
    }
    if (!config) {
      problems.push(`${app.name}: exports no traces (no OTEL_EXPORTER_OTLP_ENDPOINT, or disabled)`);
      continue;
    }
    const { hostname, port } = new URL(config.tracesUrl);
    if (!services.includes(hostname) || apps.some(a => a.name === hostname))
      problems.push(`${app.name}: sends traces to ${hostname}, which is not a collector service`);
    else if (port !== '4318')
      problems.push(`${app.name}: sends traces to port ${port || '80'}, not OTLP/HTTP's 4318`);
  }
  return problems;
}

/** The service of an image (by repository name), if the compose file has one. */
const serviceOf = (input: ObservabilityInput, repository: string) =>
  input.images.find(s => s.image.split(':')[0] === repository);

/** Prometheus's config, as its container sees it. */
function checkPrometheus(input: ObservabilityInput): string[] {
  const prometheus = serviceOf(input, 'prom/prometheus');
  if (!prometheus) return ['no prom/prometheus service'];
  const config = hostPath(input.root, prometheus.mounts, '/etc/prometheus/prometheus.yml');
  if (!config || !existsSync(config))
    return [
      `${prometheus.name}: /etc/prometheus/prometheus.yml is not mounted from the repository`,
    ];
  return checkScrapeTargets(config.slice(input.root.length), readYaml(config), input.apps);
}

/** Grafana's provisioning, as its container sees it: data sources and dashboard folders. */
export function checkGrafana(input: ObservabilityInput): string[] {
  const grafana = serviceOf(input, 'grafana/grafana');
  if (!grafana) return ['no grafana/grafana service'];
  const provisioning = hostPath(input.root, grafana.mounts, '/etc/grafana/provisioning');
  if (!provisioning || !existsSync(provisioning))
    return [`${grafana.name}: /etc/grafana/provisioning is not mounted from the repository`];
  const relative = (path: string) => path.slice(input.root.length);
  const problems: string[] = [];
  const yamls = (dir: string) =>
    existsSync(join(provisioning, dir))
      ? readdirSync(join(provisioning, dir))
          .filter(f => /\.ya?ml$/.test(f))
          .map(f => join(provisioning, dir, f))
      : [];

  const datasources: Datasource[] = [];
  for (const file of yamls('datasources')) {
    const parsed = datasourcesSchema.safeParse(readYaml(file));
    if (!parsed.success) problems.push(`${relative(file)}: not a list of datasources with uid`);
    else datasources.push(...parsed.data.datasources);
  }
  for (const source of datasources) {
    const host = new URL(source.url).hostname;
    if (!input.services.includes(host))
      problems.push(
        `data source ${source.uid}: ${source.url} is not a service of the compose file`,
      );
  }

  const providers = yamls('dashboards').flatMap(file => {
    const parsed = z
      .object({ providers: z.array(z.object({ options: z.object({ path: z.string() }) }).loose()) })
      .safeParse(readYaml(file));
    if (!parsed.success) problems.push(`${relative(file)}: no providers with options.path`);
    return parsed.success ? parsed.data.providers.map(p => p.options.path) : [];
  });
  if (providers.length === 0) problems.push('grafana: no dashboard provider');
  for (const path of providers) {
    const dir = hostPath(input.root, grafana.mounts, path);
    if (!dir || !existsSync(dir)) {
      problems.push(`grafana: dashboards folder ${path} is not mounted from the repository`);
      continue;
    }
    const files = readdirSync(dir).filter(f => f.endsWith('.json'));
    if (files.length === 0) problems.push(`${relative(dir)}: no dashboard`);
    for (const file of files) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      } catch (err) {
        problems.push(`${relative(join(dir, file))}: ${(err as Error).message}`);
        continue;
      }
      problems.push(...checkDashboard(relative(join(dir, file)), json, input.series, datasources));
    }
  }
  return problems;
}

/** The observability checks, as named results of `npm run check:compose`. */
export function checkObservability(input: ObservabilityInput) {
  return [
    {
      name: 'traces: every role exports OTLP to the collector',
      problems: checkTraceExport(input.apps, input.services),
    },
    { name: 'Prometheus scrapes every role', problems: checkPrometheus(input) },
    { name: 'Grafana: data sources, dashboards, metric names', problems: checkGrafana(input) },
  ];
}
