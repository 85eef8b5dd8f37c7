// The agent's processing: raw frames carry exactly the samples, feature frames exactly what dsp/
// computes for the same samples, per-sensor seq and t0 are right, and modes, decimation, gaps and
// bad samples do what the docs say.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureExtractor, loadDsp, type DspModule } from '../../dsp/src/index.js';
import { Pipeline, decimate, type UplinkMode } from '../../edge/pipeline.js';
import { SeqStore } from '../../edge/seq-store.js';
import { Simulator } from '../../edge/simulator.js';
import { FLAG_GAP, decodeBatch, type Frame } from '../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dsp: DspModule;
beforeAll(async () => {
  dsp = await loadDsp();
});

const RATE = 200;
const STEP = 10; // samples per add: 50 ms
const T0 = 1_764_000_000_000_000;
const usAt = (i: number) => T0 + Math.round((i * 1e6) / RATE);

function setup(modes: UplinkMode[], decimateBy = 1) {
  const seq = SeqStore.open(join(dir, `seq-${Math.random()}.json`));
  const p = new Pipeline({ gatewayId: 'gw-1', topicRoot: 'edgewave', dsp, seq, capacity: 8 });
  const sim = new Simulator({ sensors: modes.length, sampleRate: RATE, seed: 4, dropoutsPerHour: 0 });
  modes.forEach((mode, i) => p.register({ sensorId: sim.sensors[i]!.sensorId, group: sim.sensors[i]!.group, sampleRate: RATE, mode, decimate: decimateBy }));
  return { p, sim };
}

function frames(items: { payload: Uint8Array; kind: string; topic: string }[]): Frame[] {
  return items.flatMap((it) => {
    expect(it.topic).toBe('edgewave/gw-1/batch');
    const fs = decodeBatch(it.payload);
    for (const f of fs) expect(f.kind).toBe(it.kind);
    return fs;
  });
}

/** Planar 6 x n signal per sensor, as fed. */
function run(p: Pipeline, sim: Simulator, steps: number, flushEvery: number, featuresOnlyAt?: (step: number) => boolean) {
  const fed = sim.sensors.map(() => [] as Float32Array[]);
  const out: Frame[] = [];
  for (let k = 0; k < steps; k++) {
    const s = sim.next(STEP);
    sim.sensors.forEach((sensor, i) => {
      p.add(sensor.sensorId, s.samples[i]!, usAt(k * STEP));
      fed[i]!.push(s.samples[i]!.slice());
    });
    if ((k + 1) % flushEvery === 0) out.push(...frames(p.flush(featuresOnlyAt?.(k) ?? false).items));
  }
  out.push(...frames(p.flush().items));
  const signals = fed.map((chunks) => {
    const n = chunks.length * STEP;
    const sig = new Float32Array(6 * n);
    chunks.forEach((c, k) => {
      for (let ch = 0; ch < 6; ch++) sig.set(c.subarray(ch * STEP, (ch + 1) * STEP), ch * n + k * STEP);
    });
    return sig;
  });
  return { out, signals };
}

