// Load-test source: every sensor replays one of a few simulator signals generated at start, from
// its own offset, on a drift-free clock. Input costs next to nothing, so a benchmark measures the
// agent, not the signal generator.

import { copyRange } from '../pipeline.js';
import { Simulator } from '../simulator.js';
import { startClock } from './clock.js';
import type { RunningSource, SourceContext } from './source.js';

export interface SyntheticSourceConfig {
  sensors: number;
  rate: number;
  groups: number;
  seed: number;
  signals: number;
  seconds: number;
  prefix: string;
}

export function startSyntheticSource(c: SyntheticSourceConfig, tickMs: number, ctx: SourceContext): RunningSource {
  const len = c.rate * c.seconds;
  const sim = new Simulator({ sensors: c.signals, sampleRate: c.rate, seed: c.seed, dropoutsPerHour: 0 });
  const step = sim.next(len);
  const signals = step.samples.map((s) => s.slice());
  const ids = Array.from({ length: c.sensors }, (_, i) => `${c.prefix}-${i}`);
  ids.forEach((sensorId, i) => ctx.register({ sensorId, group: `group-${i % c.groups}`, sampleRate: c.rate }));
  const scratch = new Map<number, Float32Array>();
  let produced = 0;
  const stop = startClock(c.rate, tickMs, (n, t0) => {
    let out = scratch.get(n);
    if (!out) scratch.set(n, (out = new Float32Array(6 * n)));
    for (let i = 0; i < c.sensors; i++) {
      const sig = signals[i % c.signals]!;
      const at = (produced + i * 37) % len;
      for (let ch = 0; ch < 6; ch++) {
        const first = Math.min(n, len - at);
        copyRange(out, ch * n, sig, ch * len + at, first);
        if (first < n) copyRange(out, ch * n + first, sig, ch * len, n - first);
      }
      ctx.add(ids[i]!, out, t0, false);
    }
    ctx.metrics.samples.inc(n * c.sensors);
    produced += n;
  });
  return { done: new Promise(() => undefined), stop: async () => stop() };
}
