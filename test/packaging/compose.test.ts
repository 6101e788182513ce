import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkBindMounts,
  checkDependencies,
  checkDockerfile,
  checkEnvironment,
  checkImages,
  checkPackaging,
  checkPublishedPorts,
  interpolate,
  lintCompose,
  parseCompose,
  type ComposeFile,
} from '../../scripts/check-compose.js';

/** `npm run check:compose` in the suite: the packaging files pass, and each check catches what it is for. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const compose = () => parseCompose(composeText);
const service = (c: ComposeFile, name: string) =>
  c.services[name] as Record<string, unknown> & { environment: Record<string, string> };

const packaging = await checkPackaging(ROOT);

const scratch = mkdtempSync(join(tmpdir(), 'check-compose-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the packaging files', () => {
  // A check that could not run here (`docker compose config` without the compose plugin)
  // is not turned into a test that asserts nothing; the others must all pass.
  for (const result of packaging.filter(r => !r.skipped)) {
    it(result.name, () => {
      expect(result.problems).toEqual([]);
    });
  }

  it('runs every role of the supergraph, each on its own database, with RabbitMQ, Mailpit, Jaeger, Prometheus and Grafana', () => {
    const c = compose();
    expect(Object.keys(c.services).sort()).toEqual([
      'grafana',
      'jaeger',
      'mailpit',
      'notifications',
      'postgres',
      'prometheus',
      'rabbitmq',
      'router',
      'tasks',
      'users',
    ]);
    expect(service(c, 'router').ports).toEqual(['0.0.0.0:4000:4000']);
    expect(service(c, 'rabbitmq').ports).toEqual(['127.0.0.1:15672:15672']);
    // The web inbox on loopback alone; SMTP only inside the compose network.
    expect(service(c, 'mailpit').ports).toEqual(['127.0.0.1:8025:8025']);
    // The UIs on loopback; OTLP and every /metrics only inside the compose network.
    expect(service(c, 'jaeger').ports).toEqual(['127.0.0.1:16686:16686']);
    expect(service(c, 'prometheus').ports).toEqual(['127.0.0.1:9090:9090']);
    expect(service(c, 'grafana').ports).toEqual(['127.0.0.1:3000:3000']);
    const databases = ['users', 'tasks', 'notifications'].map(
      n =>
        new URL(interpolate(service(c, n).environment[`${n.toUpperCase()}_DATABASE_URL`]!, {}))
          .pathname,
    );
    expect(databases).toEqual(['/users', '/tasks', '/notifications']);
    const init = readFileSync(join(ROOT, 'docker/postgres-init.sql'), 'utf8');
    for (const name of ['users', 'tasks', 'notifications'])
      expect(init).toContain(`CREATE DATABASE ${name};`);
  });
});

describe('interpolate', () => {
  it('resolves defaults and required variables as Compose does', () => {
    const missing: string[] = [];
    expect(interpolate('a ${X:-dflt} ${Y:?set Y} $$HOME', { Y: 'why' }, missing)).toBe(
      'a dflt why $HOME',
    );
    expect(interpolate('${Z:?set Z in .env}', {}, missing)).toBe('');
    expect(missing).toEqual(['Z (set Z in .env)']);
  });
});

describe('the checks catch', () => {
  it('a variable the code does not read, a written-out secret, a bad URL', () => {
    const c = compose();
    service(c, 'users').environment.USER_DB = 'postgres://x';
    service(c, 'tasks').environment.JWT_SECRET = 'a-secret-written-into-the-compose-file-itself';
    service(c, 'notifications').environment.AMQP_URL = 'not a url';
    const problems = checkEnvironment(c);
    expect(problems).toContain('users: USER_DB is not a key of envSchema (lib/config.ts)');
    expect(problems.some(p => p.startsWith('tasks: JWT_SECRET must come from .env'))).toBe(true);
    expect(problems.some(p => p.startsWith('notifications: AMQP_URL'))).toBe(true);
  });

  it('a subgraph without its database, a router pointed at the wrong port', () => {
    const c = compose();
    delete service(c, 'tasks').environment.TASKS_DATABASE_URL;
    service(c, 'router').environment.USERS_URL = 'http://users:4002/graphql';
    const problems = checkEnvironment(c);
    expect(problems).toContain(
      'tasks: TASKS_DATABASE_URL is not set (it would fall back to an embedded PGlite)',
    );
    expect(problems).toContain('router: USERS_URL uses port 4002, users listens on 4001');
  });

  it('a dependency that is only started, a service without healthcheck, a healthcheck of /health', () => {
    const c = compose();
    service(c, 'router').depends_on = ['users', 'tasks', 'notifications'];
    service(c, 'users').depends_on = {
      postgres: { condition: 'service_started' },
      rabbitmq: { condition: 'service_healthy' },
    };
    delete service(c, 'rabbitmq').healthcheck;
    service(c, 'tasks').healthcheck = { test: ['CMD', 'node', 'docker/healthcheck.mjs'] };
    const problems = checkDependencies(c);
    expect(problems).toEqual(
      expect.arrayContaining([
        'router: depends_on must be the long form with condition: service_healthy',
        'users: depends on postgres without condition: service_healthy',
        'rabbitmq: has no healthcheck',
        'users: depends on rabbitmq, which has no healthcheck',
        'tasks: healthcheck should be node docker/healthcheck.mjs /ready',
      ]),
    );
  });

  it('a subgraph of subgraphs/index.ts that no service runs, one without its port, an unknown one', () => {
    const c = compose();
    delete c.services.notifications;
    delete service(c, 'users').environment.USERS_PORT;
    service(c, 'tasks').command = ['node', 'subgraphs/main.js', 'taskz'];
    const problems = checkEnvironment(c);
    expect(problems).toEqual(
      expect.arrayContaining([
        'no service runs the notifications subgraph (subgraphs/main.js notifications)',
        'no service runs the tasks subgraph (subgraphs/main.js tasks)',
        'users: USERS_PORT is not set (docker/healthcheck.mjs reads it)',
        "tasks: command does not run a role's compiled entry (router/index.js or subgraphs/main.js <name>)",
      ]),
    );
  });

  it('an app service that starts before anything it needs', () => {
    const c = compose();
    delete service(c, 'notifications').depends_on;
    expect(checkDependencies(c)).toContain(
      'notifications: depends on nothing; it needs its database, the broker or the subgraphs first',
    );
  });

  it('a runtime stage that runs as root, a command that names no compiled entry', () => {
    const c = compose();
    service(c, 'tasks').command = ['node', 'subgraphs/tasks/src/index.ts'];
    const asRoot = dockerfile.replace(/^USER node$/m, 'USER root');
    expect(checkDockerfile(asRoot, c, ROOT)).toEqual([
      'Dockerfile: the runtime stage runs as root',
      "compose tasks command: runs no .js file, not a role's compiled entry",
    ]);
    expect(checkDockerfile(dockerfile.replace(/^USER node$/m, ''), compose(), ROOT)).toEqual([
      'Dockerfile: the runtime stage has no USER: it would run as root',
    ]);
    // A USER in an earlier stage does not count for the runtime.
    const early = dockerfile
      .replace(/^USER node$/m, '')
      .replace('FROM deps AS build', 'FROM deps AS build\nUSER node');
    expect(checkDockerfile(early, compose(), ROOT)).toContain(
      'Dockerfile: the runtime stage has no USER: it would run as root',
    );
  });

  it('a COPY of something that is not in the repository', () => {
    const moved = dockerfile.replace('COPY router ./router', 'COPY gateway ./router');
    expect(
      checkDockerfile(moved, compose(), ROOT).some(p =>
        p.includes('COPY source gateway does not exist'),
      ),
    ).toBe(true);
  });

  it('an image on a floating tag, or on a bare major', () => {
    const c = compose();
    service(c, 'postgres').image = 'postgres:17';
    service(c, 'grafana').image = 'grafana/grafana:latest';
    service(c, 'jaeger').image = 'jaegertracing/jaeger';
    service(c, 'mailpit').image = 'localhost:5000/axllent/mailpit';
    expect(checkImages(c)).toEqual([
      'postgres: image postgres:17 is not pinned to a release (major.minor)',
      'mailpit: image localhost:5000/axllent/mailpit is not pinned to a release (major.minor)',
      'jaeger: image jaegertracing/jaeger is not pinned to a release (major.minor)',
      'grafana: image grafana/grafana:latest is not pinned to a release (major.minor)',
    ]);
    service(c, 'postgres').image = `postgres@sha256:${'a'.repeat(64)}`;
    service(c, 'grafana').image = 'grafana/grafana:12.3.1-ubuntu';
    service(c, 'jaeger').image = 'registry.example:5000/jaegertracing/jaeger:2.20.0';
    service(c, 'mailpit').image = 'axllent/mailpit:v1.27';
    expect(checkImages(c)).toEqual([]);
  });

  it('a UI published on every interface, in either port syntax', () => {
    const c = compose();
    service(c, 'grafana').ports = ['3000:3000'];
    service(c, 'prometheus').ports = [{ target: 9090, published: 9090 }];
    service(c, 'jaeger').ports = ['0.0.0.0:16686:16686/tcp'];
    service(c, 'mailpit').ports = ['[::1]:8025:8025', { target: 1025, host_ip: '127.0.0.1' }];
    // The router's GraphQL port is the public entry; its metrics port is not.
    service(c, 'router').ports = ['0.0.0.0:4000:4000', '9464:9464'];
    expect(checkPublishedPorts(c)).toEqual([
      'jaeger: port 16686 is published on 0.0.0.0, not on loopback (127.0.0.1)',
      'prometheus: port 9090 is published on every interface, not on loopback (127.0.0.1)',
      'grafana: port 3000 is published on every interface, not on loopback (127.0.0.1)',
      'router: port 9464 is published on every interface, not on loopback (127.0.0.1)',
    ]);
  });

  it('a bind mount of something that is not in the repository', () => {
    const c = compose();
    service(c, 'prometheus').volumes = [
      './deploy/prometheus/missing.yml:/etc/prometheus/prometheus.yml:ro',
    ];
    service(c, 'grafana').volumes = [
      { type: 'bind', source: './deploy/grafana/nowhere', target: '/etc/grafana/provisioning' },
      { type: 'volume', source: 'grafana-data', target: '/var/lib/grafana' },
    ];
    expect(checkBindMounts(c, ROOT)).toEqual([
      'prometheus: mounts ./deploy/prometheus/missing.yml, which is not in the repository',
      'grafana: mounts ./deploy/grafana/nowhere, which is not in the repository',
    ]);
  });

  it('a compose file that breaks the compose-spec schema', () => {
    const path = join(scratch, 'docker-compose.yml');
    const broken = composeText.replace(
      '  init: true\n',
      '  init: true\n  restart_policy: always\n',
    );
    writeFileSync(path, broken);
    expect(lintCompose(path).some(p => p.includes('invalid-schema'))).toBe(true);
  });
});
