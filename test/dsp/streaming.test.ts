// Streaming state: windows do not depend on how samples are split into calls, filters carry their
// state across calls, and non-finite samples invalidate exactly the windows that hold them.

import { describe, expect, it } from 'vitest';
import { FeatureExtractor, ReferenceExtractor, WINDOW_INVALID, loadDsp, simdSupported, type FeatureConfigInput, type FeatureWindows } from '../../dsp/src/index.js';
import { ImuSignal, mulberry32 } from '../../edge/imu-signal.js';
import { compareRow } from './helpers.js';

const builds = simdSupported() ? [true, false] : [false];
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Planar samples [from, to) of a planar signal of n samples per channel. */
function slice(signal: Float32Array, n: number, from: number, to: number, channels = 6): Float32Array {
  const out = new Float32Array(channels * (to - from));
  for (let c = 0; c < channels; c++) out.set(signal.subarray(c * n + from, c * n + to), c * (to - from));
  return out;
}

/** Feeds each sensor's signal in random pieces, sensors interleaved, and collects windows per slot in order. */
function feedInPieces(ex: FeatureExtractor, signals: Float32Array[], n: number, seed: number, maxPiece: number) {
  const rand = mulberry32(seed);
  const at = signals.map(() => 0);
  const rows = signals.map(() => [] as { start: number; flags: number; features: Float32Array }[]);
  while (at.some((a) => a < n)) {
    const entries = signals.flatMap((s, slot) => {
      if (at[slot]! >= n || rand() < 0.3) return [];
      const take = Math.min(n - at[slot]!, 1 + Math.floor(rand() * maxPiece));
      const e = { slot, samples: slice(s, n, at[slot]!, at[slot]! + take) };
      at[slot]! += take;
      return [e];
    });
    collect(ex.push(entries), rows);
  }
  return rows;
}

function collect(w: FeatureWindows, rows: { start: number; flags: number; features: Float32Array }[][]) {
  for (let i = 0; i < w.count; i++) rows[w.slots[i]!]!.push({ start: w.starts[i]!, flags: w.flags[i]!, features: w.features.slice(i * w.width, (i + 1) * w.width) });
}

