import type { HostileCounts } from './hostile.js';
import type { ProfileSummary } from './profile.js';
import type { FanoutResult, HttpLoadResult, LatencySummary } from './shared.js';
import type { TracingResults } from './tracing.js';

export interface SqlRow {
  label: string;
  users: number;
  tasks: number;
  notifications: number;
  total: number;
}

export interface FanoutRow extends FanoutResult {
  gateway: string;
  rssIdleMb: number;
  rssSubscribedMb: number;
  rssPeakMb: number;
  /** Our router only: distinct upstream subscriptions once everyone subscribed. */
  upstreamSubscriptions: number | null;
  /** Our router only: events resolved through the plan (subgraph fetches made) per change. */
  resolutionsPerChange: number | null;
}

export interface BenchResults {
  meta: {
    date: string;
    commit: string;
    node: string;
    cpu: string;
    memoryGb: number;
    quick: boolean;
    plan: unknown;
    query: string;
    seeded: { users: number; tasks: number };
    /** os.loadavg() (1, 5, 15 min) when the run started and ended (absent in older results). */
    loadAverage?: { start: number[]; end: number[] };
  };
  /** `throughput`: every connection is one viewer; `throughputViewers`: a viewer per connection. */
  http: {
    latency: HttpLoadResult[];
    throughput: HttpLoadResult[];
    throughputViewers: HttpLoadResult[];
  };
  /** The deep query and the mutation mix (bench/shapes.ts), a viewer per connection. */
  shapes?: Array<{ name: string; query: string; rows: HttpLoadResult[] }>;
  sql: SqlRow[];
  /** Statements per operation over a whole throughput run: in-flight de-duplication shows here. */
  sqlUnderLoad?: SqlRow[];
  fanout: FanoutRow[];
  /** Ordinary users, each seeing its own tasks and a few shared (absent in older results). */
  privateFanout?: FanoutRow[];
  /** A well-behaved client's latency alone and beside an abusive one (absent in older results). */
  neighbour?: {
    gateway: string;
    alone: HttpLoadResult;
    beside: HttpLoadResult;
    hostile: HostileCounts;
  };
  eventLag: {
    pollMs: number;
    registrationToStub: LatencySummary;
    assignmentToNotification: LatencySummary;
    /** Logout → the router answers the session's access token 401 (absent in older results). */
    logoutToRefused?: LatencySummary;
  };
  profiles?: ProfileSummary[];
  /** Our router off, 100 % and 10 % sampled (bench/tracing.ts; absent in older results). */
  tracing?: TracingResults;
}

export const FLOOR = 'direct to subgraphs (floor)';
const BEFORE = 'router (before)';
const AFTER = 'router (after)';
const HIVE = 'Hive Gateway';
const HIVE_RUST = 'Hive Gateway + Rust planner';

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '–');
const ratio = (a: number | undefined, b: number | undefined) =>
  a && b ? `${(a / b).toFixed(2)}×` : '–';

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

