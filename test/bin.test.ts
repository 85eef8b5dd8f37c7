// The `edgewave` command as a user runs it (what `npm start` runs), in a child process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

const bin = new URL('../bin/edgewave.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('edgewave command', () => {
  it('demo runs, reports live status, and ends with nothing lost or duplicated', () => {
    const r = run('demo', '--duration', '2.5', '--port', '0', '--sensors', '6');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/6 simulated IMU sensors at 200 Hz/);
    expect(r.stdout).toMatch(/^\s+\ds {2}frames \d+/m);
    const sent = Number(/frames sent (\d+)/.exec(r.stdout)?.[1]);
    expect(sent).toBeGreaterThan(6 * 15);
    expect(r.stdout).toContain(`frames sent ${sent}, received ${sent}, lost 0, duplicated 0`);
  });

  it('shows the config schema\'s defaults in its help', () => {
    const r = run('demo', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('simulated sensors (default 12)');
    expect(r.stdout).toContain('(default 1883)');
  });

  it('names a bad option value and exits non-zero', () => {
    const r = run('demo', '--sensors', 'many');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--sensors must be an integer, got "many"');
    const v = run('demo', '--rate', '0', '--port', '0');
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/rate: .*\[EW_CONFIG_INVALID\]/s);
  });

  it('says which port is taken and what to do', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    const r = spawnSync(process.execPath, [bin, 'demo', '--port', String(port)], { encoding: 'utf8', timeout: 30_000 });
    blocker.close();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
    expect(r.stderr).toContain('--port 0');
    expect(r.stderr).toContain('[EW_EDGE_LISTEN]');
  });

  it('start: names a bad option and exits 2; says which port is taken and what to do', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edgewave-start-'));
    try {
      const bad = run('start', '--sensors', '0', '--data-dir', dataDir);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--sensors must be at least 1, got 0');
      const level = run('start', '--log-level', 'loud', '--data-dir', dataDir);
      expect(level.status).toBe(2);
      expect(level.stderr).toContain('--log-level must be fatal, error, warn, info or debug, got "loud"');
      const blocker = createServer().listen(0, '127.0.0.1');
      await once(blocker, 'listening');
      const port = (blocker.address() as { port: number }).port;
      const r = spawnSync(process.execPath, [bin, 'start', '--port', String(port), '--data-dir', dataDir, '--sensors', '2'], { encoding: 'utf8', timeout: 30_000 });
      blocker.close();
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is taken by another program`);
      expect(r.stderr).toContain('--port 0');
      expect(r.stderr).toContain('[EADDRINUSE]');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
