// Entry of the gateway bundle (scripts/bundle-edge.mjs): `node edgewave-edge.mjs --config edge.yaml`,
// with the .wasm files beside it and nothing else installed.

import { runEdgeCommand } from './agent-cli.js';

const HELP = `usage: node edgewave-edge.mjs --config <file> [--check] [--drain-ms <ms>]

  --config <file>    YAML or JSON agent config (EW_EDGE_* variables override it, e.g. EW_EDGE_MQTT__URL)
  --check            validate the config and exit
  --drain-ms <ms>    on SIGTERM, how long to wait for the broker to take the backlog (default 5000)
`;

const args = process.argv.slice(2);
const options: { config?: string; check?: boolean; drainMs?: number } = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--help' || a === '-h') {
    process.stdout.write(HELP);
    process.exit(0);
  } else if (a === '--config') options.config = args[++i];
  else if (a.startsWith('--config=')) options.config = a.slice('--config='.length);
  else if (a === '--check') options.check = true;
  else if (a === '--drain-ms') options.drainMs = Number(args[++i]);
  else {
    process.stderr.write(`edgewave-edge: unknown argument ${JSON.stringify(a)}\n${HELP}`);
    process.exit(2);
  }
}
process.exitCode = await runEdgeCommand(options);