describe.each(builds)('streaming (simd %s)', (simd) => {
  it.each([
    [256, 128],
    [256, 100],
    [64, 64],
    [32, 1],
    [2048, 1024],
    [256, 128, false],
  ])('window %i hop %i (sorted-half cache %s): many small calls = one call = independent windows, bit for bit', async (window, hop, sortCache = true) => {
    const dsp = await loadDsp({ simd });
    const config: FeatureConfigInput = { sampleRate: 200, window, hop, capacity: 5, sortCache };
    const n = window * 3 + 77;
    const signals = Array.from({ length: 5 }, (_, s) => new ImuSignal(200, (['idle', 'walking', 'running'] as const)[s % 3]!, s + 1).next(n));
    const pieces = feedInPieces(new FeatureExtractor(dsp, config), signals, n, window + hop, Math.max(2, window / 2 + 40));
    const whole = new FeatureExtractor(dsp, config);
    const once = signals.map(() => [] as { start: number; flags: number; features: Float32Array }[]);
    collect(whole.push(signals.map((samples, slot) => ({ slot, samples }))), once);
    const expected = Math.floor((n - window) / hop) + 1;
    const independent = new FeatureExtractor(dsp, config);
    signals.forEach((s, slot) => {
      expect(pieces[slot]!.length).toBe(expected);
      expect(once[slot]!.length).toBe(expected);
      expect(whole.samplesSeen(slot)).toBe(n);
      const starts = pieces[slot]!.map((r) => r.start);
      expect(starts).toEqual(Array.from({ length: expected }, (_, k) => k * hop));
      expect(once[slot]!.map((r) => r.start)).toEqual(starts);
      const windows = new Float32Array(expected * 6 * window);
      starts.forEach((start, k) => windows.set(slice(s, n, start, start + window), k * 6 * window));
      const alone = independent.windows(windows);
      pieces[slot]!.forEach((r, k) => {
        expect(r.flags).toBe(0);
        expect(bits(r.features).equals(bits(once[slot]![k]!.features)), `slot ${slot} window ${k}: pieces vs one call`).toBe(true);
        expect(bits(r.features).equals(bits(alone.features.subarray(k * alone.width, (k + 1) * alone.width))), `slot ${slot} window ${k}: stream vs window`).toBe(true);
      });
    });
  });

  it('filters keep their state across calls and match the reference', async () => {
    const dsp = await loadDsp({ simd });
    const config: FeatureConfigInput = {
      sampleRate: 200,
      capacity: 3,
      filters: [
        { type: 'highpass', channels: ['ax', 'ay', 'az'], cutoff: 0.3, order: 4 },
        { type: 'bandpass', channels: ['gx'], cutoff: [0.5, 20], order: 2 },
        { type: 'lowpass', channels: ['gy'], cutoff: 5, order: 8 },
        { type: 'dcblock', channels: ['gz'], cutoff: 0.1 },
      ],
    };
    const n = 200 * 20;
    const signals = Array.from({ length: 3 }, (_, s) => new ImuSignal(200, 'walking', 10 + s).next(n));
    const pieces = feedInPieces(new FeatureExtractor(dsp, config), signals, n, 7, 150);
    const reference = new ReferenceExtractor(config);
    const ref = signals.map(() => [] as { start: number; flags: number; features: Float32Array }[]);
    collect(reference.push(signals.map((samples, slot) => ({ slot, samples }))), ref);
    const ex = new FeatureExtractor(dsp, config);
    signals.forEach((s, slot) => {
      expect(pieces[slot]!.length).toBe(ref[slot]!.length);
      pieces[slot]!.forEach((r, k) => {
        expect(r.start).toBe(ref[slot]![k]!.start);
        const raw = slice(s, n, r.start, r.start + 256);
        expect(compareRow(ex.layout, r.features, ref[slot]![k]!.features, raw), `slot ${slot} window ${k}`).toEqual([]);
      });
      // Gravity is gone from the high-passed accelerometer once the filter has settled.
      const last = pieces[slot]!.at(-1)!.features;
      expect(Math.abs(last[ex.layout.index.get('az.mean')!]!)).toBeLessThan(0.05);
    });
    // Without the filter the vertical axis carries gravity.
    const plain = new FeatureExtractor(dsp, { sampleRate: 200, capacity: 1 });
    const w = plain.push([{ slot: 0, samples: slice(signals[0]!, n, 0, 256) }]);
    expect(w.features[plain.layout.index.get('az.mean')!]).toBeGreaterThan(9);
  });

  it('derived channels: gravity and body acceleration from one input, by their own filters', async () => {
    const dsp = await loadDsp({ simd });
    const config: FeatureConfigInput = {
      sampleRate: 200,
      capacity: 2,
      derived: [{ name: 'gravity_az', from: 'az' }, { name: 'body_az', from: 'az' }],
      filters: [
        { type: 'lowpass', channels: ['gravity_az'], cutoff: 0.3, order: 4 },
        { type: 'highpass', channels: ['body_az'], cutoff: 0.3, order: 4 },
      ],
      axes: [{ name: 'acc', channels: ['ax', 'ay', 'body_az'] }],
    };
    const ex = new FeatureExtractor(dsp, config);
    expect(ex.layout.features.filter((f) => f.source === 'gravity_az').map((f) => f.unit)[0]).toBe('m/s2');
    const n = 200 * 20;
    const signal = new ImuSignal(200, 'walking', 4).next(n);
    const rows = feedInPieces(ex, [signal], n, 3, 200)[0]!;
    const reference = new ReferenceExtractor(config).push([{ slot: 0, samples: signal }]);
    expect(rows.length).toBe(reference.count);
    rows.forEach((r, k) => {
      const raw = slice(signal, n, r.start, r.start + 256);
      expect(compareRow(ex.layout, r.features, reference.features.subarray(k * reference.width, (k + 1) * reference.width), raw), `window ${k}`).toEqual([]);
    });
    const last = rows.at(-1)!.features;
    const at = (name: string) => last[ex.layout.index.get(name)!]!;
    expect(at('gravity_az.mean')).toBeCloseTo(at('az.mean'), 1);
    expect(at('gravity_az.std')).toBeLessThan(0.1 * at('az.std'));
    expect(Math.abs(at('body_az.mean'))).toBeLessThan(0.05);
    expect(at('body_az.std')).toBeGreaterThan(0.8 * at('az.std'));
    // windows() runs no filters: a derived channel is then a copy of its input.
    const alone = ex.windows(slice(signal, n, 0, 256));
    const f = (name: string) => alone.features[ex.layout.index.get(name)!];
    for (const name of ['mean', 'std', 'median', 'entropy', 'band_1_3hz']) {
      expect(f(`gravity_az.${name}`)).toBe(f(`az.${name}`));
      expect(f(`body_az.${name}`)).toBe(f(`az.${name}`));
    }
  });

  it.each([NaN, Infinity, -Infinity])('a %s sample invalidates the windows that hold it, and only those', async (bad) => {
    const dsp = await loadDsp({ simd });
    const config: FeatureConfigInput = { sampleRate: 200, window: 64, hop: 32, capacity: 2 };
    const n = 64 * 8;
    const clean = new ImuSignal(200, 'running', 3).next(n);
    const dirty = clean.slice();
    const badAt = 200;
    dirty[2 * n + badAt] = bad; // channel az
    const a = new FeatureExtractor(dsp, config);
    const b = new FeatureExtractor(dsp, config);
    const rowsA = [[], []] as { start: number; flags: number; features: Float32Array }[][];
    const rowsB = [[], []] as { start: number; flags: number; features: Float32Array }[][];
    for (let at = 0; at < n; at += 50) {
      const to = Math.min(n, at + 50);
      collect(a.push([{ slot: 1, samples: slice(dirty, n, at, to) }]), rowsA);
      collect(b.push([{ slot: 1, samples: slice(clean, n, at, to) }]), rowsB);
    }
    const windows = rowsA[1]!;
    expect(windows.length).toBe((n - 64) / 32 + 1);
    windows.forEach((r, k) => {
      const holds = r.start <= badAt && badAt < r.start + 64;
      expect(r.flags, `window at ${r.start}`).toBe(holds ? WINDOW_INVALID : 0);
      if (holds) expect(r.features.every(Number.isNaN)).toBe(true);
      else expect(bits(r.features).equals(bits(rowsB[1]![k]!.features)), `window at ${r.start}`).toBe(true);
    });
    expect(windows.filter((r) => r.flags).length).toBe(2);
    // Independent windows are flagged the same way.
    const alone = a.windows(Float32Array.from([...slice(dirty, n, 192, 256), ...slice(dirty, n, 256, 320)]));
    expect(Array.from(alone.flags)).toEqual([WINDOW_INVALID, 0]);
  });

  it('a filtered channel skips a bad sample and stays finite afterwards', async () => {
    const dsp = await loadDsp({ simd });
    const ex = new FeatureExtractor(dsp, { sampleRate: 200, window: 64, hop: 64, capacity: 1, filters: [{ type: 'highpass', channels: ['az'], cutoff: 1 }] });
    const n = 64 * 6;
    const s = new ImuSignal(200, 'walking', 5).next(n);
    s[2 * n + 70] = NaN;
    const w = ex.push([{ slot: 0, samples: s }]);
    expect(Array.from(w.flags)).toEqual([0, WINDOW_INVALID, 0, 0, 0, 0]);
    for (const k of [2, 3, 4, 5]) expect(w.features.subarray(k * w.width, (k + 1) * w.width).every(Number.isFinite)).toBe(true);
  });

  it('released slots start again from sample 0; restart does the same for a kept sensor', async () => {
    const dsp = await loadDsp({ simd });
    const ex = new FeatureExtractor(dsp, { sampleRate: 200, window: 32, hop: 32, capacity: 1 });
    const s = new ImuSignal(200, 'idle', 1).next(48);
    const a = ex.slotOf('sensor-a');
    expect(ex.push([{ slot: a, samples: s }]).count).toBe(1);
    ex.release('sensor-a');
    const b = ex.slotOf('sensor-b');
    expect(b).toBe(a);
    expect(ex.samplesSeen(b)).toBe(0);
    const first = ex.push([{ slot: b, samples: s }]);
    expect(Array.from(first.starts)).toEqual([0]);
    ex.restart(b);
    expect(ex.samplesSeen(b)).toBe(0);
    expect(Array.from(ex.push([{ slot: b, samples: s }]).starts)).toEqual([0]);
  });

  it('each extractor has its own memory: another one growing leaves its results in place', async () => {
    const dsp = await loadDsp({ simd });
    const a = new FeatureExtractor(dsp, { sampleRate: 200, window: 32, hop: 32, capacity: 1 });
    const w = a.push([{ slot: 0, samples: new ImuSignal(200, 'walking', 1).next(32) }]);
    const kept = w.features.slice();
    // Made after a's results: its state takes tens of MiB, growing its memory many times.
    const b = new FeatureExtractor(dsp, { sampleRate: 200, window: 32, hop: 32, capacity: 50_000 });
    b.push(Array.from({ length: 50_000 }, (_, slot) => ({ slot, samples: new Float32Array(6 * 32) })));
    expect(a.memory).not.toBe(b.memory);
    expect(b.memory.buffer.byteLength).toBeGreaterThan(32 * 2 ** 20);
    expect(w.features.byteLength).toBe(kept.byteLength);
    expect(Array.from(w.features)).toEqual(Array.from(kept));
  });

  it('write() fills WebAssembly memory directly; commit() computes', async () => {
    const dsp = await loadDsp({ simd });
    const ex = new FeatureExtractor(dsp, { sampleRate: 200, window: 32, hop: 16, capacity: 3 });
    const s = new ImuSignal(200, 'running', 9).next(32);
    const views = ex.write([{ slot: 2, count: 32 }, { slot: 0, count: 32 }]);
    expect(views.map((v) => v.buffer === ex.memory.buffer)).toEqual([true, true]);
    views[0]!.set(s);
    views[1]!.set(s);
    const w = ex.commit();
    expect(Array.from(w.slots)).toEqual([2, 0]);
    expect(bits(w.features.subarray(0, w.width)).equals(bits(w.features.subarray(w.width)))).toBe(true);
  });
});
