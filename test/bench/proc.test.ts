// What bench:e2e does to the MongoDB-wire and S3 servers' CPU share: a process's autogroup (its
// session's share, where the kernel shares the CPU by session) is set, read back and put back.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { autogroupNice, procSession, setAutogroupNice } from '../../bench/proc.js';

const autogroup = existsSync('/proc/self/autogroup');

describe('bench/proc: autogroup nice', () => {
  const children: number[] = [];
  afterEach(() => {
    for (const pid of children.splice(0)) process.kill(pid, 'SIGKILL');
  });

  it.runIf(autogroup)('sets the nice value of a process alone in its session, and leaves this session as it was', () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    children.push(child.pid!);
    expect(procSession(child.pid!)).toBe(child.pid);
    expect(procSession(child.pid!)).not.toBe(procSession('self'));
    const ours = autogroupNice('self');
    expect(autogroupNice(child.pid!)).toBe(0);
    expect(setAutogroupNice(child.pid!, 19)).toBe(true);
    expect(autogroupNice(child.pid!)).toBe(19);
    expect(autogroupNice('self')).toBe(ours);
    expect(setAutogroupNice(child.pid!, 0)).toBe(true);
    expect(autogroupNice(child.pid!)).toBe(0);
  });

  it('answers false, not an error, for a process that is not there', () => {
    expect(setAutogroupNice(2 ** 22 + 1, 10)).toBe(false);
    expect(autogroupNice(2 ** 22 + 1)).toBeUndefined();
  });
});
