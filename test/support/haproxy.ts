import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** Debian's HAProxy (`apt-get install haproxy`); .ci/run installs it. */
const HAPROXY = 'haproxy';

export interface HaproxyFrontend {
  /** A name for the frontend and its backend (letters, digits, `_`). */
  name: string;
  /** `host:port` of every replica; health-checked on `GET /ready`. */
  servers: readonly string[];
}

export interface Haproxy {
  /** Base URL (`http://127.0.0.1:port`) of each frontend, by name. */
  readonly urls: Readonly<Record<string, string>>;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Throws (never skips) when HAProxy is not installed: the scale-out test and bench need it, and
 * CI installs it beside Chromium.
 */
export function requireHaproxy(): void {
  const probe = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error(
      `HAProxy not found (${HAPROXY}): apt-get install -y haproxy (.ci/run installs it)`,
    );
}

const portOpen = (port: number) =>
  new Promise<boolean>(resolve => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Starts HAProxy in the foreground with a config of its own in os.tmpdir(): one HTTP frontend
 * per entry on a port from the OS, round-robin over its servers, which are checked on
 * `/ready` every 500 ms (down after 3 misses, so a replica killed with `kill -9` leaves the
 * rotation within about 2 s; meanwhile a refused connection is retried on the other one). WebSockets pass through (`timeout tunnel`). Resolves once every
 * frontend accepts connections.
 */
export async function startHaproxy(frontends: readonly HaproxyFrontend[]): Promise<Haproxy> {
  requireHaproxy();
  for (const f of frontends)
    if (!/^\w{1,64}$/.test(f.name) || f.servers.length === 0)
      throw new Error(`bad frontend ${JSON.stringify(f)}`);
  const dir = await mkdtemp(join(tmpdir(), 'haproxy-'));
  const ports = await Promise.all(frontends.map(() => freePort()));
  const config = [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 1h',
    '  option http-server-close',
    // A request that found a dead replica goes to the other one when nothing was sent yet.
    '  retries 2',
    '  option redispatch',
    ...frontends.flatMap((f, i) => [
      `frontend ${f.name}_in`,
      `  bind 127.0.0.1:${ports[i]}`,
      `  default_backend ${f.name}`,
      `backend ${f.name}`,
      '  balance roundrobin',
      '  option httpchk GET /ready',
      // A generous check timeout: a replica slow to answer on a busy machine is not dead.
      '  timeout check 5s',
      '  default-server inter 500ms fall 3 rise 1',
      ...f.servers.map((s, j) => `  server ${f.name}${j + 1} ${s} check`),
    ]),
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const lines: string[] = [];
  const child = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 200));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited:\n${lines.join('\n')}`);
        return (await Promise.all(ports.map(portOpen))).every(Boolean);
      },
      { timeoutMs: 10_000, message: 'haproxy did not listen' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls: Object.fromEntries(frontends.map((f, i) => [f.name, `http://127.0.0.1:${ports[i]}`])),
    child,
    output: () => lines.join('\n'),
    stop,
  };
}
