// Labelled windows from the simulator, for training the activity model and for checking it: each
// simulated sensor's samples go through the dsp/ kernels with the `uplink` preset (exactly what an
// edge agent sends), and each window gets the activity that covers most of its samples.
// Deterministic for a seed.

import { ACTIVITIES, Simulator, type SimulatorOptions } from '../../edge/simulator.js';
import { FEATURE_PRESETS, FeatureExtractor, loadDsp, type DspModule, type FeatureLayout } from '../../dsp/src/index.js';

export const CLASSES = ACTIVITIES;

export interface WindowSet {
  layout: FeatureLayout;
  /** windows x layout.width, sensor after sensor, each sensor's windows in time order. */
  features: Float32Array;
  /** One ACTIVITIES index per window. */
  labels: Uint8Array;
  /** Per sensor: where its windows start in `labels`, and how many there are. */
  sequences: { start: number; length: number }[];
}

export interface WindowSetOptions {
  sensors: number;
  seconds: number;
  seed: number;
  sampleRate?: number;
  /** Activity weights (see the simulator); the default is the simulator's own mix. */
  mix?: SimulatorOptions['mix'];
}

/** Windows of simulated sensors, with their majority labels. */
export async function simulateWindows(o: WindowSetOptions, dsp?: DspModule): Promise<WindowSet> {
  const rate = o.sampleRate ?? 200;
  const sim = new Simulator({ sensors: o.sensors, sampleRate: rate, seed: o.seed, dropoutsPerHour: 0, ...(o.mix ? { mix: o.mix } : {}) });
  const ex = new FeatureExtractor(dsp ?? (await loadDsp()), { ...FEATURE_PRESETS.uplink, sampleRate: rate, capacity: o.sensors, maxChunk: 256 });
  const { window } = ex.config;
  const width = ex.width;
  const slots = sim.sensors.map((s) => ex.slotOf(s.sensorId));
  const perSensor: { rows: number[][]; labels: number[] }[] = sim.sensors.map(() => ({ rows: [], labels: [] }));
  const step = 200;
  const total = Math.floor(o.seconds * rate);
  // Each sensor's sample labels, by sample index.
  const history = sim.sensors.map(() => new Uint8Array(total));
  for (let t = 0; t < total; t += step) {
    const n = Math.min(step, total - t);
    const s = sim.next(n);
    s.labels.forEach((l, i) => history[i]!.set(l.subarray(0, n), t));
    const w = ex.push(sim.sensors.map((_, i) => ({ slot: slots[i]!, samples: s.samples[i]!.slice(0, 6 * n) })));
    for (let k = 0; k < w.count; k++) {
      const i = slots.indexOf(w.slots[k]!);
      const start = w.starts[k]!;
      const counts = new Array<number>(CLASSES.length).fill(0);
      for (let j = start; j < start + window; j++) counts[history[i]![j]!]!++;
      perSensor[i]!.labels.push(counts.indexOf(Math.max(...counts)));
      perSensor[i]!.rows.push(Array.from(w.features.subarray(k * width, (k + 1) * width)));
    }
  }
  const count = perSensor.reduce((a, p) => a + p.labels.length, 0);
  const features = new Float32Array(count * width);
  const labels = new Uint8Array(count);
  const sequences: { start: number; length: number }[] = [];
  let at = 0;
  for (const p of perSensor) {
    sequences.push({ start: at, length: p.labels.length });
    p.rows.forEach((r, k) => features.set(r, (at + k) * width));
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return { layout: ex.layout, features, labels, sequences };
}
