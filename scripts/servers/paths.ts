// Where server binaries are cached and where each run's data and logs go.

import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Same rule as scripts/lib.sh. */
export const CACHE = process.env.EW_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'edgewave');

/** Logs of every server run stay here (newest runs kept) so a failing test can point at them. */
export const LOG_ROOT = process.env.EW_SERVER_LOGS ?? join(ROOT, '.run', 'server-logs');

const KEEP_RUNS = 5;

export function newRunLogDir(): string {
  mkdirSync(LOG_ROOT, { recursive: true });
  const old = readdirSync(LOG_ROOT).sort();
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
