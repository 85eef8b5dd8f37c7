// Starting, watching and stopping one server process, with its output in a log file.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { RunningServer, ServerName } from './types.js';

export interface ServerProcess {
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Keep running after this Node process exits (for `npm run servers -- start`). */
  detached?: boolean;
}

export function spawnLogged(command: string, args: string[], logFile: string, options: SpawnOptions = {}): ServerProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', fd, fd],
      detached: options.detached ?? false,
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  if (options.detached) child.unref();
  return {
    pid: child.pid ?? -1,
    logFile,
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Last lines of a log file, for error messages. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `probe` until it resolves truthy. Fails early if the process exits, and after `timeoutMs`
 * with the last probe error and the log's tail.
 */
export async function waitReady(
  name: string,
  proc: ServerProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: number | string | undefined;
  void proc.exited.then((c) => (exit = c));
  let lastError = 'not ready';
  while (Date.now() < deadline) {
    if (exit !== undefined) {
      throw new Error(`${name} exited (${exit}) before it was ready; log ${proc.logFile}:\n${tail(proc.logFile)}`);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} not ready after ${timeoutMs} ms (${lastError}); log ${proc.logFile}:\n${tail(proc.logFile)}`);
}

/** A free TCP port on 127.0.0.1 (the OS picks; a tiny race remains, which retries cover). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Waits until `probe` passes; if it never does, stops the process and removes its data before rethrowing. */
export async function readyOrStop(
  name: string,
  proc: ServerProcess,
  dataDir: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitReady(name, proc, probe, timeoutMs);
  } catch (err) {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The handle of a started server: stopping it ends the process and removes its data directory. */
export function runningServer(
  name: ServerName,
  version: string,
  proc: ServerProcess,
  dataDir: string,
  env: Record<string, string>,
  graceMs?: number,
): RunningServer {
  return {
    name,
    version,
    pid: proc.pid,
    logFile: proc.logFile,
    dataDir,
    env,
    async stop() {
      await proc.stop(graceMs);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
