// CSV replay: a timestamp column plus channel columns, one sensor per file, at real speed or as
// fast as the agent takes it. Timestamps may be numbers (unit configurable) or ISO 8601 text; a
// step longer than 1.5 sample periods is a gap.

import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import type { RunningSource, SourceContext } from './source.js';

export interface CsvSourceConfig {
  path: string;
  sensorId: string;
  group: string;
  /** Hz; by default the median step of the first timestamps. */
  rate?: number;
  timestampColumn: string;
  timestampUnit: 's' | 'ms' | 'us' | 'iso';
  channels: readonly string[];
  realtime: boolean;
  /** Samples per add(). */
  chunk: number;
}

export function startCsvSource(c: CsvSourceConfig, ctx: SourceContext): RunningSource {
  let stopped = false;
  const parser = createReadStream(c.path).pipe(parse({ columns: true, skip_empty_lines: true, trim: true, cast: false }));
  const done = (async () => {
    let rate = c.rate;
    const pending: { t: number; v: number[] }[] = [];
    let line = 1;
    let lastT = -Infinity;
    let startWall = 0;
    let startT = 0;
    let registered = false;
    let gap = false;
    let buf: { t0: number; rows: number[][] } | undefined;
    const emit = async () => {
      if (!buf || !buf.rows.length) return;
      const n = buf.rows.length;
      const planar = new Float32Array(6 * n);
      buf.rows.forEach((r, i) => r.forEach((v, ch) => (planar[ch * n + i] = v)));
      if (c.realtime) {
        // Wait until the wall clock reaches the chunk's last sample.
        const due = startWall + (buf.t0 - startT + (n * 1e6) / rate!) / 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else {
        // Let the agent flush between chunks.
        await new Promise((r) => setImmediate(r));
      }
      ctx.add(c.sensorId, planar, Math.round(buf.t0), gap);
      ctx.metrics.samples.inc(n);
      gap = false;
      buf = undefined;
    };
    const take = async (t: number, v: number[]) => {
      if (!registered) {
        ctx.register({ sensorId: c.sensorId, group: c.group, sampleRate: rate! });
        registered = true;
        startWall = Date.now();
        startT = t;
      }
      if (t - lastT > 1.5e6 / rate! && lastT > -Infinity) {
        await emit();
        gap = true;
      }
      lastT = t;
      buf ??= { t0: t, rows: [] };
      buf.rows.push(v);
      if (buf.rows.length >= c.chunk) await emit();
    };
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      if (stopped) break;
      line++;
      const t = toMicros(record[c.timestampColumn], c.timestampUnit);
      const cells = c.channels.map((name) => record[name]);
      // "NaN" is kept (a sensor said so; the pipeline leaves it out and says so); anything else must be a number.
      const bad = cells.some((x) => x === undefined || x === '' || (Number.isNaN(Number(x)) && x.toLowerCase() !== 'nan'));
      const v = cells.map(Number);
      if (t === undefined || bad) {
        ctx.reject(`csv ${c.path}`, 'EW_EDGE_CSV', `line ${line}: needs a timestamp in ${c.timestampColumn} and numbers in ${c.channels.join(', ')}`);
        continue;
      }
      if (rate === undefined) {
        // Learn the rate from the first 50 steps.
        pending.push({ t, v });
        if (pending.length < 51) continue;
        const steps = pending.slice(1).map((p, i) => p.t - pending[i]!.t).sort((a, b) => a - b);
        rate = 1e6 / steps[steps.length >> 1]!;
        for (const p of pending) await take(p.t, p.v);
        pending.length = 0;
        continue;
      }
      await take(t, v);
    }
    if (rate === undefined && pending.length > 1) {
      rate = 1e6 / ((pending.at(-1)!.t - pending[0]!.t) / (pending.length - 1));
      for (const p of pending) await take(p.t, p.v);
    }
    await emit();
    ctx.log.info({ path: c.path, sensorId: c.sensorId, lines: line - 1 }, 'CSV replay finished');
  })();
  return {
    done,
    stop: async () => {
      stopped = true;
      parser.destroy();
      await done.catch(() => undefined);
    },
  };
}

function toMicros(text: string | undefined, unit: CsvSourceConfig['timestampUnit']): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (unit === 'iso') {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? undefined : ms * 1000;
  }
  const x = Number(text);
  if (!Number.isFinite(x)) return undefined;
  return unit === 's' ? x * 1e6 : unit === 'ms' ? x * 1e3 : x;
}
