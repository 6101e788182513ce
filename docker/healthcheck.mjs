// The image's HEALTHCHECK: GET /health (or the path given) of the role this container runs.
// One image serves every role, so the role is read from the container's command line and
// its port from the same variables the service reads (lib/config.ts), with the same defaults.
import { readFileSync } from 'node:fs';

const PORTS = { router: 4000, users: 4001, tasks: 4002, notifications: 4003 };
const command = readFileSync('/proc/1/cmdline', 'utf8').replaceAll('\0', ' ');
const role = /subgraphs\/(users|tasks|notifications)\//.exec(command)?.[1] ?? 'router';
const port = process.env[`${role.toUpperCase()}_PORT`] || PORTS[role];
const path = process.argv[2] ?? '/health';

try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(4_000),
  });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
