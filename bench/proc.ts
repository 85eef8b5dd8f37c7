// What the benchmarks read of a process from /proc (Linux): its CPU time, resident set and age.

import { readFileSync } from 'node:fs';

/** USER_HZ: /proc counts CPU time and start times in these ticks a second. */
const CLOCK_TICKS = 100;

/** A /proc stat file: the command name, and the fields from the third on (the name may hold spaces and parentheses). */
export function readStat(path: string): { name: string; fields: string[] } {
  const stat = readFileSync(path, 'utf8');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}

/** CPU seconds (user + system) of a stat file's fields. */
export const cpuSeconds = (f: string[]): number => (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;

/** User + system CPU seconds of a process so far, and its resident set now in MB. */
export function procUsage(pid: number): { cpuS: number; rssMb: number } {
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuS: cpuSeconds(readStat(`/proc/${pid}/stat`).fields), rssMb: Number(rss ?? 0) / 1024 };
}

/** Seconds since a process started (its start time against the machine's uptime). */
export function procAgeS(pid: number): number {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.round(uptime - Number(readStat(`/proc/${pid}/stat`).fields[19]) / CLOCK_TICKS);
}
