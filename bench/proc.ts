// What the benchmarks read of a process from /proc (Linux): its CPU time, resident set and age.

import { readFileSync } from 'node:fs';

/** USER_HZ: /proc counts CPU time and start times in these ticks a second. */
const CLOCK_TICKS = 100;

/** The fields of a /proc stat file from the third on (after the command name, which may hold spaces and parentheses). */
export function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) of a stat file's fields. */
export const cpuSeconds = (f: string[]): number => (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;

/** User + system CPU seconds of a process so far, and its resident set now in MB. */
export function procUsage(pid: number): { cpuS: number; rssMb: number } {
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuS: cpuSeconds(statFields(`/proc/${pid}/stat`)), rssMb: Number(rss ?? 0) / 1024 };
}

/** Seconds since a process started (its start time against the machine's uptime). */
export function procAgeS(pid: number): number {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.round(uptime - Number(statFields(`/proc/${pid}/stat`)[19]) / CLOCK_TICKS);
}
