// `edgewave edge --config edge.yaml`: validates the config (a bad one exits 2 naming the field,
// having written nothing), starts the agent, says what it does and where, and on SIGTERM or SIGINT
// flushes, gives the broker a few seconds to take the backlog, and exits 0.

import { createLogger } from '../protocol/index.js';
import { runComponentCommand } from '../protocol/node-support.js';
import { startAgent } from './agent.js';
import { applyEnvOverrides, parseEdgeConfig } from './config.js';

export function runEdgeCommand(options: { config?: string; check?: boolean; drainMs?: number }): Promise<number> {
  return runComponentCommand({
    name: 'edge',
    configFile: options.config,
    check: options.check,
    parse: (raw) => parseEdgeConfig(applyEnvOverrides(raw)),
    start: async (config) => {
      const log = createLogger('edge', { level: config.logLevel });
      return { agent: await startAgent(config, log), log };
    },
    describe: (config, { agent }) => {
      const sources = config.sources
        .map((s) => (s.type === 'simulator' || s.type === 'synthetic' ? `${s.type} (${s.sensors} sensors at ${s.rate} Hz)` : s.type === 'csv' ? `csv ${s.path}` : s.type === 'udp' ? `udp ${s.host}:${s.port}` : `mqtt ${s.url} ${s.topic}`))
        .join(', ');
      return `gateway ${config.gatewayId}, ${sources} → ${config.mqtt.url} (topics ${config.mqtt.topicRoot}/${config.gatewayId}/…); outbox ${config.dataDir}/outbox; health and metrics on ${agent.httpUrl}`;
    },
    stop: async ({ agent, log }, signal) => {
      log.info({ signal }, 'stopping');
      await agent.stop(options.drainMs ?? 5000);
    },
  });
}
