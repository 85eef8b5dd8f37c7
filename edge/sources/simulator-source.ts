// The simulator as a source: samples on a drift-free clock, dropouts reported as gaps.

import { Simulator } from '../simulator.js';
import type { RunningSource, SourceContext } from './source.js';

export interface SimulatorSourceConfig {
  sensors: number;
  rate: number;
  groups: number;
  seed: number;
  prefix: string;
  dropoutsPerHour: number;
}

export function startSimulatorSource(c: SimulatorSourceConfig, tickMs: number, ctx: SourceContext): RunningSource {
  const sim = new Simulator({ sensors: c.sensors, sampleRate: c.rate, groups: c.groups, seed: c.seed, prefix: c.prefix, dropoutsPerHour: c.dropoutsPerHour });
  for (const s of sim.sensors) ctx.register({ sensorId: s.sensorId, group: s.group, sampleRate: c.rate });
  const startMs = Date.now();
  const startUs = startMs * 1000;
  let produced = 0;
  const gaps = new Set<number>();
  const tick = () => {
    const due = Math.floor(((Date.now() - startMs) * c.rate) / 1000);
    while (produced < due) {
      const n = Math.min(due - produced, c.rate); // at most a second per step
      const step = sim.next(n);
      const t0 = Math.round(startUs + (produced * 1e6) / c.rate);
      let present = 0;
      sim.sensors.forEach((s, i) => {
        if (!step.present[i]) {
          gaps.add(i);
          return;
        }
        present++;
        ctx.add(s.sensorId, step.samples[i]!, t0, gaps.delete(i));
      });
      ctx.metrics.samples.inc(n * present);
      produced += n;
    }
  };
  const timer = setInterval(tick, Math.max(5, Math.floor(tickMs / 2)));
  return { done: new Promise(() => undefined), stop: async () => clearInterval(timer) };
}
