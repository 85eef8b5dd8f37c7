// `npm run servers -- start|status|stop`: servers outlive the command that started them, the env
// file points at them, and stop ends them and removes their data.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { servers } from '../config.js';

const root = new URL('../..', import.meta.url).pathname;

describe.runIf(servers().mosquitto)('servers command', () => {
  it('starts a detached server, reports it, and stops it', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'edgewave-run-'));
    const env = { ...process.env, EW_RUN_DIR: runDir, EW_SERVER_LOGS: join(runDir, 'logs') };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'scripts/servers/cli.ts'), ...args], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });

    const start = cli('start', 'mosquitto');
    expect(start.status, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/mosquitto\s+Mosquitto 2\.\S+\s+mqtt:\/\/127\.0\.0\.1:\d+/);
    const url = /EW_MQTT_URL=(\S+)/.exec(readFileSync(join(runDir, 'servers.env'), 'utf8'))?.[1];
    expect(url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const state = JSON.parse(readFileSync(join(runDir, 'servers.json'), 'utf8')) as { servers: { pid: number; dataDir: string }[] };
    const [{ pid, dataDir }] = state.servers as [{ pid: number; dataDir: string }];

    // The starting command has exited; the broker still answers.
    const client = await mqtt.connectAsync(url!, { reconnectPeriod: 0, connectTimeout: 3000 });
    await client.endAsync();
    expect(cli('status').stdout).toMatch(new RegExp(`mosquitto\\s+running pid ${pid}`));

    const stop = cli('stop');
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`stopped mosquitto (pid ${pid})`);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(join(runDir, 'servers.env'))).toBe(false);
    rmSync(runDir, { recursive: true, force: true });
  });
});