/** The issue's targets, judged on this run (reported, never asserted in tests). */
function checkTargets(r: BenchResults): TargetCheck[] {
  const lat = (label: string) => r.http.latency.find(x => x.label === label);
  const checks: TargetCheck[] = [];
  const floor = lat(FLOOR);
  {
    const label = AFTER;
    for (const [scenario, rows] of [
      ['a viewer per connection', r.http.throughputViewers],
      ['one viewer', r.http.throughput],
    ] as const) {
      const after = rows.find(x => x.label === label);
      if (!after) continue;
      for (const peer of [HIVE, HIVE_RUST]) {
        const hive = rows.find(x => x.label === peer);
        checks.push({
          target: `${label}: throughput ≥ ${peer}’s on the same query (${scenario})`,
          measured: hive
            ? `${after.opsPerSecond.toFixed(0)} vs ${hive.opsPerSecond.toFixed(0)} ops/s (${ratio(after.opsPerSecond, hive.opsPerSecond)})`
            : 'not measured',
          met: hive ? after.opsPerSecond >= hive.opsPerSecond : null,
        });
      }
    }
    const ours = lat(label);
    const overhead = floor && ours ? ours.latencyMs.p50 - floor.latencyMs.p50 : Number.NaN;
    checks.push({
      target: `${label}: p50 overhead over the direct subgraph calls < 2 ms (1 connection)`,
      measured: `${ms(overhead)} ms (${ms(ours?.latencyMs.p50 ?? Number.NaN)} vs ${ms(floor?.latencyMs.p50 ?? Number.NaN)} ms)`,
      met: Number.isFinite(overhead) ? overhead < 2 : null,
    });
  }
  for (const shape of r.shapes ?? []) {
    const after = shape.rows.find(x => x.label === AFTER);
    const rust = shape.rows.find(x => x.label === HIVE_RUST);
    if (!after) continue;
    checks.push({
      target: `${AFTER}: throughput ≥ ${HIVE_RUST}’s (${shape.name === 'deep' ? 'the deep query' : 'the mutation mix'}, a viewer per connection)`,
      measured: rust
        ? `${after.opsPerSecond.toFixed(0)} vs ${rust.opsPerSecond.toFixed(0)} ops/s (${ratio(after.opsPerSecond, rust.opsPerSecond)})`
        : 'not measured',
      met: rust ? after.opsPerSecond >= rust.opsPerSecond : null,
    });
  }
  for (const row of r.fanout.filter(f => f.gateway === AFTER && f.subscribers >= 1000)) {
    checks.push({
      target: `${row.gateway}: ${row.subscribers} subscribers (${row.distinctViewers === 1 ? 'one viewer' : `${row.distinctViewers} viewers`}) all served, p99 < 250 ms`,
      measured: `${row.delivered}/${row.expected}, p99 ${ms(row.latencyMs.p99)} ms`,
      met: row.delivered === row.expected && row.latencyMs.p99 < 250,
    });
  }
  for (const [name, l] of [
    ['registration → user stub in tasks', r.eventLag.registrationToStub],
    ['assignment → notification stored', r.eventLag.assignmentToNotification],
    ...(r.eventLag.logoutToRefused
      ? [['logout → access token refused by the router', r.eventLag.logoutToRefused] as const]
      : []),
  ] as const) {
    checks.push({
      target: `event lag p99 < 100 ms: ${name}`,
      measured: l.count > 0 ? `p99 ${ms(l.p99)} ms` : 'not measured',
      met: l.count > 0 ? l.p99 < 100 : null,
    });
  }
  return checks;
}

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  const line = (s = '') => out.push(s);
  const floorLat = r.http.latency.find(x => x.label === FLOOR);
  const hiveLat = r.http.latency.find(x => x.label === HIVE);
  const beforeLat = r.http.latency.find(x => x.label === BEFORE);

  line(`# Benchmark results`);
  line();
  line(
    `${r.meta.date} · commit ${r.meta.commit} · Node ${r.meta.node} · ${r.meta.cpu} · ${r.meta.memoryGb} GB${r.meta.quick ? ' · **--quick run (smoke test, noisy)**' : ''}${r.meta.loadAverage ? ` · load average ${loadAverage(r.meta.loadAverage)}` : ''}`,
  );
  line();
  line(
    `Everything in one run on one machine, loopback only: the subgraphs on real Postgres and RabbitMQ, each gateway in its own process, the load from another. Seeded through the router: ${r.meta.seeded.users} users, ${r.meta.seeded.tasks} tasks with assignees.`,
  );
  line();
  line('## The federated query');
  line();
  line('```graphql');
  line(r.meta.query);
  line('```');
  line();
  const lat1 = r.http.latency[0];
  line(
    `Latency, ${lat1?.connections ?? 1} connection, ${lat1?.durationSeconds ?? '?'} s each (closed loop, no queueing):`,
  );
  line();
  line('| target | ops/s | p50 ms | p90 ms | p99 ms | p50 over the floor | failed |');
  line('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of r.http.latency) {
    const over =
      floorLat && x.label !== FLOOR ? `+${ms(x.latencyMs.p50 - floorLat.latencyMs.p50)} ms` : '';
    line(
      `| ${x.label} | ${x.opsPerSecond.toFixed(0)} | ${ms(x.latencyMs.p50)} | ${ms(x.latencyMs.p90)} | ${ms(x.latencyMs.p99)} | ${over} | ${x.failures} |`,
    );
  }
  line();
  const throughputTable = (rows: HttpLoadResult[], title: string) => {
    const floorRow = rows.find(x => x.label === FLOOR);
    const hiveRow = rows.find(x => x.label === HIVE);
    const rustRow = rows.find(x => x.label === HIVE_RUST);
    const beforeRow = rows.find(x => x.label === BEFORE);
    const first = rows[0];
    line(
      `${title}, ${first?.connections ?? '?'} concurrent connections, ${first?.durationSeconds ?? '?'} s each (${first?.viewers ?? ''}):`,
    );
    line();
    line(
      '| target | ops/s | p50 ms | p99 ms | vs floor | vs Hive Gateway | vs Hive + Rust planner | vs router (before) | failed |',
    );
    line('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const x of rows) {
      line(
        `| ${x.label} | ${x.opsPerSecond.toFixed(0)} | ${ms(x.latencyMs.p50)} | ${ms(x.latencyMs.p99)} | ${x.label === FLOOR ? '' : ratio(x.opsPerSecond, floorRow?.opsPerSecond)} | ${x.label === HIVE || !hiveRow ? '' : ratio(x.opsPerSecond, hiveRow.opsPerSecond)} | ${x.label === HIVE_RUST || !rustRow ? '' : ratio(x.opsPerSecond, rustRow.opsPerSecond)} | ${x.label.startsWith('router') && x.label !== BEFORE ? ratio(x.opsPerSecond, beforeRow?.opsPerSecond) : ''} | ${x.failures} |`,
      );
    }
    line();
  };
  throughputTable(
    r.http.throughputViewers,
    'Throughput, every connection a different viewer (nothing can be shared between requests: the raw cost of each gateway)',
  );
  throughputTable(
    r.http.throughput,
    'Throughput, every connection the same viewer (identical queries of one viewer in flight together: gateways that de-duplicate them send fewer subgraph requests)',
  );
  const afterLat = r.http.latency.find(x => x.label === AFTER);
  if (afterLat && hiveLat && beforeLat) {
    line(
      `p50 at 1 connection: router (after) ${ms(afterLat.latencyMs.p50)} ms, router (before) ${ms(beforeLat.latencyMs.p50)} ms, Hive Gateway ${ms(hiveLat.latencyMs.p50)} ms.`,
    );
    line();
  }
  line(
    'The floor is the same work without a gateway: the tasks subgraph’s part of the plan, then one users `_entities` call with every distinct owner and assignee, with signed claims, sent by the load process itself. The plan has two users fetches (owner, assignee): router (before) sends them in parallel as two requests, router (after) as one batched request.',
  );
  line();
  for (const shape of r.shapes ?? []) {
    line(shape.name === 'deep' ? '## The deep query' : '## The mutation-heavy mix');
    line();
    line('```graphql');
    line(shape.query);
    line('```');
    line();
    throughputTable(
      shape.rows,
      shape.name === 'deep'
        ? 'Throughput, three sequential fetch levels (tasks → users; notifications → tasks → users), every connection a different viewer (registered users with notifications of their own)'
        : 'Throughput, every connection a different viewer changing its own tasks',
    );
  }
  line('## SQL statements per operation');
  line();
  line('| path | users | tasks | notifications | total |');
  line('| --- | ---: | ---: | ---: | ---: |');
  for (const s of r.sql)
    line(`| ${s.label} | ${s.users} | ${s.tasks} | ${s.notifications} | ${s.total} |`);
  line();
  line(
    'Counted with the subgraphs’ query hook around one operation (median of 5; the outbox relay’s own polling left out).',
  );
  line();
  if (r.sqlUnderLoad?.length) {
    line(
      `Under load (each throughput run: statements counted over the whole run, divided by the operations completed). With one viewer, identical queries in flight at once may share one subgraph request:`,
    );
    line();
    line('| path | users | tasks | total |');
    line('| --- | ---: | ---: | ---: |');
    for (const s of r.sqlUnderLoad) line(`| ${s.label} | ${s.users} | ${s.tasks} | ${s.total} |`);
    line();
  }
  if (r.fanout.length > 0) {
    const first = r.fanout[0]!;
    line('## Subscription fan-out');
    line();
    line(
      `\`taskChanged\` over graphql-ws, one socket per subscriber, ${first.mutations} changes one every ${(r.meta.plan as { fanout?: { intervalMs?: number } }).fanout?.intervalMs ?? '?'} ms. Latency: receipt in the subscriber process minus the event’s \`occurredAt\` (stamped in the committing transaction; same clock, ms precision). "viewers": distinct identities (ADMIN tokens minted for the run, so every subscriber may see every change); one viewer: every subscriber is alice.`,
    );
    line();
    line(
      '| gateway | subscribers | viewers | delivered / expected | p50 ms | p99 ms | max ms | upstream subs | resolutions per change | RSS idle → subscribed → peak MB | errors | changes retried |',
    );
    line('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const f of r.fanout) {
      line(
        `| ${f.gateway} | ${f.subscribers} | ${f.distinctViewers} | ${f.delivered} / ${f.expected}${f.delivered === f.expected ? '' : ' **(missing)**'} | ${ms(f.latencyMs.p50)} | ${ms(f.latencyMs.p99)} | ${ms(f.latencyMs.max)} | ${f.upstreamSubscriptions ?? '–'} | ${f.resolutionsPerChange === null ? '–' : Number(f.resolutionsPerChange.toFixed(1))} | ${f.rssIdleMb} → ${f.rssSubscribedMb} → ${f.rssPeakMb} | ${f.errors} | ${f.retries ?? '–'} |`,
      );
    }
    line();
  }
  if (r.privateFanout?.length) {
    const first = r.privateFanout[0]!;
    line('### Ordinary users: each sees its own tasks and a few shared');
    line();
    line(
      `${first.subscribers} distinct USER subscribers (not admins), each owning 3 tasks, each task assigned to one of the next users: a subscriber may see its own 3 and 3 shared with its neighbours, nobody else’s. ${first.mutations} changes (each by the task’s owner, in rounds every ${(r.meta.plan as { fanout?: { intervalMs?: number } }).fanout?.intervalMs ?? '?'} ms), each expected at exactly two subscribers. "exact": subscribers that got exactly the changes they may see, each once; "unexpected": deliveries of a change the subscriber may not see (must be 0).`,
    );
    line();
    line(
      '| gateway | subscribers | delivered / expected | exact subscribers | unexpected | p50 ms | p99 ms | max ms | upstream subs | resolutions per change | RSS idle → subscribed → peak MB | errors | changes retried |',
    );
    line(
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const f of r.privateFanout)
      line(
        `| ${f.gateway} | ${f.subscribers} | ${f.delivered} / ${f.expected}${f.delivered === f.expected ? '' : ' **(missing)**'} | ${f.exactSubscribers ?? '–'} / ${f.subscribers} | ${f.unexpected ?? '–'} | ${ms(f.latencyMs.p50)} | ${ms(f.latencyMs.p99)} | ${ms(f.latencyMs.max)} | ${f.upstreamSubscriptions ?? '–'} | ${f.resolutionsPerChange === null ? '–' : Number(f.resolutionsPerChange.toFixed(2))} | ${f.rssIdleMb} → ${f.rssSubscribedMb} → ${f.rssPeakMb} | ${f.errors} | ${f.retries ?? '–'} |`,
      );
    line();
  }
  if (r.neighbour) {
    const { alone, beside, hostile, gateway } = r.neighbour;
    line('## The abusive neighbour');
    line();
    line(
      `A well-behaved client (one connection, the federated query) on ${gateway}, alone and then while another client sends the hostile operations below in loops of their own.`,
    );
    line();
    line('| well-behaved client | ops/s | p50 ms | p99 ms | failed |');
    line('| --- | ---: | ---: | ---: | ---: |');
    for (const run of [alone, beside])
      line(
        `| ${run.label} | ${run.opsPerSecond.toFixed(0)} | ${ms(run.latencyMs.p50)} | ${ms(run.latencyMs.p99)} | ${run.failures} |`,
      );
    line();
    line(
      `p99 beside the abusive client: **${(beside.latencyMs.p99 / alone.latencyMs.p99).toFixed(2)}×** alone.`,
    );
    line();
    line('| hostile operation | answers |');
    line('| --- | --- |');
    for (const [operation, outcomes] of Object.entries(hostile))
      line(
        `| ${operation} | ${Object.entries(outcomes)
          .map(([outcome, n]) => `${n} × ${outcome}`)
          .join(', ')} |`,
      );
    line();
  }
  if (r.tracing) renderTracing(r.tracing).forEach(l => line(l));
  line('## Event lag');
  line();
  line('| path | samples | p50 ms | p90 ms | p99 ms | max ms |');
  line('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, l] of [
    ['registration → user stub in the tasks database', r.eventLag.registrationToStub],
    ['assignment → notification stored', r.eventLag.assignmentToNotification],
    ...(r.eventLag.logoutToRefused
      ? [['logout → access token refused by the router (401)', r.eventLag.logoutToRefused] as const]
      : []),
  ] as const) {
    line(`| ${name} | ${l.count} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${ms(l.max)} |`);
  }
  line();
  line(
    `From the mutation’s HTTP response (its transaction committed) to the row being visible in the consuming service’s database (for a logout: to the router answering the token 401), polled every ${r.eventLag.pollMs} ms.`,
  );
  line();
  line('## Targets');
  line();
  line('| target | this run | met |');
  line('| --- | --- | :---: |');
  for (const c of checkTargets(r))
    line(`| ${c.target} | ${c.measured} | ${c.met === null ? '–' : c.met ? 'yes' : '**no**'} |`);
  line();
  if (r.profiles?.length) {
    line(
      '## Where the gateways’ time goes (`--profile`: V8 CPU profiles of each gateway process during its throughput run with a viewer per connection, and during the largest distinct-viewer fan-out)',
    );
    line();
    for (const p of r.profiles) {
      line(
        `**${p.label}**, ${p.busyMs} ms of CPU; by package: ${p.packages
          .slice(0, 8)
          .map(x => `${x.name} ${x.percent}%`)
          .join(', ')}`,
      );
      line();
      line('| self % | function | where |');
      line('| ---: | --- | --- |');
      for (const f of p.functions.slice(0, 10))
        line(`| ${f.percent} | ${f.name.replace(/\|/g, '\\|')} | ${f.where} |`);
      line();
    }
  }
  return out.join('\n');
}

