// The life of `edgewave <component> --config file` on a signal: the stop runs; one that hangs (a
// server gone, retries without end) is given up after the component's stop timeout, saying so, and
// the process exits 1; without a timeout the stop is waited for. A second signal is not caught.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runComponentCommand, type ComponentCommand } from '../../protocol/node-support.js';

const file = join(mkdtempSync(join(tmpdir(), 'ew-cmd-')), 'c.json');
writeFileSync(file, '{}');

/** A component whose stop ends when `release` is called (or never). */
function component(over: Partial<ComponentCommand<object, object>>) {
  const calls: string[] = [];
  let release = () => {};
  const c: ComponentCommand<object, object> = {
    name: 'thing',
    configFile: file,
    parse: (raw) => raw as object,
    start: async () => ({}),
    describe: () => 'running',
    stop: (_h, signal) => {
      calls.push(`stop ${signal}`);
      return new Promise<void>((r) => (release = r));
    },
    ...over,
  };
  return { c, calls, release: () => release() };
}

/** Waits until the command listens for signals, then sends it one (to its own listener). */
async function signal(name: 'SIGTERM' | 'SIGINT'): Promise<void> {
  for (let i = 0; i < 100 && process.listenerCount(name) === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(process.listenerCount(name)).toBe(1);
  process.emit(name, name);
}

describe('runComponentCommand', () => {
  const errors: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    errors.length = 0;
  });
  const quiet = () => vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));

  it('a stop that does not finish within stopTimeoutMs is given up: it says so and exits 1', async () => {
    quiet();
    const exits: number[] = [];
    const { c, calls } = component({ stopTimeoutMs: 300, exit: (code) => void exits.push(code) });
    const t0 = Date.now();
    const run = runComponentCommand(c);
    await signal('SIGTERM');
    expect(await run).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(calls).toEqual(['stop SIGTERM']);
    expect(exits).toEqual([1]);
    expect(errors.at(-1)).toMatch(/^edgewave thing: not stopped 0.3 s after SIGTERM .*exiting/);
    // Both handlers went with the first signal: a second one, either, ends the process at once.
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([0, 0]);
  });

  it('a stop that finishes in time exits 0, and nothing more is said', async () => {
    quiet();
    const exits: number[] = [];
    const { c, release } = component({ stopTimeoutMs: 5000, exit: (code) => void exits.push(code) });
    const run = runComponentCommand(c);
    await signal('SIGINT');
    setTimeout(release, 50);
    expect(await run).toBe(0);
    expect(exits).toEqual([]);
    expect(errors).toEqual(['edgewave thing: running']);
  });

  it('without a timeout, the stop is waited for however long it takes', async () => {
    quiet();
    const exits: number[] = [];
    const { c, release } = component({ exit: (code) => void exits.push(code) });
    let done = false;
    const run = runComponentCommand(c).then((code) => ((done = true), code));
    await signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    expect(done).toBe(false);
    release();
    expect(await run).toBe(0);
    expect(exits).toEqual([]);
  });
});
