import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { checkKubernetes, readManifests } from '../../scripts/check-kubernetes.js';

/**
 * `npm run check:kubernetes` in the suite: deploy/kubernetes passes, offline, against the
 * Kubernetes OpenAPI schemas and the deployment's own promises; and each check catches what it
 * is for, on a copy of the manifests with one thing broken.
 */

const DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'check-kubernetes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An object of a manifest, as the Kubernetes types describe it (the YAML is what is tested). */
type Doc = Record<string, unknown>;

let copies = 0;
/** The problems found in a copy of the manifests where `edit` changed one file's objects. */
function problemsAfter(file: string, edit: (docs: Doc[]) => void): string[] {
  const dir = join(scratch, String(copies++));
  cpSync(DIR, dir, { recursive: true });
  const path = join(dir, file);
  const docs = parseAllDocuments(readFileSync(path, 'utf8')).map(d => d.toJSON() as Doc);
  edit(docs);
  writeFileSync(path, docs.map(d => stringify(d)).join('---\n'));
  return checkKubernetes(dir);
}
const deployment = (docs: Doc[]) =>
  docs.find(d => d.kind === 'Deployment') as unknown as IDeployment;
const pod = (docs: Doc[]) => deployment(docs).spec!.template.spec!;
const container = (docs: Doc[]) => pod(docs).containers[0]!;
const env = (docs: Doc[]) => container(docs).env!;

describe('deploy/kubernetes', () => {
  it('is valid and keeps every promise', () => {
    expect(checkKubernetes()).toEqual([]);
  });

  it('has a Deployment, Service, autoscaler and disruption budget for every role', () => {
    const names = (kind: string) =>
      readManifests()
        .objects.filter(o => o.object.kind === kind)
        .map(o => (o.object.metadata as { name: string }).name)
        .sort();
    const roles = ['notifications', 'router', 'tasks', 'users'];
    for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'])
      expect(names(kind), kind).toEqual(roles);
  });

  it('catches an object its schema refuses', () => {
    expect(
      problemsAfter(
        'tasks.yaml',
        docs => (deployment(docs).spec!.replicas = 'two' as unknown as number),
      ),
    ).toEqual([
      expect.stringMatching(/tasks\.yaml: apps\/v1\/Deployment tasks: .*replicas must be integer/),
    ]);
  });

  it('catches a container without its probes', () => {
    const problems = problemsAfter('users.yaml', docs => {
      delete container(docs).readinessProbe;
      container(docs).livenessProbe!.httpGet!.path = '/';
    });
    expect(problems).toEqual([
      'users/users: readinessProbe must GET /ready',
      'users/users: livenessProbe must GET /health',
    ]);
  });

  it('catches root, privilege escalation and missing limits', () => {
    const problems = problemsAfter('router.yaml', docs => {
      pod(docs).securityContext!.runAsNonRoot = false;
      container(docs).securityContext!.allowPrivilegeEscalation = true;
      delete container(docs).resources!.limits;
    });
    expect(problems).toEqual([
      'router: the pod must set securityContext.runAsNonRoot: true',
      'router/router: resources.limits must set memory',
      'router/router: securityContext.allowPrivilegeEscalation must be false',
    ]);
  });

  it('catches a variable the code does not read, and a secret written out', () => {
    const problems = problemsAfter('notifications.yaml', docs => {
      env(docs).push({ name: 'NOTIFICATIONS_DB', value: 'x' });
      const secret = env(docs).find(e => e.name === 'JWT_SECRET')!;
      delete secret.valueFrom;
      secret.value = 'x'.repeat(48);
    });
    expect(problems).toEqual([
      'notifications/notifications: JWT_SECRET must come from the Secret, not a literal',
      'notifications/notifications: NOTIFICATIONS_DB is not a key of envSchema (lib/config.ts)',
    ]);
  });

  it("catches a subgraph given another service's database, or none", () => {
    const problems = problemsAfter('tasks.yaml', docs => {
      const own = env(docs).find(e => e.name === 'TASKS_DATABASE_URL')!;
      own.name = 'USERS_DATABASE_URL';
      own.valueFrom!.secretKeyRef!.key = 'USERS_DATABASE_URL';
    });
    expect(problems).toEqual([
      'tasks/tasks: TASKS_DATABASE_URL is not set (it would fall back to PGlite)',
      "tasks/tasks: gets another service's database: USERS_DATABASE_URL",
    ]);
  });

  it('catches a router that would not find a subgraph', () => {
    const problems = problemsAfter('router.yaml', docs => {
      env(docs).find(e => e.name === 'TASKS_URL')!.value = 'http://tasks:4999/graphql';
      env(docs).find(e => e.name === 'USERS_URL')!.value = 'http://user:4001/graphql';
    });
    expect(problems).toEqual([
      'router: USERS_URL points at user, which is not a Service',
      'router: TASKS_URL uses port 4999, which Service tasks does not serve',
    ]);
  });

  it('catches a role without its autoscaler and disruption budget', () => {
    const problems = problemsAfter('users.yaml', docs => {
      docs.splice(
        docs.findIndex(d => d.kind === 'HorizontalPodAutoscaler'),
        2,
      );
    });
    expect(problems).toEqual([
      'users: no HorizontalPodAutoscaler scales it',
      'users: no PodDisruptionBudget covers its pods',
    ]);
  });
});
