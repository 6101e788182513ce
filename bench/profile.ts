import { readFileSync } from 'node:fs';

/** The top self-time costs of a V8 CPU profile (`--cpu-prof`), by function and by package. */
export interface ProfileSummary {
  label: string;
  /** Milliseconds of samples, idle time excluded. */
  busyMs: number;
  functions: Array<{ name: string; where: string; selfMs: number; percent: number }>;
  packages: Array<{ name: string; selfMs: number; percent: number }>;
}

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }>;
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/@scope/name/...` → `@scope/name`; our own files → `(project) dir/file`; node internals → `(node)`. */
function packageOf(url: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match?.[1]) return match[1];
  if (url.startsWith('node:') || url === '') return '(node internals)';
  const project = /\/(lib|router|bench|subgraphs|schema)\/.*$/.exec(url);
  return project ? `(project) ${project[1]}/` : url;
}

export function summarizeProfile(label: string, file: string, top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map(n => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const packages = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    busy += us;
    const name = functionName || '(anonymous)';
    const short = url
      .replace(/^.*node_modules\//, '')
      .replace(/^file:\/\/.*?\/(lib|router|bench|subgraphs)\//, '$1/');
    const where = url ? `${short}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const pkg = functionName === '(garbage collector)' ? '(garbage collector)' : packageOf(url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  return {
    label,
    busyMs: Math.round(busy / 1000),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(f => ({
        name: f.name,
        where: f.where,
        selfMs: Math.round(f.us / 1000),
        percent: pct(f.us),
      })),
    packages: [...packages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percent: pct(us) })),
  };
}

// `tsx bench/profile.ts <file.cpuprofile>...`: the same summary for profiles taken by hand.
if (process.argv[1]?.endsWith('profile.ts') && process.argv.length > 2) {
  for (const file of process.argv.slice(2)) {
    const s = summarizeProfile(file, file, 25);
    process.stdout.write(`\n${file}: ${s.busyMs} ms busy\n`);
    for (const p of s.packages)
      process.stdout.write(`  ${String(p.percent).padStart(5)}%  ${p.name}\n`);
    process.stdout.write('\n');
    for (const f of s.functions)
      process.stdout.write(`  ${String(f.percent).padStart(5)}%  ${f.name}  ${f.where}\n`);
  }
}