/** "1.9 → 2.4 (1 min), 1.7 → 2.2 (5 min)": the machine's load when a run started and ended. */
export function loadAverage(load: { start: number[]; end: number[] }): string {
  return [0, 1]
    .map(i => `${load.start[i]?.toFixed(1)} → ${load.end[i]?.toFixed(1)} (${i === 0 ? 1 : 5} min)`)
    .join(', ');
}

/** The tracing section: one row per variant, ratios against tracing off. */
export function renderTracing(t: TracingResults): string[] {
  const off = t.rows[0];
  const rounds = off?.rounds.length ?? 0;
  const kb = (bytes: number) => (bytes / 1024).toFixed(0);
  return [
    '## The cost of tracing',
    '',
    `Our router as \`router/index.ts\` runs it (the OpenTelemetry SDK started from the OTEL_* variables by lib/telemetry-start.ts), three processes side by side: no endpoint (no SDK), sampling 100 % (\`parentbased_always_on\`) and 10 % (\`parentbased_traceidratio\`, 0.1), each exporting ${t.protocol} to a loopback OTLP/HTTP receiver of the bench that reads every export and counts its spans. The federated query, ${t.connections} concurrent connections (${t.viewers}), ${t.durationSeconds} s each, the variants in turn, ${rounds} round(s): ops/s and p50/p99 are the mean of the rounds. Only the router traces (the subgraphs run in the bench process without an SDK).`,
    '',
    '| router | ops/s | p50 ms | p99 ms | vs off | spans exported | spans per operation | exported KiB | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...t.rows.map(
      x =>
        `| ${x.label} | ${x.opsPerSecond.toFixed(0)} | ${ms(x.p50)} | ${ms(x.p99)} | ${x === off ? '' : ratio(x.opsPerSecond, off?.opsPerSecond)} | ${x.spans} | ${(x.spans / Math.max(1, x.totalOperations)).toFixed(2)} | ${kb(x.bytes)} | ${x.failures} |`,
    ),
    '',
  ];
}
