// Each start of the test servers gets a log directory of its own and the oldest are removed, but
// never the directory of servers that still run: `npm run servers -- start` leaves its servers
// running after it exits, and a benchmark or test run started beside them makes a directory of
// its own. Removing theirs left the running servers (Kafka's GC log among them) writing to
// deleted files.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const saved = { logs: process.env.EW_SERVER_LOGS, run: process.env.EW_RUN_DIR };
let root: string | undefined;

afterEach(() => {
  for (const [k, v] of [['EW_SERVER_LOGS', saved.logs], ['EW_RUN_DIR', saved.run]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
  vi.resetModules();
});

/** A pid no process has now: one of a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

async function setUp(): Promise<{ logs: string; run: string; newRunLogDir: () => string }> {
  root = mkdtempSync(join(tmpdir(), 'edgewave-logdirs-'));
  const logs = join(root, 'logs');
  const run = join(root, 'run');
  mkdirSync(logs);
  mkdirSync(run);
  process.env.EW_SERVER_LOGS = logs;
  process.env.EW_RUN_DIR = run;
  vi.resetModules();
  const { newRunLogDir } = await import('../../scripts/servers/paths.js');
  return { logs, run, newRunLogDir };
}

describe('server log directories', () => {
  it('keeps the newest runs and removes the older ones', async () => {
    const { logs, newRunLogDir } = await setUp();
    const dead = deadPid();
    const names = Array.from({ length: 7 }, (_, i) => `2026-01-0${i + 1}T00-00-00-000Z-${dead}`);
    for (const n of names) mkdirSync(join(logs, n));
    const made = newRunLogDir();
    expect(existsSync(made)).toBe(true);
    // Four of the old ones and the new one: five runs.
    expect(readdirSync(logs).sort()).toEqual([...names.slice(3), made.split('/').pop()!].sort());
  });

  it('never removes the directory of servers still running', async () => {
    const { logs, run, newRunLogDir } = await setUp();
    const dead = deadPid();
    // The oldest of all: recorded by `npm run servers -- start`, whose command has exited.
    const recorded = `2025-12-01T00-00-00-000Z-${dead}`;
    // Made by a process still running (this one), older than every other.
    const live = `2025-12-02T00-00-00-000Z-${process.pid}`;
    const others = Array.from({ length: 6 }, (_, i) => `2026-01-0${i + 1}T00-00-00-000Z-${dead}`);
    for (const n of [recorded, live, ...others]) mkdirSync(join(logs, n));
    writeFileSync(join(run, 'servers.json'), JSON.stringify({ logDir: join(logs, recorded), servers: [] }));
    const made = newRunLogDir();
    const left = readdirSync(logs).sort();
    expect(left).toContain(recorded);
    expect(left).toContain(live);
    // Of the rest, the newest four and the new one, as without them.
    expect(left.filter((d) => d !== recorded && d !== live)).toEqual([...others.slice(2), made.split('/').pop()!].sort());
  });
});
