// `edgewave edge` refuses a bad config before it touches the disk, naming the field.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyEnvOverrides, parseEdgeConfig } from '../../edge/config.js';

const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-edge-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const edge = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [join(root, 'bin/edgewave.js'), 'edge', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

describe('edgewave edge', () => {
  it('exits 2 on a bad config, naming each bad field and what it expects, and writes nothing', () => {
    const data = join(dir, 'never');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `gatewayId: gw-1\ndataDir: ${data}\nmqtt:\n  url: http://broker\n  inFlight: 0\nsources:\n  - type: simulator\n    sensors: -3\nflushMs: fast\n`);
    const r = edge(['--config', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mqtt\.url: an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL/);
    expect(r.stderr).toMatch(/mqtt\.inFlight/);
    expect(r.stderr).toMatch(/sources\.0\.sensors/);
    expect(r.stderr).toMatch(/flushMs/);
    expect(r.stderr).toContain('[EW_CONFIG_INVALID]');
    expect(existsSync(data)).toBe(false);
  });

  it('says when the file is missing, and --check accepts a good one', () => {
    expect(edge(['--config', join(dir, 'missing.yaml')]).stderr).toContain('[EW_CONFIG_FILE]');
    const file = join(dir, 'good.json');
    writeFileSync(file, JSON.stringify({ gatewayId: 'gw-1', mqtt: { url: 'mqtt://127.0.0.1:1' }, sources: [{ type: 'simulator' }] }));
    const r = edge(['--config', file, '--check']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('is valid');
  });

  it('takes EW_EDGE_* overrides, levels joined by __', () => {
    const c = parseEdgeConfig(
      applyEnvOverrides(
        { gatewayId: 'gw-1', mqtt: { url: 'mqtt://a:1' }, sources: [{ type: 'simulator' }] },
        { EW_EDGE_MQTT__URL: 'mqtt://b:2', EW_EDGE_MQTT__IN_FLIGHT: '8', EW_EDGE_FLUSH_MS: '20', EW_EDGE_MQTT__PASSWORD: 'secret' },
      ),
    );
    expect([c.mqtt.url, c.mqtt.inFlight, c.flushMs, c.mqtt.password]).toEqual(['mqtt://b:2', 8, 20, 'secret']);
  });

  it("names a synthetic source's start phase beyond its period", () => {
    const base = { gatewayId: 'gw-1', mqtt: { url: 'mqtt://a:1' } };
    const ok = parseEdgeConfig({ ...base, sources: [{ type: 'synthetic', startPhase: { everyMs: 1280, atMs: 960 } }] });
    expect(ok.sources[0]).toMatchObject({ startPhase: { everyMs: 1280, atMs: 960 } });
    expect(() => parseEdgeConfig({ ...base, sources: [{ type: 'synthetic', startPhase: { everyMs: 1280, atMs: 1280 } }] })).toThrow(
      expect.objectContaining({ code: 'EW_CONFIG_INVALID', message: expect.stringContaining('sources.0.startPhase.atMs: atMs must be less than everyMs') }),
    );
  });
});
