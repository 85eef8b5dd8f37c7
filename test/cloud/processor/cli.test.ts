// `edgewave processor` refuses a bad config, and a model that does not fit the feature layout,
// before it touches Kafka: exit 2, naming what is wrong.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-processor-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const processor = (file: string) => spawnSync(process.execPath, [join(root, 'bin/edgewave.js'), 'processor', '--config', file], { encoding: 'utf8', timeout: 60_000 });

describe('edgewave processor', () => {
  it('a model whose input width does not fit the layout: exit 2 naming both sizes', () => {
    const file = join(dir, 'full.json');
    // Every feature (162) against the shipped model's 16; no Kafka is reached (port 1).
    writeFileSync(file, JSON.stringify({ kafka: { brokers: ['127.0.0.1:1'] }, features: { preset: 'full' }, http: { port: 0 } }));
    const r = processor(file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/model input features has 16 values per window, but the feature layout 0x[0-9a-f]{8} has 162 features/);
    expect(r.stderr).toContain('[EW_MODEL_CONTRACT]');
  });

  it('a bad config: exit 2 naming the fields', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'kafka:\n  brokers: [nohost]\nsessions:\n  minSensors: 0\nmodel:\n  backend: gpu\n');
    const r = processor(file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/kafka\.brokers\.0: host:port/);
    expect(r.stderr).toMatch(/sessions\.minSensors/);
    expect(r.stderr).toMatch(/model\.backend/);
  });
});
