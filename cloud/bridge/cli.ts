// `edgewave bridge --config bridge.yaml`: validates the config (a bad one exits 2 naming the field),
// starts the bridge, says what it does and where, and on SIGTERM or SIGINT gives Kafka drainMs for
// what was received, acknowledges that, and exits 0.

import { createLogger } from '../../protocol/index.js';
import { runComponentCommand } from '../../protocol/node-support.js';
import { startBridge } from './bridge.js';
import { applyBridgeEnv, parseBridgeConfig } from './config.js';

export function runBridgeCommand(options: { config?: string; check?: boolean }): Promise<number> {
  return runComponentCommand({
    name: 'bridge',
    configFile: options.config,
    check: options.check,
    parse: (raw) => parseBridgeConfig(applyBridgeEnv(raw)),
    start: async (config) => {
      const log = createLogger('bridge', { level: config.logLevel });
      return { bridge: await startBridge(config, log), log };
    },
    describe: (config, { bridge }) => {
      const t = config.kafka.topics;
      return `${config.mqtt.url} (${config.mqtt.shareGroup === null ? '' : `$share/${config.mqtt.shareGroup}/`}${config.mqtt.topicRoot}/…, client ${bridge.clientId}, at most ${config.mqtt.inFlight} unacknowledged) → Kafka ${config.kafka.brokers.join(',')} (${t.raw}, ${t.features}, ${t.status}, dead letters ${t.deadletter}); health, ready and metrics on ${bridge.httpUrl}`;
    },
    // Cut short, nothing is lost: a message not yet in Kafka has no PUBACK, and the broker sends it again. Under the chart's grace period.
    stopTimeoutMs: 45_000,
    stop: async ({ bridge, log }, signal) => {
      log.info({ signal }, 'stopping');
      await bridge.stop();
    },
  });
}
