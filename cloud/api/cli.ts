// `edgewave api --config api.yaml`: validates the config (a bad one exits 2 naming the fields),
// serves the API, and on SIGTERM or SIGINT closes it and exits 0. `edgewave api hash-key` makes a
// new key and prints it with the digest to put in the config.

import { createLogger } from '../../protocol/index.js';
import { runComponentCommand } from '../../protocol/node-support.js';
import { newApiKey } from './auth.js';
import { applyApiEnv, parseApiCommandConfig } from './config.js';
import { startApi } from './server.js';

export function runApiCommand(options: { config?: string; check?: boolean }): Promise<number> {
  return runComponentCommand({
    name: 'api',
    configFile: options.config,
    check: options.check,
    parse: (raw) => parseApiCommandConfig(applyApiEnv(raw)),
    start: async (config) => {
      const log = createLogger('api', { level: config.logLevel });
      const api = await startApi(config, log, {
        onFatal: () => {
          // The live feed holds nothing of its own: exit, to be started again.
          log.fatal('exiting: a live feed Kafka consumer stopped for good');
          process.exit(1);
        },
      });
      return { api, log };
    },
    describe: (config, { api }) => `REST on ${api.url} (OpenAPI at ${api.url}/docs), sessions from ${config.mongodb.url.replace(/\/\/[^@/]*@/, '//***@')} ${config.mongodb.database}.${config.mongodb.collection}${config.auth.open ? '; OPEN: no API keys needed' : ''}`,
    // Cut short, nothing is lost: it holds nothing of its own. Under the chart's grace period.
    stopTimeoutMs: 20_000,
    stop: async ({ api, log }, signal) => {
      log.info({ signal }, 'stopping');
      await api.stop();
    },
  });
}

export function runHashKeyCommand(): number {
  const { key, sha256 } = newApiKey();
  console.log(`key:    ${key}\nsha256: ${sha256}\n\nGive the key to the client; put only the digest in the config:\n  auth:\n    keys:\n      - { id: <name>, sha256: ${sha256}, scopes: [read] }`);
  return 0;
}
