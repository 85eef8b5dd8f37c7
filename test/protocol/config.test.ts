import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfigFile, parseConfig } from '../../protocol/index.js';
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
