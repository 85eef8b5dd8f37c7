// `edgewave bridge` refuses a bad config, naming each field, and takes EW_BRIDGE_* overrides.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyBridgeEnv, parseBridgeConfig } from '../../../cloud/bridge/config.js';

const root = new URL('../../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-bridge-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bridge = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [join(root, 'bin/edgewave.js'), 'bridge', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

describe('edgewave bridge', () => {
  it('exits 2 on a bad config, naming each bad field and what it expects', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'mqtt:\n  url: http://broker\n  shareGroup: a/b\n  inFlight: 0\nkafka:\n  brokers: [kafka]\n  compression: zstd\nextra: 1\n');
    const r = bridge(['--config', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mqtt\.url: an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL/);
    expect(r.stderr).toMatch(/mqtt\.shareGroup: a name without \/ \+ #/);
    expect(r.stderr).toMatch(/mqtt\.inFlight/);
    expect(r.stderr).toMatch(/kafka\.brokers\.0: host:port/);
    expect(r.stderr).toMatch(/kafka\.compression/);
    expect(r.stderr).toMatch(/extra/);
    expect(r.stderr).toContain('[EW_CONFIG_INVALID]');
  });

  it('says when the file is missing; --check accepts a good one', () => {
    expect(bridge(['--config', join(dir, 'missing.yaml')]).stderr).toContain('[EW_CONFIG_FILE]');
    const file = join(dir, 'good.json');
    writeFileSync(file, JSON.stringify({ mqtt: { url: 'mqtt://127.0.0.1:1' }, kafka: { brokers: ['127.0.0.1:9092'] } }));
    const r = bridge(['--config', file, '--check']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('is valid');
  });

  it('EW_BRIDGE_* variables override the file, with defaults filled in', () => {
    const c = parseBridgeConfig(applyBridgeEnv({ mqtt: { url: 'mqtt://a:1' }, kafka: { brokers: ['k:1'] } }, { EW_BRIDGE_MQTT__PASSWORD: 's3cret', EW_BRIDGE_KAFKA__BROKERS: '["k1:9092","k2:9092"]', EW_BRIDGE_MQTT__IN_FLIGHT: '50' }));
    expect(c.mqtt.password).toBe('s3cret');
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(c.mqtt.inFlight).toBe(50);
    expect(c.kafka.topics).toEqual({ raw: 'edgewave.raw', features: 'edgewave.features', status: 'edgewave.status', deadletter: 'edgewave.deadletter' });
    expect(c.mqtt.shareGroup).toBe('edgewave-bridge');
  });
});
