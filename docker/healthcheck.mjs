// The image's HEALTHCHECK: GET /health (or the path given) of the role this container runs.
// One image serves every role: the role is read from the container's command line
// (`router/index.js`, or `subgraphs/main.js <name>`), its port from the variable the service
// itself reads (ROUTER_PORT, default 4000; <NAME>_PORT, which a subgraph's container sets).
import { readFileSync } from 'node:fs';

const command = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
const at = command.findIndex(part => /(^|\/)subgraphs\/main\.js$/.test(part));
const role = at === -1 ? 'router' : (command[at + 1] ?? '');
const variable = `${role.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PORT`;
const port = process.env[variable] || (role === 'router' ? '4000' : '');
const path = process.argv[2] ?? '/health';

if (!port) {
  console.error(`healthcheck: ${variable} is not set for the ${role} subgraph`);
  process.exit(1);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(4_000),
  });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
