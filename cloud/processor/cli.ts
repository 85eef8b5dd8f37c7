// `edgewave processor --config processor.yaml`: validates the config (a bad one, or a model that does
// not fit the feature layout, exits 2 naming what is wrong), starts the processor, says what it
// does and where, and on SIGTERM or SIGINT leaves the group and exits 0.

import { ConfigError, EdgewaveError, createLogger, loadConfigFile } from '../../protocol/index.js';
import { runComponentCommand } from '../../protocol/node-support.js';
import { applyProcessorEnv, parseProcessorConfig } from './config.js';
import { startProcessor } from './processor.js';
import { replay } from './replay.js';

export function runProcessorCommand(options: { config?: string; check?: boolean }): Promise<number> {
  return runComponentCommand({
    name: 'processor',
    configFile: options.config,
    check: options.check,
    parse: (raw) => parseProcessorConfig(applyProcessorEnv(raw)),
    start: async (config) => {
      const log = createLogger('processor', { level: config.logLevel });
      return {
        processor: await startProcessor(config, log, {
          onFatal: () => {
            // Nothing is lost (results are committed with their offsets): exit, to be started again.
            log.fatal('exiting: the Kafka consumer stopped for good');
            process.exit(1);
          },
        }),
        log,
      };
    },
    describe: (config, { processor }) => {
      const t = config.kafka.topics;
      return `Kafka ${config.kafka.brokers.join(',')} group ${config.kafka.groupId}: ${t.raw} + ${t.features} → ${t.inferences}, ${t.sessions} (state in ${t.processorState}, exactly once); model ${config.model.path} on ${processor.model.backend}; health, ready and metrics on ${processor.httpUrl}`;
    },
    // Cut short, nothing is lost: an open transaction is aborted when the next owner fences it, and its input processed again. Under the chart's grace period.
    stopTimeoutMs: 45_000,
    stop: async ({ processor, log }, signal) => {
      log.info({ signal }, 'stopping');
      await processor.stop();
    },
  });
}

/** Parses a --since/--until time: ISO 8601 (a date alone is midnight UTC), in µs since the epoch. */
function parseTime(name: string, value: string | undefined): number {
  const ms = value === undefined ? NaN : Date.parse(value);
  if (!Number.isFinite(ms)) throw new ConfigError('EW_CONFIG_INVALID', `--${name}: expected an ISO 8601 time such as 2026-11-25T09:00:00Z, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  return ms * 1000;
}

/** `edgewave processor replay --config processor.yaml --from s3://...|file:///... --since ... --until ... --to ...` */
export async function runReplayCommand(options: { config?: string; from?: string; since?: string; until?: string; to?: string; groups?: string }): Promise<number> {
  let config;
  let since: number;
  let until: number;
  try {
    if (!options.config) throw new ConfigError('EW_CONFIG_INVALID', 'processor replay needs --config <file> (the processor config: model, features, sessions, S3)');
    config = parseProcessorConfig(applyProcessorEnv(await loadConfigFile(options.config)));
    const from = options.from ?? config.archive?.url;
    if (!from || !/^(s3:\/\/[^/]+|file:\/\/\/\S+)/.test(from)) throw new ConfigError('EW_CONFIG_INVALID', `--from: expected s3://bucket/prefix or file:///path of an archive${config.archive ? '' : ' (the config has no archive.url to default to)'}`);
    options.from = from;
    since = parseTime('since', options.since);
    until = parseTime('until', options.until);
    if (since >= until) throw new ConfigError('EW_CONFIG_INVALID', `--since (${options.since}) must be before --until (${options.until})`);
    if (!/^(jsonl:.+|kafka:[^,\s]+,[^,\s]+)$/.test(options.to ?? 'jsonl:-')) throw new ConfigError('EW_CONFIG_INVALID', `--to: expected jsonl:<path>, jsonl:- or kafka:<inferences topic>,<sessions topic>, got ${JSON.stringify(options.to)}`);
  } catch (err) {
    if (!(err instanceof EdgewaveError)) throw err;
    console.error(`edgewave processor replay: ${err.message} [${err.code}]`);
    return 2;
  }
  const log = createLogger('processor', { level: config.logLevel, destination: process.stderr });
  const to = options.to ?? 'jsonl:-';
  let last = 0;
  const result = await replay(
    config,
    {
      from: options.from!,
      since,
      until,
      to,
      ...(options.groups ? { groups: options.groups.split(',').map((g) => g.trim()).filter(Boolean) } : {}),
      onProgress: (p) => {
        if (Date.now() - last < 1000 && p.objects < p.totalObjects) return;
        last = Date.now();
        console.error(`replay: ${p.objects}/${p.totalObjects} objects, ${p.frames} frames, ${p.windows} windows, ${p.sessionEvents} session events`);
      },
    },
    log,
  );
  console.error(`edgewave processor replay: ${result.objects} objects from ${options.from}, ${result.frames} frames → ${result.windows} windows and ${result.sessionEvents} session events to ${to}`);
  return 0;
}
