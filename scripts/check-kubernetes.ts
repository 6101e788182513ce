import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { envPrefix, envSchema } from '#lib/config.js';
import { subgraphs } from '../subgraphs/index.js';
import { roleOf, SECRETS } from './check-compose.js';

/**
 * `npm run check:kubernetes`: static checks of deploy/kubernetes/ (kustomize), for a machine
 * without a cluster (CI). Every object is valid against the Kubernetes OpenAPI schemas (the
 * validators `kubernetes-models` generates from them); every role of the supergraph has a
 * Deployment of the image with probes on /ready and /health, resources, a non-root and
 * unprivileged security context, a Service, a HorizontalPodAutoscaler and a
 * PodDisruptionBudget; containers get only variables of envSchema, secrets only from the
 * Secret; the router's subgraph URLs name those Services on their ports.
 */

const DIR = fileURLToPath(new URL('../deploy/kubernetes/', import.meta.url));

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);
const dict = (v: unknown): Dict => (isDict(v) ? v : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : '';

/** A manifest as kustomize reads it: the kustomization and every object of its resources. */
export interface KubernetesManifests {
  kustomization: Dict;
  /** Every object of every resource file, in order, with the file it came from. */
  objects: Array<{ file: string; object: Dict }>;
}

export function readManifests(dir = DIR): KubernetesManifests {
  const kustomization = dict(parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')));
  const objects = list(kustomization.resources).flatMap(resource => {
    const file = text(resource);
    const path = join(dir, file);
    if (!existsSync(path)) return [{ file, object: {} }];
    return parseAllDocuments(readFileSync(path, 'utf8'))
      .map(doc => doc.toJSON() as unknown)
      .filter(isDict)
      .map(object => ({ file, object }));
  });
  return { kustomization, objects };
}

/** The schema of each kind the deployment uses, by `apiVersion/kind`. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/** Each object against the OpenAPI schema of its kind; every listed resource exists. */
export function checkSchemas({ objects }: KubernetesManifests, dir = DIR): string[] {
  const problems: string[] = [];
  const listed = new Set(objects.map(o => o.file));
  for (const file of listed)
    if (!existsSync(join(dir, file)))
      problems.push(`kustomization lists ${file}, which is missing`);
  for (const file of readdirSync(dir).filter(f => f.endsWith('.yaml'))) {
    if (file !== 'kustomization.yaml' && !listed.has(file))
      problems.push(`${file} is not listed in kustomization.yaml resources`);
  }
  for (const { file, object } of objects) {
    if (Object.keys(object).length === 0) continue;
    const kind = `${text(object.apiVersion)}/${text(object.kind)}`;
    const name = `${file}: ${kind} ${text(dict(object.metadata).name)}`;
    const Kind = MODELS[kind];
    if (!Kind) {
      problems.push(`${name}: no schema for this kind here (add it to MODELS)`);
      continue;
    }
    try {
      new Kind(object as never).validate();
    } catch (err) {
      problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

const SECRET_NAME = 'supergraph-secrets';
const CONFIG_NAME = 'supergraph-config';

/** The keys of the Secret and ConfigMap generators: what `envFrom` and `secretKeyRef` may name. */
function generated(kustomization: Dict, dir: string) {
  const secretKeys = new Set<string>();
  const configKeys = new Set<string>();
  for (const generator of list(kustomization.secretGenerator).map(dict)) {
    if (text(generator.name) !== SECRET_NAME) continue;
    for (const env of list(generator.envs).map(text)) {
      // The real file is the user's (not committed); its example names the keys.
      const example = join(dir, `${env}.example`);
      if (!existsSync(example)) continue;
      for (const line of readFileSync(example, 'utf8').split('\n')) {
        const key = /^([A-Z0-9_]+)=/.exec(line)?.[1];
        if (key) secretKeys.add(key);
      }
    }
  }
  for (const generator of list(kustomization.configMapGenerator).map(dict)) {
    if (text(generator.name) !== CONFIG_NAME) continue;
    for (const literal of list(generator.literals).map(text))
      configKeys.add(literal.split('=')[0]!);
  }
  return { secretKeys, configKeys };
}

/**
 * The same promises as the compose file: every role runs, with probes, resources, no root;
 * only envSchema's variables; secrets from the Secret alone; the router finds every subgraph.
 */
export function checkDeployments(manifests: KubernetesManifests, dir = DIR): string[] {
  const problems: string[] = [];
  const known = new Set(Object.keys(envSchema(subgraphs).shape));
  const { secretKeys, configKeys } = generated(manifests.kustomization, dir);
  if (secretKeys.size === 0)
    problems.push(`kustomization: no secretGenerator ${SECRET_NAME} with an example of its keys`);
  for (const key of [...secretKeys, ...configKeys])
    if (!known.has(key))
      problems.push(`generated ${key} is not a key of envSchema (lib/config.ts)`);
  const byKind = (kind: string) =>
    manifests.objects.map(o => o.object).filter(o => text(o.kind) === kind);
  const services = byKind('Service');
  const deployments = byKind('Deployment');
  const targets = (kind: string) =>
    new Set(byKind(kind).map(o => text(dict(dict(o.spec).scaleTargetRef).name)));
  const scaled = targets('HorizontalPodAutoscaler');
  const budgets = byKind('PodDisruptionBudget');
  const roles = new Map<string, { deployment: string; port: string }>();

  for (const deployment of deployments) {
    const name = text(dict(deployment.metadata).name);
    const spec = dict(deployment.spec);
    const pod = dict(dict(spec.template).spec);
    const podLabels = dict(dict(dict(spec.template).metadata).labels);
    const podSecurity = dict(pod.securityContext);
    if (podSecurity.runAsNonRoot !== true)
      problems.push(`${name}: the pod must set securityContext.runAsNonRoot: true`);
    if (!scaled.has(name)) problems.push(`${name}: no HorizontalPodAutoscaler scales it`);
    const selects = (selector: Dict) =>
      Object.keys(selector).length > 0 &&
      Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    if (!budgets.some(b => selects(dict(dict(dict(b.spec).selector).matchLabels))))
      problems.push(`${name}: no PodDisruptionBudget covers its pods`);
    const service = services.find(s => selects(dict(dict(s.spec).selector)));
    if (!service) problems.push(`${name}: no Service selects its pods`);

    for (const container of list(pod.containers).map(dict)) {
      const where = `${name}/${text(container.name)}`;
      const role = roleOf(list(container.command).map(text));
      const port = text(dict(list(container.ports)[0]).containerPort);
      if (!role) {
        problems.push(
          `${where}: command does not run a role (router/index.js, subgraphs/main.js <name>)`,
        );
        continue;
      }
      roles.set(role, { deployment: name, port });
      for (const [probe, path] of [
        ['readinessProbe', '/ready'],
        ['livenessProbe', '/health'],
      ] as const) {
        const get = dict(dict(container[probe]).httpGet);
        if (text(get.path) !== path) problems.push(`${where}: ${probe} must GET ${path}`);
      }
      const resources = dict(container.resources);
      if (!dict(resources.requests).cpu || !dict(resources.requests).memory)
        problems.push(`${where}: resources.requests must set cpu and memory`);
      if (!dict(resources.limits).memory)
        problems.push(`${where}: resources.limits must set memory`);
      const security = dict(container.securityContext);
      if (security.allowPrivilegeEscalation !== false)
        problems.push(`${where}: securityContext.allowPrivilegeEscalation must be false`);
      if (dict(security).runAsUser === 0 || podSecurity.runAsUser === 0)
        problems.push(`${where}: runs as root (runAsUser: 0)`);

      const env = new Map<string, Dict>();
      for (const entry of list(container.env).map(dict)) env.set(text(entry.name), entry);
      for (const from of list(container.envFrom).map(dict)) {
        if (from.secretRef)
          problems.push(`${where}: envFrom a Secret gives it every key; name them`);
        const config = text(dict(from.configMapRef).name);
        if (from.configMapRef && config !== CONFIG_NAME)
          problems.push(`${where}: envFrom ${config}, which kustomization does not generate`);
      }
      for (const [key, entry] of env) {
        if (!known.has(key))
          problems.push(`${where}: ${key} is not a key of envSchema (lib/config.ts)`);
        const ref = dict(dict(entry.valueFrom).secretKeyRef);
        if (entry.valueFrom && (text(ref.name) !== SECRET_NAME || !secretKeys.has(text(ref.key))))
          problems.push(
            `${where}: ${key} reads ${text(ref.name)}/${text(ref.key)}, which is not generated`,
          );
        if (key.endsWith('_DATABASE_URL') || key === 'AMQP_URL' || SECRETS.includes(key as never)) {
          if (!entry.valueFrom)
            problems.push(`${where}: ${key} must come from the Secret, not a literal`);
        }
      }
      for (const secret of SECRETS)
        if (!env.has(secret)) problems.push(`${where}: ${secret} is not set`);
      if (!env.has('AMQP_URL')) problems.push(`${where}: AMQP_URL is not set`);
      if (!configKeys.has('NODE_ENV')) problems.push(`${where}: NODE_ENV=production is not set`);
      if (role !== 'router') {
        const prefix = envPrefix(role);
        if (!env.has(`${prefix}_DATABASE_URL`))
          problems.push(
            `${where}: ${prefix}_DATABASE_URL is not set (it would fall back to PGlite)`,
          );
        if (text(dict(env.get(`${prefix}_PORT`)).value) !== port)
          problems.push(`${where}: ${prefix}_PORT must be its containerPort ${port}`);
        const other = [...env.keys()].filter(
          k => k.endsWith('_DATABASE_URL') && k !== `${prefix}_DATABASE_URL`,
        );
        if (other.length > 0)
          problems.push(`${where}: gets another service's database: ${other.join(', ')}`);
      }
    }
  }
  for (const role of ['router', ...subgraphs.map(s => s.name)])
    if (!roles.has(role)) problems.push(`no Deployment runs the ${role} role`);

  const router = deployments.find(
    d => roles.get('router')?.deployment === text(dict(d.metadata).name),
  );
  const routerEnv = new Map(
    list(dict(list(dict(dict(dict(router?.spec).template).spec).containers)[0]).env)
      .map(dict)
      .map(e => [text(e.name), text(e.value)]),
  );
  for (const { name: sub } of subgraphs) {
    const key = `${envPrefix(sub)}_URL`;
    const url = routerEnv.get(key);
    if (!url) {
      problems.push(`router: ${key} is not set (it would look for ${sub} on localhost)`);
      continue;
    }
    const { hostname, port } = new URL(url);
    const service = services.find(s => text(dict(s.metadata).name) === hostname);
    const role = roles.get(sub);
    if (!service) problems.push(`router: ${key} points at ${hostname}, which is not a Service`);
    else if (!list(dict(service.spec).ports).some(p => text(dict(p).port) === port))
      problems.push(`router: ${key} uses port ${port}, which Service ${hostname} does not serve`);
    else if (role && role.port !== port)
      problems.push(`router: ${key} uses port ${port}, ${sub} listens on ${role.port}`);
  }
  return problems;
}

export function checkKubernetes(dir = DIR): string[] {
  const manifests = readManifests(dir);
  return [...checkSchemas(manifests, dir), ...checkDeployments(manifests, dir)];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = checkKubernetes();
  for (const problem of problems) console.error(`✗ ${problem}`);
  if (problems.length > 0) process.exit(1);
  console.log('deploy/kubernetes: valid against the Kubernetes schemas, every role checked');
}
