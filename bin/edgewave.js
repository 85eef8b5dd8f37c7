#!/usr/bin/env node
// edgewave command line. Subcommands load their code on demand from the compiled dist/ tree.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';

const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

async function load(path) {
  const url = new URL(`dist/${path}`, root);
  if (!existsSync(fileURLToPath(url))) {
    console.error(`edgewave: ${path} is not built; run \`npm run build\` first`);
    process.exit(2);
  }
  return import(url.href);
}

function int(name) {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
    return n;
  };
}

const program = new Command('edgewave').version(pkg.version).description(pkg.description);

// Help texts show the defaults of the demo's config schema, so the two cannot drift apart.
const { DEMO_DEFAULTS: d } = await load('edge/demo.js');

program
  .command('start')
  .description('the whole system in one process, no server to install: simulated gateways, MQTT broker, bridge, processor, API and the web app (what `npm start` runs)')
  .option('--sensors <n>', 'simulated sensors (default 50)', int('--sensors'))
  .option('--gateways <n>', 'gateways the sensors are spread over (default 5)', int('--gateways'))
  .option('--groups <n>', 'groups the sensors are spread over (default 5)', int('--groups'))
  .option('--rate <hz>', 'samples per second per sensor (default 200)', int('--rate'))
  .option('--host <address>', 'address the API and web app listen on (default 127.0.0.1)')
  .option('--port <port>', 'port of the API and web app, 0 for any free port (default 8080)', int('--port'))
  .option('--data-dir <dir>', 'sessions, archive and the gateways\' outboxes (default ./data)')
  .option('--seed <n>', 'seed of the simulated signals (default 1)', int('--seed'))
  .option('--duration <s>', 'stop after this many seconds (default: run until Ctrl-C)', Number)
  .option('--log-level <level>', 'fatal, error, warn (default), info or debug')
  .action(async (opts) => {
    const { runStartCommand } = await load('cloud/embedded/start-cli.js');
    const { duration, ...rest } = opts;
    for (const [k, v] of Object.entries({ sensors: rest.sensors, gateways: rest.gateways, groups: rest.groups, rate: rest.rate })) {
      if (v !== undefined && v < 1) program.error(`edgewave start: --${k} must be at least 1, got ${v}`, { exitCode: 2 });
    }
    if (rest.logLevel !== undefined && !['fatal', 'error', 'warn', 'info', 'debug'].includes(rest.logLevel)) program.error(`edgewave start: --log-level must be fatal, error, warn, info or debug, got "${rest.logLevel}"`, { exitCode: 2 });
    process.exitCode = await runStartCommand({ ...rest, ...(duration === undefined ? {} : { durationS: duration }) });
  });

program
  .command('demo')
  .description('simulated gateways publish binary frames over MQTT to an embedded broker; a subscriber checks and reports them')
  .option('--sensors <n>', `simulated sensors (default ${d.sensors})`, int('--sensors'))
  .option('--gateways <n>', `gateways the sensors are spread over (default ${d.gateways})`, int('--gateways'))
  .option('--groups <n>', `groups the sensors are spread over (default ${d.groups})`, int('--groups'))
  .option('--rate <hz>', `samples per second per sensor (default ${d.rate})`, int('--rate'))
  .option('--frame-ms <ms>', `milliseconds of samples per frame (default ${d.frameMs})`, int('--frame-ms'))
  .option('--host <address>', `address of the embedded MQTT broker (default ${d.host})`)
  .option('--port <port>', `port of the embedded MQTT broker, 0 for any free port (default ${d.port})`, int('--port'))
  .option('--duration <s>', 'stop after this many seconds (default: run until Ctrl-C)', Number)
  .option('--seed <n>', `seed of the simulated signals (default ${d.seed})`, int('--seed'))
  .action(async (opts) => {
    const { runDemoCommand } = await load('edge/demo-cli.js');
    const { duration, ...rest } = opts;
    process.exitCode = await runDemoCommand({ ...rest, ...(duration === undefined ? {} : { durationS: duration }) });
  });

program
  .command('edge')
  .description('the gateway agent: sources → features and raw frames → durable outbox → MQTT')
  .option('--config <file>', 'YAML or JSON config (EW_EDGE_* variables override it, e.g. EW_EDGE_MQTT__URL)')
  .option('--check', 'validate the config and exit')
  .option('--drain-ms <ms>', 'on SIGTERM, how long to wait for the broker to take the backlog (default 5000)', int('--drain-ms'))
  .action(async (opts) => {
    const { runEdgeCommand } = await load('edge/agent-cli.js');
    process.exitCode = await runEdgeCommand(opts);
  });

program
  .command('bridge')
  .description('MQTT → Kafka: shared subscription, frames checked, acknowledged to the broker only after Kafka has them')
  .option('--config <file>', 'YAML or JSON config (EW_BRIDGE_* variables override it, e.g. EW_BRIDGE_MQTT__PASSWORD)')
  .option('--check', 'validate the config and exit')
  .action(async (opts) => {
    const { runBridgeCommand } = await load('cloud/bridge/cli.js');
    process.exitCode = await runBridgeCommand(opts);
  });

const processor = program
  .command('processor')
  .description('Kafka → features, stateful model inference and sessions, exactly once (Kafka transactions with a state changelog)')
  .option('--config <file>', 'YAML or JSON config (EW_PROCESSOR_* variables override it)')
  .option('--check', 'validate the config and exit')
  .action(async (opts) => {
    const { runProcessorCommand } = await load('cloud/processor/cli.js');
    process.exitCode = await runProcessorCommand(opts);
  });

processor
  .command('replay')
  .description('feed archived frames (the S3 Parquet archive) through the same engine into a chosen output')
  .option('--config <file>', 'the processor config (model, features, sessions, S3 connection)')
  .option('--from <url>', 's3://bucket/prefix or file:///path of the archive (default: the config\'s archive.url)')
  .requiredOption('--since <time>', 'first sample time to replay, ISO 8601 (e.g. 2026-11-25T09:00:00Z)')
  .requiredOption('--until <time>', 'end of the replay, exclusive, ISO 8601')
  .option('--to <output>', 'jsonl:<path>, jsonl:- (stdout) or kafka:<inferences topic>,<sessions topic>', 'jsonl:-')
  .option('--groups <list>', 'only these groups, comma-separated')
  .action(async (_opts, cmd) => {
    const { runReplayCommand } = await load('cloud/processor/cli.js');
    // --config may be taken by the parent command: read both.
    process.exitCode = await runReplayCommand(cmd.optsWithGlobals());
  });

const api = program
  .command('api')
  .description('REST API over the sessions (and, to come, live results over WebSocket), with API keys and OpenAPI at /docs')
  .option('--config <file>', 'YAML or JSON config (EW_API_* variables override it)')
  .option('--check', 'validate the config and exit')
  .action(async (opts) => {
    const { runApiCommand } = await load('cloud/api/cli.js');
    process.exitCode = await runApiCommand(opts);
  });

api
  .command('hash-key')
  .description('make a new API key and print it with the SHA-256 digest the config keeps')
  .action(async () => {
    const { runHashKeyCommand } = await load('cloud/api/cli.js');
    process.exitCode = runHashKeyCommand();
  });

await program.parseAsync();
