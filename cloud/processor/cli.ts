// `edgewave processor --config processor.yaml`: validates the config (a bad one, or a model that does
// not fit the feature layout, exits 2 naming what is wrong), starts the processor, says what it
// does and where, and on SIGTERM or SIGINT leaves the group and exits 0.

import { createLogger } from '../../protocol/index.js';
import { runComponentCommand } from '../../protocol/node-support.js';
import { applyProcessorEnv, parseProcessorConfig } from './config.js';
import { startProcessor } from './processor.js';

export function runProcessorCommand(options: { config?: string; check?: boolean }): Promise<number> {
  return runComponentCommand({
    name: 'processor',
    configFile: options.config,
    check: options.check,
    parse: (raw) => parseProcessorConfig(applyProcessorEnv(raw)),
    start: async (config) => {
      const log = createLogger('processor', { level: config.logLevel });
      return { processor: await startProcessor(config, log), log };
    },
    describe: (config, { processor }) => {
      const t = config.kafka.topics;
      return `Kafka ${config.kafka.brokers.join(',')} group ${config.kafka.groupId}: ${t.raw} + ${t.features} → ${t.inferences}, ${t.sessions} (state in ${t.processorState}, exactly once); model ${config.model.path} on ${processor.model.backend}; health, ready and metrics on ${processor.httpUrl}`;
    },
    stop: async ({ processor, log }, signal) => {
      log.info({ signal }, 'stopping');
      await processor.stop();
    },
  });
}
