import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, applyEnv, loadConfigFile, parseConfig } from '../../protocol/index.js';
import { applyBridgeEnv, parseBridgeConfig } from '../../cloud/bridge/config.js';
import { errorOf } from './helpers.js';

const schema = z.strictObject({
  kafka: z
    .strictObject({
      brokers: z.array(z.string()).min(1).describe('list of host:port, e.g. ["kafka:9092"]'),
      clientId: z.string().default('edgewave'),
    })
    .describe('Kafka connection'),
  lingerMs: z.number().int().min(0).default(5).describe('milliseconds to wait to fill a batch'),
});

describe('config convention', () => {
  it('fills defaults and freezes the result deeply', () => {
    const cfg = parseConfig('bridge', schema, { kafka: { brokers: ['k:9092'] } });
    expect(cfg).toEqual({ kafka: { brokers: ['k:9092'], clientId: 'edgewave' }, lingerMs: 5 });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.kafka.brokers)).toBe(true);
  });

  it('names every bad field with the fix, and unknown keys', () => {
    const err = errorOf(ConfigError, () => parseConfig('bridge', schema, { kafka: { brokers: 'k:9092' }, lingerMs: -1, linger: 3 }));
    expect(err.code).toBe('EW_CONFIG_INVALID');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('bridge config is invalid');
    expect(err.message).toContain('kafka.brokers');
    expect(err.message).toContain('list of host:port');
    expect(err.message).toContain('lingerMs');
    expect(err.message).toContain('unknown key "linger"');
    expect(err.details.fields).toEqual(expect.arrayContaining(['kafka.brokers', 'lingerMs']));
  });

  it('reads YAML and JSON files and reports unreadable or malformed ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgewave-config-'));
    writeFileSync(join(dir, 'a.yaml'), 'kafka:\n  brokers: [k:9092]\n');
    writeFileSync(join(dir, 'b.json'), '{"kafka": {"brokers": ["k:9092"]}}');
    writeFileSync(join(dir, 'c.yaml'), 'kafka: [unclosed\n');
    for (const f of ['a.yaml', 'b.json']) {
      expect(parseConfig('x', schema, await loadConfigFile(join(dir, f))).kafka.brokers).toEqual(['k:9092']);
    }
    await expect(loadConfigFile(join(dir, 'c.yaml'))).rejects.toMatchObject({ code: 'EW_CONFIG_FILE' });
    await expect(loadConfigFile(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'EW_CONFIG_FILE' });
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('environment overrides', () => {
  const envSchema = z.strictObject({
    mqtt: z.strictObject({ password: z.string().optional(), qos: z.enum(['0', '1']).default('1'), keepaliveS: z.number().default(30) }).default({ qos: '1', keepaliveS: 30 }),
    brokers: z.array(z.string()).optional(),
    port: z.number().optional(),
  });

  it('reads JSON where the schema takes numbers, lists or objects, and keeps text as written where it takes text', () => {
    const out = applyEnv({}, 'EW_X_', { EW_X_MQTT__PASSWORD: '123456', EW_X_MQTT__QOS: '1', EW_X_MQTT__KEEPALIVE_S: '60', EW_X_BROKERS: '["a:1","b:2"]', EW_X_PORT: '9000' }, envSchema);
    expect(out).toEqual({ mqtt: { password: '123456', qos: '1', keepaliveS: 60 }, brokers: ['a:1', 'b:2'], port: 9000 });
    expect(parseConfig('x', envSchema, out).mqtt.password).toBe('123456');
    // Without a schema, as before: JSON where it parses.
    expect(applyEnv({}, 'EW_X_', { EW_X_MQTT__PASSWORD: '123456' })).toEqual({ mqtt: { password: 123456 } });
  });

  it('a bridge whose MQTT password is all digits, or looks like JSON, gets it as text', () => {
    const base = { mqtt: { url: 'mqtt://b:1883' }, kafka: { brokers: ['k:9092'] } };
    for (const password of ['0123', '123456', 'true', '{"a":1}']) {
      const c = parseBridgeConfig(applyBridgeEnv(base, { EW_BRIDGE_MQTT__PASSWORD: password, EW_BRIDGE_KAFKA__BROKERS: '["k1:9092","k2:9092"]' }));
      expect(c.mqtt.password).toBe(password);
      expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    }
  });
});
