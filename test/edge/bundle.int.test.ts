// The gateway bundle: one .mjs and its .wasm files in an otherwise empty directory run the agent
// with plain node (no node_modules); the install script lays out the files and the example config
// validates.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch } from '../../protocol/index.js';
import { servers } from '../config.js';

const settings = servers().mosquitto;
const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-bundle-'));
const bare = join(dir, 'gateway');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts/bundle-edge.mjs')], { stdio: 'pipe' });
  execFileSync('mkdir', ['-p', bare]);
  for (const f of ['edgewave-edge.mjs', 'dsp.wasm', 'dsp.simd.wasm']) copyFileSync(join(root, 'dist/edge-bundle', f), join(bare, f));
}, 60_000);

describe('edge bundle', () => {
  it('validates the example config from a bare directory', () => {
    expect(readdirSync(bare).sort()).toEqual(['dsp.simd.wasm', 'dsp.wasm', 'edgewave-edge.mjs']);
    const r = spawnSync(process.execPath, ['edgewave-edge.mjs', '--config', join(root, 'edge/deploy/edge.example.yaml'), '--check'], { cwd: bare, encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(r.stdout).toContain('is valid');
    expect(r.status).toBe(0);
  });

  it.runIf(settings)('runs the agent with plain node and nothing installed, and stops cleanly on SIGTERM', async () => {
    const sub = await mqtt.connectAsync(settings!.url, { protocolVersion: 5 });
    let windows = 0;
    sub.on('message', (_t, payload) => {
      for (const f of decodeBatch(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))) if (f.kind === 'features') windows += f.count;
    });
    await sub.subscribeAsync('edgewave/gw-bundle/batch', { qos: 1 });
    writeFileSync(join(bare, 'edge.json'), JSON.stringify({ gatewayId: 'gw-bundle', dataDir: join(bare, 'data'), mqtt: { url: settings!.url }, sources: [{ type: 'simulator', sensors: 4 }], http: { port: 0 } }));
    // NODE_PATH and the like cleared: only the directory's own files are there to load.
    const proc = spawn(process.execPath, ['edgewave-edge.mjs', '--config', 'edge.json'], { cwd: bare, stdio: 'ignore', env: { PATH: process.env.PATH } });
    const end = Date.now() + 15_000;
    while (windows < 8 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    proc.kill('SIGTERM');
    const code = await new Promise((r) => proc.once('exit', r));
    await sub.endAsync();
    expect(windows).toBeGreaterThanOrEqual(8);
    expect(code).toBe(0);
    expect(existsSync(join(bare, 'data', 'outbox'))).toBe(true);
  }, 30_000);

  it('install.sh lays out the bundle, config and systemd unit (DESTDIR)', () => {
    const destdir = join(dir, 'root');
    const r = spawnSync('bash', [join(root, 'edge/deploy/install.sh'), join(root, 'dist/edge-bundle')], { encoding: 'utf8', env: { ...process.env, DESTDIR: destdir, NO_SYSTEMCTL: '1' } });
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['opt/edgewave-edge/edgewave-edge.mjs', 'opt/edgewave-edge/dsp.wasm', 'opt/edgewave-edge/dsp.simd.wasm', 'etc/edgewave/edge.yaml', 'etc/systemd/system/edgewave-edge.service']) {
      expect(existsSync(join(destdir, f)), f).toBe(true);
    }
    // A second run keeps an edited config.
    writeFileSync(join(destdir, 'etc/edgewave/edge.yaml'), 'gatewayId: edited\n');
    expect(spawnSync('bash', [join(root, 'edge/deploy/install.sh'), join(root, 'dist/edge-bundle')], { encoding: 'utf8', env: { ...process.env, DESTDIR: destdir, NO_SYSTEMCTL: '1' } }).stdout).toContain('kept the existing');
    const missing = spawnSync('bash', [join(root, 'edge/deploy/install.sh'), dir], { encoding: 'utf8', env: { ...process.env, DESTDIR: destdir } });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('no edgewave-edge.mjs');
  });
});
