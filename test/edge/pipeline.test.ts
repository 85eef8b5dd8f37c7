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
import { FLAG_FEATURES_SENT, FLAG_GAP, decodeBatch, type Frame } from '../../protocol/index.js';

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
    // Raw frames of a sensor in `both` mode say that its windows travel as feature frames too.
    expect(rawOnly!.every((f) => (f.flags & FLAG_FEATURES_SENT) === 0)).toBe(true);
    expect(both!.filter((f) => f.kind === 'raw').every((f) => (f.flags & FLAG_FEATURES_SENT) !== 0)).toBe(true);
    expect(both!.filter((f) => f.kind === 'features').every((f) => (f.flags & FLAG_FEATURES_SENT) === 0)).toBe(true);
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
      [usAt(0), 400, FLAG_FEATURES_SENT],
      [usAt(600), 400, FLAG_GAP | FLAG_FEATURES_SENT],
      [usAt(1010), 90, FLAG_GAP | FLAG_FEATURES_SENT],
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


// Window-aligned flushing: a sensor is due at the add that brings a window's last sample, and a
// due-only flush sends it then, so the cloud (which cuts raw frames into windows counted from the
// first frame or one flagged as after a gap, engine.cutRaw) has the window one flush sooner.
describe('Pipeline, window-aligned', () => {
  const ADD = 7; // samples per add: never a divisor of the window or hop
  const WINDOW = 256;
  const HOP = 128; // the defaults of dsp/ (no features settings given)

  function aligned(modes: UplinkMode[], decimateBy = 1) {
    const seq = SeqStore.open(join(dir, `seq-${Math.random()}.json`));
    const p = new Pipeline({ gatewayId: 'gw-1', topicRoot: 'edgewave', dsp, seq, capacity: 8, windowAligned: true });
    const sim = new Simulator({ sensors: modes.length, sampleRate: RATE, seed: 6, dropoutsPerHour: 0 });
    const ids = sim.sensors.map((s) => s.sensorId);
    modes.forEach((mode, i) => p.register({ sensorId: ids[i]!, group: 'g', sampleRate: RATE, mode, decimate: decimateBy }));
    return { p, sim, ids };
  }

  /**
   * Feeds `steps` adds of ADD samples to every sensor started (sensor i from add `starts[i]`), with
   * a gap before sensor 0's add `gapAt` (50 samples lost); flushes what is due right after each add
   * and everything every `every` adds. Returns every frame with the add it was sent after, and per
   * sensor the add that brought each sample (by index in the stream, gaps left out).
   */
  function feed(p: Pipeline, sim: Simulator, ids: string[], steps: number, every: number, starts: number[], gapAt = -1) {
    const sent: { step: number; frame: Frame; dueOnly: boolean }[] = [];
    const addedAt = ids.map(() => [] as number[]);
    const signals = ids.map(() => [] as Float32Array[]);
    // Sensor i's clock: its first sample is taken when add starts[i] is (plus i µs, to tell them apart).
    const sampleAt = starts.map((k) => k * ADD);
    const nextDue: { step: number; at: number }[] = [];
    for (let k = 0; k < steps; k++) {
      const s = sim.next(ADD);
      ids.forEach((id, i) => {
        if (k < starts[i]!) return;
        const gap = i === 0 && k === gapAt;
        if (gap) sampleAt[i]! += 50;
        p.add(id, s.samples[i]!, usAt(sampleAt[i]!) + i, gap);
        sampleAt[i]! += ADD;
        for (let j = 0; j < ADD; j++) addedAt[i]!.push(k);
        signals[i]!.push(s.samples[i]!.slice());
      });
      if (p.due()) for (const frame of frames(p.flush(false, true).items)) sent.push({ step: k, frame, dueOnly: true });
      nextDue.push({ step: k, at: p.nextDueUs() });
      if ((k + 1) % every === 0) for (const frame of frames(p.flush().items)) sent.push({ step: k, frame, dueOnly: false });
    }
    for (const frame of frames(p.flush().items)) sent.push({ step: steps, frame, dueOnly: false });
    return { sent, addedAt, signals, nextDue };
  }

  it('raw: each window\'s last sample goes out right after the add that brought it; every sample once, in order', () => {
    const { p, sim, ids } = aligned(['raw', 'raw', 'raw']);
    const starts = [0, 5, 29];
    const { sent, addedAt, signals } = feed(p, sim, ids, 200, 8, starts, 90);
    ids.forEach((id, i) => {
      const mine = sent.filter((x) => x.frame.sensorId === id);
      // Every sample once and in order, seq strictly increasing.
      const data = mine.map((x) => x.frame);
      expect(data.map((f) => f.seq)).toEqual([...data.keys()]);
      const n = data.reduce((a, f) => a + f.count, 0);
      expect(n).toBe(addedAt[i]!.length);
      const all = new Float32Array(6 * n);
      const fed = new Float32Array(6 * n);
      let at = 0;
      for (const f of data) {
        for (let c = 0; c < 6; c++) all.set(f.data.subarray(c * f.count, (c + 1) * f.count), c * n + at);
        at += f.count;
      }
      at = 0;
      for (const chunk of signals[i]!) {
        for (let c = 0; c < 6; c++) fed.set(chunk.subarray(c * ADD, (c + 1) * ADD), c * n + at);
        at += ADD;
      }
      expect(Buffer.from(all.buffer).equals(Buffer.from(fed.buffer)), id).toBe(true);
      // As the cloud counts: from the first frame, and again from a frame flagged as after a gap.
      let runStart = 0;
      let sample = 0;
      let windows = 0;
      for (const { step, frame } of mine) {
        if (frame.flags & FLAG_GAP) runStart = sample;
        const end = sample + frame.count;
        for (let w = WINDOW; runStart + w <= end; w += HOP) {
          if (runStart + w <= sample) continue;
          // The window's last sample is in this frame: it went out right after the add that brought it.
          expect(step, `${id}: window ending at sample ${runStart + w}`).toBe(addedAt[i]![runStart + w - 1]);
          windows++;
        }
        sample = end;
      }
      expect(windows, id).toBeGreaterThan(6);
      // One gap, on sensor 0: its windows start again there.
      expect(mine.filter((x) => x.frame.flags & FLAG_GAP).length).toBe(i === 0 ? 1 : 0);
    });
    // A due-only flush sends the due sensors alone: about one frame per window more, not one per add.
    const early = sent.filter((x) => x.dueOnly);
    expect(early.length).toBeGreaterThan(0);
    expect(early.length).toBeLessThan(sent.length / 2);
  });

  it('raw: tells when the next window\'s last sample is taken', () => {
    const { p, sim, ids } = aligned(['raw', 'raw']);
    const { nextDue } = feed(p, sim, ids, 80, 8, [0, 3]);
    // Sensor 0's windows end at its samples 255, 383, ...; sensor 1's (from add 3, 21 samples later
    // in time, 1 µs off) at its own 255, 383, ...
    const ends = (startSample: number, i: number, taken: number) => {
      for (let w = WINDOW; ; w += HOP) if (w > taken) return usAt(startSample + w - 1) + i;
    };
    for (const { step, at } of nextDue) {
      const taken0 = (step + 1) * ADD;
      const taken1 = Math.max(0, step - 2) * ADD;
      const want = Math.min(ends(0, 0, taken0), taken1 > 0 ? ends(3 * ADD, 1, taken1) : Infinity);
      expect(Math.abs(at - want), `after add ${step}`).toBeLessThanOrEqual(1);
    }
  });

  it('raw, decimated: the window counts the decimated samples the cloud gets', () => {
    const { p, sim, ids } = aligned(['raw'], 2);
    const { sent, addedAt } = feed(p, sim, ids, 300, 5, [0]);
    let sample = 0;
    let windows = 0;
    for (const { step, frame } of sent) {
      const end = sample + frame.count;
      for (let w = WINDOW; w <= end; w += HOP) {
        if (w <= sample) continue;
        // Decimated sample w - 1 holds raw samples 2(w - 1) and 2(w - 1) + 1 (each frame starts a pair).
        expect(step, `window ending at decimated sample ${w}`).toBeLessThanOrEqual(addedAt[0]![Math.min(addedAt[0]!.length - 1, 2 * w - 1)]!);
        windows++;
      }
      sample = end;
    }
    expect(windows).toBeGreaterThan(4);
    expect(sent.some((x) => x.dueOnly)).toBe(true);
  });

  it('features: a window is computed and sent right after the add that completes it, as dsp/ computes it', () => {
    const { p, sim, ids } = aligned(['features', 'features']);
    const { sent, addedAt, signals } = feed(p, sim, ids, 150, 8, [0, 11]);
    ids.forEach((id, i) => {
      const feats = sent.filter((x) => x.frame.sensorId === id && x.frame.kind === 'features');
      const n = addedAt[i]!.length;
      const sig = new Float32Array(6 * n);
      signals[i]!.forEach((chunk, k) => {
        for (let c = 0; c < 6; c++) sig.set(chunk.subarray(c * ADD, (c + 1) * ADD), c * n + k * ADD);
      });
      const ex = new FeatureExtractor(dsp, { sampleRate: RATE, capacity: 1 });
      const expected = ex.push([{ slot: 0, samples: sig }]);
      let row = 0;
      for (const { step, frame } of feats) {
        for (let r = 0; r < frame.count; r++, row++) {
          const last = expected.starts[row]! + WINDOW - 1;
          expect(step, `${id}: window ${row}`).toBe(addedAt[i]![last]);
          expect(Array.from(frame.data.subarray(r * ex.width, (r + 1) * ex.width))).toEqual(Array.from(expected.features.subarray(row * ex.width, (row + 1) * ex.width)));
        }
      }
      expect(row).toBe(expected.count);
      expect(row).toBeGreaterThan(4);
    });
  });
});
