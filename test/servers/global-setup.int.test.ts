// The rule that keeps CI honest: with CI=true a server that cannot start fails the run; without
// CI its tests are skipped with the reason. Checked by running vitest itself with the Kafka,
// FerretDB and MinIO installs hidden (an empty cache directory) and Mosquitto taken from the env.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { servers } from '../config.js';

const settings = servers().mosquitto;
const root = new URL('../..', import.meta.url).pathname;

function runKafkaSmoke(ci: boolean) {
  const emptyCache = mkdtempSync(join(tmpdir(), 'edgewave-nocache-'));
  const env: NodeJS.ProcessEnv = { ...process.env, EW_CACHE: emptyCache, EW_MQTT_URL: settings!.url, EW_SERVER_LOGS: join(emptyCache, 'logs') };
  for (const k of ['EW_KAFKA_BROKERS', 'EW_MONGODB_URL', 'EW_S3_ENDPOINT', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'NODE_ENV']) delete env[k];
  if (ci) env.CI = 'true';
  else delete env.CI;
  const r = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'integration', 'test/servers/kafka.int.test.ts'], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 90_000,
  });
  rmSync(emptyCache, { recursive: true, force: true });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe.runIf(settings)('integration global setup', () => {
  it('fails the run when CI=true and a server cannot start', () => {
    const { status, output } = runKafkaSmoke(true);
    expect(status).not.toBe(0);
    expect(output).toContain('CI=true and these servers could not start');
    expect(output).toMatch(/kafka: Kafka is not installed/);
  });

  it('skips that server\'s tests, saying why, when CI is not set', () => {
    const { status, output } = runKafkaSmoke(false);
    expect(status).toBe(0);
    expect(output).toMatch(/unavailable, their tests will be skipped/);
    expect(output).toMatch(/2 skipped/);
  });
});
