import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { registry } from '#lib/metrics.js';
import { observabilityInput, parseCompose } from '../../scripts/check-compose.js';
import {
  checkDashboard,
  checkScrapeTargets,
  checkTraceExport,
  dashboardSchema,
  panelsOf,
  promqlMetricNames,
  seriesNames,
} from '../../scripts/check-observability.js';

/** The observability files of docker-compose.yml, and what their checks catch. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const dashboardText = read('deploy/grafana/dashboards/supergraph.json');
const dashboard = () => JSON.parse(dashboardText) as { panels: Array<Record<string, unknown>> };
const datasources = (
  parse(read('deploy/grafana/provisioning/datasources/datasources.yml')) as {
    datasources: Array<{ name: string; uid: string; type: string; url: string }>;
  }
).datasources;
const series = seriesNames(await registry.metrics());
const input = () => observabilityInput(parseCompose(read('docker-compose.yml')), ROOT, series);
const prometheus = () =>
  parse(read('deploy/prometheus/prometheus.yml')) as {
    scrape_configs: Array<
      Record<string, unknown> & { static_configs: Array<{ targets: string[] }> }
    >;
  };

describe('the supergraph dashboard', () => {
  it('has the panels an operator watches, each plotting the metric of its figure', () => {
    const panels = panelsOf(dashboardSchema.parse(dashboard()));
    const metricsOf = (title: string) =>
      (panels.find(p => p.title === title)?.targets ?? []).flatMap(
        t => promqlMetricNames(t.expr ?? '').names,
      );
    expect(metricsOf('Requests per operation')).toEqual(['graphql_requests_total']);
    expect(metricsOf('Errors per operation')).toEqual(['graphql_requests_total']);
    expect(metricsOf('Subgraph fetch latency p50 / p95')).toEqual([
      'router_subgraph_fetch_duration_seconds_bucket',
      'router_subgraph_fetch_duration_seconds_bucket',
    ]);
    expect(metricsOf('Subgraph fetch errors')).toEqual(['router_subgraph_fetch_errors_total']);
    expect(metricsOf('Open WebSockets')).toEqual(['router_websockets_open']);
    expect(metricsOf('Active subscriptions')).toEqual(['router_subscriptions_active']);
    expect(metricsOf('Outbox backlog')).toEqual(['outbox_backlog']);
    expect(metricsOf('Consumer lag p95')).toEqual(['events_consumer_lag_seconds_bucket']);
    expect(metricsOf('Dead letters')).toEqual(['events_dead_lettered']);
    expect(panels.find(p => p.title === 'Recent router traces')?.datasource?.uid).toBe('jaeger');
  });

  it('catches a metric the code does not expose, a bad query, an unprovisioned data source', () => {
    const d = dashboard();
    const panels = d.panels.filter(p => p.type !== 'row') as Array<{
      title: string;
      datasource: { uid: string };
      targets: Array<{ expr?: string; datasource?: { uid: string; type?: string } }>;
    }>;
    panels[0]!.targets[0]!.expr = 'sum(rate(graphql_requests_count[5m]))';
    panels[1]!.targets[0]!.expr = 'sum(rate(graphql_requests_total[$window]))';
    panels[2]!.targets[0]!.datasource = { uid: 'loki' };
    panels[3]!.targets[0]!.datasource = { uid: 'prometheus', type: 'jaeger' };
    expect(checkDashboard('d.json', d, series, datasources)).toEqual([
      'd.json: panel "Requests per operation": graphql_requests_count is not a metric the services expose',
      expect.stringMatching(/^d\.json: panel "Errors per operation": query A does not parse at/),
      'd.json: panel "Operation latency p95": data source loki is not provisioned',
      'd.json: panel "Subgraph fetch latency p50 / p95": data source prometheus is prometheus, not jaeger',
    ]);
    expect(checkDashboard('d.json', { title: 'x' }, series, datasources)).toEqual([
      'd.json: uid: Invalid input: expected string, received undefined',
      'd.json: panels: Invalid input: expected array, received undefined',
    ]);
  });
});

describe('PromQL and /metrics names', () => {
  it('reads the selected metrics with Grafana variables in, not label names or functions', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="up"}[$__rate_interval]))) / on() group_left b',
      ),
    ).toEqual({ names: ['a_bucket', 'b'] });
    expect(promqlMetricNames('sum(').error).toMatch(/does not parse/);
  });

  it('gives a histogram its _bucket, _sum and _count series', () => {
    const names = seriesNames('# HELP h x\n# TYPE h histogram\n# TYPE c_total counter\n');
    expect([...names].sort()).toEqual(['c_total', 'h', 'h_bucket', 'h_count', 'h_sum']);
  });
});

describe('scrape targets and trace export', () => {
  it('catches a role not scraped, a wrong port, a loopback METRICS_HOST, a stranger, a token without authorization', () => {
    const config = prometheus();
    config.scrape_configs = config.scrape_configs.filter(j => j.job_name !== 'notifications');
    config.scrape_configs[0]!.static_configs[0]!.targets = ['router:9000', 'grafana:3000'];
    config.scrape_configs[1]!.metrics_path = '/stats';
    const apps = input().apps.map(a =>
      a.name === 'tasks'
        ? { ...a, env: { ...a.env, METRICS_HOST: '127.0.0.1', METRICS_TOKEN: 'x'.repeat(20) } }
        : a,
    );
    expect(checkScrapeTargets('p.yml', config, apps)).toEqual([
      'p.yml: job router: router:9000, but router serves /metrics on 9464',
      'p.yml: job router: grafana:3000 is not a service of the supergraph',
      'p.yml: job users: scrapes /stats; the services serve /metrics',
      'p.yml: job tasks: tasks binds /metrics to 127.0.0.1; Prometheus cannot reach it (set METRICS_HOST)',
      'p.yml: job tasks: tasks asks for METRICS_TOKEN; the job sends no authorization',
      'p.yml: notifications is scraped 0 times, not once',
    ]);
  });

  it('catches a role without traces, one sending them to a subgraph, to a wrong port, a bad protocol', () => {
    const { apps, services } = input();
    const env = (name: string, patch: Record<string, string>) => {
      const app = apps.find(a => a.name === name)!;
      app.env = { ...app.env, ...patch };
    };
    env('users', { OTEL_SDK_DISABLED: 'true' });
    env('tasks', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://users:4318' });
    env('notifications', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317' });
    env('router', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    const problems = checkTraceExport(apps, services);
    expect(problems.slice(0, 3)).toEqual([
      'users: exports no traces (no OTEL_EXPORTER_OTLP_ENDPOINT, or disabled)',
      'tasks: sends traces to users, which is not a collector service',
      "notifications: sends traces to port 4317, not OTLP/HTTP's 4318",
    ]);
    expect(problems[3]).toMatch(/^router: Invalid environment:\n {2}OTEL_EXPORTER_OTLP_PROTOCOL/);
  });
});