describe('Pipeline', () => {
  it('raw frames hold exactly the samples; feature frames exactly what dsp/ computes for them', () => {
    const { p, sim } = setup(['raw', 'features', 'both']);
    const { out, signals } = run(p, sim, 100, 2);
    const [rawOnly, featOnly, both] = sim.sensors.map((s) => out.filter((f) => f.sensorId === s.sensorId));
    expect(featOnly!.some((f) => f.kind === 'raw')).toBe(false);
    expect(rawOnly!.some((f) => f.kind === 'features')).toBe(false);
    for (const [i, list] of [[0, rawOnly!], [2, both!]] as const) {
      const raws = list.filter((f) => f.kind === 'raw');
      const n = raws.reduce((a, f) => a + f.count, 0);
      expect(n).toBe(1000);
      // Reassemble the planar signal from the frames and compare.
      const got = new Float32Array(6 * n);
      let at = 0;
      for (const f of raws) {
        expect(f.t0).toBe(usAt(at));
        for (let ch = 0; ch < 6; ch++) got.set(f.data.subarray(ch * f.count, (ch + 1) * f.count), ch * n + at);
        at += f.count;
      }
      expect(Buffer.from(got.buffer).equals(Buffer.from(signals[i]!.buffer))).toBe(true);
    }
    for (const [i, list] of [[1, featOnly!], [2, both!]] as const) {
      const feats = list.filter((f) => f.kind === 'features');
      const ex = new FeatureExtractor(dsp, { sampleRate: RATE, capacity: 1 });
      const expected = ex.push([{ slot: 0, samples: signals[i]! }]);
      const rows = feats.reduce((a, f) => a + f.count, 0);
      expect(rows).toBe(expected.count);
      const got = new Float32Array(rows * ex.width);
      let at = 0;
      for (const f of feats) {
        expect(f.layoutId).toBe(ex.layout.id);
        expect([f.width, f.window, f.hop, f.sampleRate]).toEqual([ex.width, 256, 128, RATE]);
        expect(f.t0).toBe(usAt(expected.starts[at]!));
        got.set(f.data, at * ex.width);
        at += f.count;
      }
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.features.buffer, expected.features.byteOffset, expected.features.byteLength))).toBe(true);
    }
    // One seq counter per sensor, strictly increasing in send order.
    for (const list of [rawOnly!, featOnly!, both!]) {
      const seqs = list.map((f) => f.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
  });

  it('featuresOnly keeps both-mode sensors to features, and their next raw frame says what is missing', () => {
    const { p, sim } = setup(['both']);
    const { out } = run(p, sim, 40, 2, (k) => k >= 10 && k < 20);
    const raws = out.filter((f) => f.kind === 'raw');
    expect(raws.reduce((a, f) => a + f.count, 0)).toBe(400 - 100);
    expect(raws.filter((f) => f.flags & FLAG_GAP).map((f) => f.t0)).toEqual([usAt(200)]);
    expect(out.filter((f) => f.kind === 'features').reduce((a, f) => a + f.count, 0)).toBe(Math.floor((400 - 256) / 128) + 1);
  });

  it('decimates raw by averaging', () => {
    expect(Array.from(decimate(Float32Array.from([1, 2, 3, 4, 5, 10, 20, 30, 40, 50]), 2, 2))).toEqual([1.5, 3.5, 5, 15, 35, 50]);
    const { p, sim } = setup(['raw'], 4);
    const { out, signals } = run(p, sim, 8, 8);
    const f = out[0]!;
    expect([f.count, f.sampleRate]).toEqual([20, 50]);
    expect(f.data[1]).toBeCloseTo((signals[0]![4]! + signals[0]![5]! + signals[0]![6]! + signals[0]![7]!) / 4, 5);
  });

  it('a gap restarts the windows and is flagged; raw chunks with NaN are left out and flagged', () => {
    const { p, sim } = setup(['both']);
    const id = sim.sensors[0]!.sensorId;
    const feed = (k: number, gap = false, poison = false) => {
      const s = sim.next(STEP).samples[0]!.slice();
      if (poison) s[3] = NaN;
      p.add(id, s, usAt(k * STEP), gap);
    };
    for (let k = 0; k < 40; k++) feed(k); // 400 samples: windows at 0 and 128
    for (let k = 60; k < 100; k++) feed(k, k === 60); // after a 200-sample dropout
    feed(100, false, true);
    for (let k = 101; k < 110; k++) feed(k);
    const r = p.flush();
    expect(r.badChunks).toBe(1);
    const out = frames(r.items);
    // One raw frame per contiguous run: before the dropout, after it, after the bad chunk.
    const raw = out.filter((f) => f.kind === 'raw');
    expect(raw.map((f) => [f.t0, f.count, f.flags])).toEqual([
      [usAt(0), 400, 0],
      [usAt(600), 400, FLAG_GAP],
      [usAt(1010), 90, FLAG_GAP],
    ]);
    const feats = out.filter((f) => f.kind === 'features');
    expect(feats.map((f) => [f.t0, f.count, f.flags])).toEqual([
      [usAt(0), 2, 0],
      // After the gap, windows start again at sample 600: 600 and 728 are whole, 856 holds the NaN.
      [usAt(600), 2, FLAG_GAP],
    ]);
    // Seq numbers still strictly increase.
    expect(out.map((f) => f.seq)).toEqual([...out.map((f) => f.seq)].sort((a, b) => a - b));
  });

  it('sends only the selected features when the config selects some', () => {
    const seq = SeqStore.open(join(dir, `seq-${Math.random()}.json`));
    const select = ['acc.*', 'gyro.*', '*.std', '*.dominant_freq'];
    const p = new Pipeline({ gatewayId: 'gw-1', topicRoot: 'edgewave', dsp, seq, capacity: 2, features: { hop: 256, select } });
    const sim = new Simulator({ sensors: 1, sampleRate: RATE, seed: 9, dropoutsPerHour: 0 });
    p.register({ sensorId: sim.sensors[0]!.sensorId, group: 'g', sampleRate: RATE, mode: 'features', decimate: 1 });
    const { out, signals } = run(p, sim, 60, 4);
    const full = new FeatureExtractor(dsp, { sampleRate: RATE, capacity: 1, hop: 256 });
    const expected = full.push([{ slot: 0, samples: signals[0]! }]);
    const layout = p.extractorFor(RATE).layout;
    expect(layout.width).toBe(24);
    const rows = out.flatMap((f) => (expect(f.width).toBe(24), Array.from(f.data)));
    expect(rows.length).toBe(expected.count * 24);
    layout.features.forEach((f, k) => expect(rows[k]).toBe(expected.features[full.layout.index.get(f.name)!]));
  });
});

