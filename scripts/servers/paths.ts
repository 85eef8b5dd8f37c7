// Where server binaries are cached and where each run's data and logs go.

import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where `npm run servers` keeps servers.json and servers.env; EW_RUN_DIR moves them (a second checkout run as a baseline points it at the first one's). */
export const RUN_DIR = process.env.EW_RUN_DIR ?? join(ROOT, '.run');
/** The servers `npm run servers -- start` left running. */
export const SERVERS_STATE = join(RUN_DIR, 'servers.json');

/** Whether a process with this pid exists (one of another user counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Same rule as scripts/lib.sh. */
export const CACHE = process.env.EW_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'edgewave');

/** Logs of every server run stay here (newest runs kept) so a failing test can point at them. */
export const LOG_ROOT = process.env.EW_SERVER_LOGS ?? join(ROOT, '.run', 'server-logs');

const KEEP_RUNS = 5;

/**
 * Log directories whose servers may still run: the one `npm run servers -- start` recorded (its
 * servers outlive the command), and any whose starting process is alive (a test run or benchmark
 * in progress). Removing them would leave those servers writing to deleted files.
 */
function inUse(dirs: readonly string[]): Set<string> {
  const keep = new Set<string>();
  try {
    const state = JSON.parse(readFileSync(SERVERS_STATE, 'utf8')) as { logDir?: unknown };
    if (typeof state.logDir === 'string') keep.add(resolve(state.logDir));
  } catch {
    // no servers recorded
  }
  for (const d of dirs) {
    const pid = Number(/-(\d+)$/.exec(d)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) keep.add(resolve(LOG_ROOT, d));
  }
  return keep;
}

export function newRunLogDir(): string {
  mkdirSync(LOG_ROOT, { recursive: true });
  const all = readdirSync(LOG_ROOT).sort();
  const keep = inUse(all);
  const old = all.filter((d) => !keep.has(resolve(LOG_ROOT, d)));
  for (const d of old.slice(0, Math.max(0, old.length - (KEEP_RUNS - 1)))) rmSync(join(LOG_ROOT, d), { recursive: true, force: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(LOG_ROOT, `${stamp}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A fresh data directory for one server, removed when the server stops. */
export function tempDataDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `edgewave-${name}-`));
}

export function kafkaHome(): string {
  const pom = readFileSync(join(ROOT, 'scripts/kafka/pom.xml'), 'utf8');
  const version = /<kafka\.version>([^<]+)</.exec(pom)?.[1];
  return join(CACHE, `kafka-${version}`);
}

export function requireInstalled(name: string, path: string): string {
  if (!existsSync(path)) {
    throw new Error(`${name} is not installed (${path} missing): run \`npm run servers:install\` (scripts/install-servers.sh)`);
  }
  return path;
}
