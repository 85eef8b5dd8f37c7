// Starts the real servers once for the integration project and hands their settings to the tests.
// A server named by an EW_* variable is used as it is (e.g. after `npm run servers -- start`).
// With CI=true any missing or failing server fails the run; it never turns into skipped tests.

import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { MQTT_TEST_USERS, SERVER_NAMES, startServers, stopServers, type RunningServer, type ServerName } from '../scripts/servers/index.js';
import { settingsFromEnv, type ServerSettings } from './config.js';

const ENV_KEY: Record<ServerName, string> = {
  kafka: 'EW_KAFKA_BROKERS',
  mosquitto: 'EW_MQTT_URL',
  ferretdb: 'EW_MONGODB_URL',
  minio: 'EW_S3_ENDPOINT',
};

let running: RunningServer[] = [];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const strict = process.env.CI === 'true' || process.env.CI === '1';
  const external = SERVER_NAMES.filter((n) => process.env[ENV_KEY[n]]);
  const toStart = SERVER_NAMES.filter((n) => !process.env[ENV_KEY[n]]);
  const env: Record<string, string | undefined> = { ...process.env };
  const missing: Record<string, string> = {};
  if (toStart.length) {
    const t0 = Date.now();
    const { logDir, started, failed } = await startServers(toStart);
    running = started;
    for (const s of started) Object.assign(env, s.env);
    for (const f of failed) missing[f.name] = f.error.message;
    const summary = started.map((s) => `${s.version} (pid ${s.pid})`).join(', ');
    console.log(`[servers] started in ${Date.now() - t0} ms: ${summary || 'none'}\n[servers] logs: ${logDir}`);
  }
  // Chromium is a tool, not a server: it only has to be installed (scripts/install-chromium.sh).
  const chromium = process.env.EW_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) missing.chromium = `Chromium not found at ${chromium}: run \`npm run servers:install\` (EW_CHROMIUM names another executable)`;
  if (external.length) console.log(`[servers] using running servers from the environment: ${external.join(', ')}`);
  if (Object.keys(missing).length) {
    const report = Object.entries(missing).map(([n, why]) => `  ${n}: ${why}`).join('\n');
    if (strict) {
      await stopServers(running);
      throw new Error(`CI=true and these servers could not start:\n${report}`);
    }
    console.warn(`[servers] unavailable, their tests will be skipped (set CI=true to fail instead):\n${report}`);
  }
  // If vitest dies without running teardown, do not leave servers behind.
  const killAll = () => running.forEach((s) => { try { process.kill(s.pid, 'SIGKILL'); } catch { /* already gone */ } });
  process.once('exit', killAll);
  const settings: ServerSettings = { ...settingsFromEnv(env, { ...MQTT_TEST_USERS }), missing };
  if (!missing.chromium) settings.chromium = { executablePath: chromium };
  project.provide('servers', settings);
  return async () => {
    process.off('exit', killAll);
    await stopServers(running);
    running = [];
  };
}
