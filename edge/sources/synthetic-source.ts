// Load-test source: every sensor replays one of a few simulator signals generated at start, from
// its own offset, on a drift-free clock. Input costs next to nothing, so a benchmark measures the
// agent, not the signal generator.

import { copyRange } from '../pipeline.js';
import { Simulator } from '../simulator.js';
import type { RunningSource, SourceContext } from './source.js';

export interface SyntheticSourceConfig {
  sensors: number;
  rate: number;
  groups: number;
  seed: number;
  signals: number;
  seconds: number;
  /** Sensor i of n starts i/n of this many seconds after the first (0: all at once). */
  startSpreadS: number;
  /** The clock starts at the first instant from now that is `atMs` modulo `everyMs` (ms since the epoch); without it, at once. */
  startPhase?: { everyMs: number; atMs: number };
  prefix: string;
}

/** The first instant from `now` on (ms since the epoch) that is `atMs` modulo `everyMs`. */
export function phaseStart(now: number, everyMs: number, atMs: number): number {
  return now + ((((atMs - now) % everyMs) + everyMs) % everyMs);
}

export function startSyntheticSource(c: SyntheticSourceConfig, tickMs: number, ctx: SourceContext): RunningSource {
  const len = c.rate * c.seconds;
  const sim = new Simulator({ sensors: c.signals, sampleRate: c.rate, seed: c.seed, dropoutsPerHour: 0 });
  const step = sim.next(len);
  const signals = step.samples.map((s) => s.slice());
  const ids = Array.from({ length: c.sensors }, (_, i) => `${c.prefix}-${i}`);
  ids.forEach((sensorId, i) => ctx.register({ sensorId, group: `group-${i % c.groups}`, sampleRate: c.rate }));
  // The sample (counted from the source's start) each sensor's first one is.
  const firstSample = ids.map((_, i) => Math.round((i * c.startSpreadS * c.rate) / c.sensors));
  const scratch = new Map<number, Float32Array>();
  const index = new Map(ids.map((id, i) => [id, i]));
  // Each sensor's clock: sample k (counted from the source's start) is taken at startMs + k / rate;
  // delivered[i] is how many of them sensor i has had, or skipped before its first.
  const startMs = c.startPhase ? phaseStart(Date.now(), c.startPhase.everyMs, c.startPhase.atMs) : Date.now();
  const delivered = new Array<number>(c.sensors).fill(0);
  const deliver = (i: number, due: number): number => {
    let samples = 0;
    while (delivered[i]! < due) {
      const from = delivered[i]!;
      const n = Math.min(due - from, c.rate);
      delivered[i] = from + n;
      // A sensor not started yet sends nothing; one starting within this step sends from its first sample.
      const skip = Math.max(0, firstSample[i]! - from);
      if (skip >= n) continue;
      const m = n - skip;
      let out = scratch.get(m);
      if (!out) scratch.set(m, (out = new Float32Array(6 * m)));
      const sig = signals[i % c.signals]!;
      const at = (from + skip + i * 37) % len;
      for (let ch = 0; ch < 6; ch++) {
        const first = Math.min(m, len - at);
        copyRange(out, ch * m, sig, ch * len + at, first);
        if (first < m) copyRange(out, ch * m + first, sig, ch * len, m - first);
      }
      ctx.add(ids[i]!, out, Math.round(startMs * 1000 + ((from + skip) * 1e6) / c.rate), false);
      samples += m;
    }
    return samples;
  };
  let stopped = false;
  let polledAt = -Infinity;
  const due = () => Math.floor(((Date.now() - startMs) * c.rate) / 1000) + 1;
  const deliverAll = () => {
    const d = due();
    let samples = 0;
    for (let i = 0; i < c.sensors; i++) samples += deliver(i, d);
    ctx.metrics.samples.inc(samples);
  };
  const poll = (sensorIds?: Iterable<string>) => {
    if (stopped) return;
    if (!sensorIds) {
      polledAt = performance.now();
      deliverAll();
      return;
    }
    const d = due();
    let samples = 0;
    for (const id of sensorIds) {
      const i = index.get(id);
      if (i !== undefined) samples += deliver(i, d);
    }
    ctx.metrics.samples.inc(samples);
  };
  // Its own timer delivers when nobody has polled for a tick (a source running on its own).
  const timer = setInterval(() => {
    if (!stopped && performance.now() - polledAt >= tickMs) deliverAll();
  }, Math.max(5, Math.floor(tickMs / 2)));
  return {
    done: new Promise(() => undefined),
    poll,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
