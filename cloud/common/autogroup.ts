// Where Linux shares the CPU between sessions (autogroup: /proc/sys/kernel/sched_autogroup_enabled,
// outside a CPU cgroup), a session's share is its own nice value (`/proc/PID/autogroup`), and a
// process's nice value only orders the processes of its session. Read and set here for the
// archive's process (it lowers its own session) and the benchmarks (they lower test servers').

import { readFileSync, writeFileSync } from 'node:fs';

/** The nice value of a process's autogroup, or undefined where there is none (or it cannot be read). */
export function autogroupNice(pid: number | 'self'): number | undefined {
  try {
    const m = /nice\s+(-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sets the nice value of a process's autogroup (19 the least share). Returns false where there is
 * no autogroup or it may not be set (a value below 0 needs privilege).
 */
export function setAutogroupNice(pid: number | 'self', nice: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return autogroupNice(pid) === nice;
  } catch {
    return false;
  }
}

/** A process's session id (field 6 of its /proc stat), or 0 when it cannot be read. */
export function sessionOf(pid: number | 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: the fields after it count from its end.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) || 0;
  } catch {
    return 0;
  }
}
