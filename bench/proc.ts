// What the benchmarks (and tests) read of a process from /proc (Linux): its CPU time, resident set,
// age, children, and each thread's nice value.

import { readdirSync, readFileSync } from 'node:fs';

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

/** A process's children (none when it is gone). */
export function procChildren(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** Whether a process is gone, or a zombie waiting to be reaped. */
export function procGone(pid: number): boolean {
  try {
    return readStat(`/proc/${pid}/stat`).fields[0] === 'Z';
  } catch {
    return true;
  }
}

/** The nice value of each thread of a process (Linux keeps one per thread). */
export function threadNices(pid: number | 'self'): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => Number(readStat(`/proc/${pid}/task/${tid}/stat`).fields[16]));
}

/** A process's session id. */
export const procSession = (pid: number | 'self'): number => Number(readStat(`/proc/${pid}/stat`).fields[3]);

/** A process's autogroup (its session's CPU share): read and set as the archive does. */
export { autogroupNice, setAutogroupNice } from '../cloud/common/autogroup.js';
