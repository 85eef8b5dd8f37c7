// The simulator as a source: samples on a drift-free clock, dropouts reported as gaps.

import { Simulator } from '../simulator.js';
import { startClock } from './clock.js';
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
  const gaps = new Set<number>();
  const clock = startClock(c.rate, tickMs, (n, t0) => {
    const step = sim.next(n);
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
  });
  return { done: new Promise(() => undefined), poll: clock.poll, stop: async () => clock.stop() };
}
