// `edgewave edge --config edge.yaml`: validates the config (a bad one exits 2 naming the field,
// having written nothing), starts the agent, says what it does and where, and on SIGTERM or SIGINT
// flushes, gives the broker a few seconds to take the backlog, and exits 0.

import { ConfigError, EdgewaveError, createLogger, loadConfigFile } from '../protocol/index.js';
import { startAgent } from './agent.js';
import { applyEnvOverrides, parseEdgeConfig } from './config.js';

export async function runEdgeCommand(options: { config?: string; check?: boolean; drainMs?: number }): Promise<number> {
  let config;
  try {
    if (!options.config) throw new ConfigError('EW_CONFIG_INVALID', 'edge needs --config <file> (YAML or JSON)');
    config = parseEdgeConfig(applyEnvOverrides(await loadConfigFile(options.config)));
  } catch (err) {
    if (err instanceof EdgewaveError) {
      console.error(`edgewave edge: ${err.message} [${err.code}]`);
      return 2;
    }
    throw err;
  }
  if (options.check) {
    console.log(`edgewave edge: ${options.config} is valid`);
    return 0;
  }
  const log = createLogger('edge', { level: config.logLevel });
  let agent;
  try {
    agent = await startAgent(config, log);
  } catch (err) {
    if (err instanceof EdgewaveError) {
      console.error(`edgewave edge: ${err.message} [${err.code}]`);
      return 2;
    }
    throw err;
  }
  const sources = config.sources
    .map((s) => (s.type === 'simulator' || s.type === 'synthetic' ? `${s.type} (${s.sensors} sensors at ${s.rate} Hz)` : s.type === 'csv' ? `csv ${s.path}` : s.type === 'udp' ? `udp ${s.host}:${s.port}` : `mqtt ${s.url} ${s.topic}`))
    .join(', ');
  console.error(`edgewave edge: gateway ${config.gatewayId}, ${sources} → ${config.mqtt.url} (topics ${config.mqtt.topicRoot}/${config.gatewayId}/…); outbox ${config.dataDir}/outbox; health and metrics on ${agent.httpUrl}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await agent.stop(options.drainMs ?? 5000);
  return 0;
}
