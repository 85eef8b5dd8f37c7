// Raw and feature frames of simulated sensors, as an edge agent in mode `both` sends them (the
// uplink preset, 200 Hz, one flush every 50 ms from t0): input for the archive's tests.

import { join } from 'node:path';
import { loadDsp, presetSettings } from '../../../dsp/src/index.js';
import { Pipeline } from '../../../edge/pipeline.js';
import { SeqStore } from '../../../edge/seq-store.js';
import { Simulator } from '../../../edge/simulator.js';
import { decodeBatch, type Frame } from '../../../protocol/index.js';

export async function edgeFrames(o: { dir: string; sensors: number; seed: number; flushes: number; t0: number }): Promise<Frame[]> {
  const dsp = await loadDsp();
  const p = new Pipeline({ gatewayId: 'gw-a', topicRoot: 'edgewave', dsp, seq: SeqStore.open(join(o.dir, 'seq.json')), capacity: 8, features: presetSettings('uplink') });
  const sim = new Simulator({ sensors: o.sensors, sampleRate: 200, seed: o.seed, groups: 2, dropoutsPerHour: 0 });
  for (const x of sim.sensors) p.register({ sensorId: x.sensorId, group: x.group, sampleRate: 200, mode: 'both', decimate: 1 });
  const frames: Frame[] = [];
  for (let k = 0; k < o.flushes; k++) {
    const st = sim.next(10);
    sim.sensors.forEach((x, i) => p.add(x.sensorId, st.samples[i]!, o.t0 + k * 50_000));
    for (const item of p.flush().items) frames.push(...decodeBatch(item.payload, { maxFutureMs: Infinity, copy: true }));
  }
  return frames;
}
