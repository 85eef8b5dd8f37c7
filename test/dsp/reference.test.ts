// The kernels against the float64 reference, within the tolerance stated in helpers.ts, on random
// and IMU-like windows for every supported window size, with and without Welch averaging, in both
// builds; and the SIMD build against the scalar build, bit for bit.

import { describe, expect, it } from 'vitest';
import { FeatureExtractor, loadDsp, referenceFeatures, simdSupported } from '../../dsp/src/index.js';
import { ImuSignal, mulberry32 } from '../../edge/imu-signal.js';
import { compareRow, gaussian } from './helpers.js';

const WINDOWS = [32, 64, 128, 256, 512, 1024, 2048];
const BANDS: [number, number][] = [[0, 1], [1, 3], [3, 8], [8, 20], [20, 100]];

function randomWindow(window: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const g = gaussian(seed);
  switch (seed % 5) {
    case 0:
      return new ImuSignal(200, (['idle', 'walking', 'running'] as const)[seed % 3]!, seed).next(window);
    case 1:
      return Float32Array.from({ length: 6 * window }, () => (rand() - 0.5) * 20);
    case 2:
      return Float32Array.from({ length: 6 * window }, () => g() * 3 + 9.81);
    case 3:
      // A level with a spread of 1e-4 of it, like gravity: moments must survive the float32 mean.
      return Float32Array.from({ length: 6 * window }, (_, i) => 9.81 + 1e-3 * Math.sin(i / 17) + 2e-4 * g());
    default:
      // Near-pure tones: power in a few bins, the hard case for the spectral moments.
      return Float32Array.from({ length: 6 * window }, (_, i) => Math.sin(i * 0.3 * (1 + Math.floor(i / window))) * 5 + g() * 0.01);
  }
}

describe.each([true, false])('kernels vs reference (simd %s)', (simd) => {
  it.each(WINDOWS)('window %i, one FFT frame and Welch frames', async (window) => {
    const dsp = await loadDsp({ simd });
    const runs = window >= 1024 ? 8 : 24;
    for (const fftSize of new Set([window, Math.max(32, window / 4)])) {
      const ex = new FeatureExtractor(dsp, { sampleRate: 200, window, fftSize, capacity: 1, bands: BANDS });
      const all = Array.from({ length: runs }, (_, t) => randomWindow(window, t * 101 + window));
      const out = ex.windows(Float32Array.from(all.flatMap((w) => Array.from(w))));
      expect(out.count).toBe(runs);
      all.forEach((w, t) => {
        const mismatches = compareRow(ex.layout, out.features.subarray(t * ex.width, (t + 1) * ex.width), referenceFeatures(ex.config, w), w);
        expect(mismatches, `window ${window}, fft ${fftSize}, run ${t}`).toEqual([]);
      });
    }
  });
});

describe('SIMD and scalar builds', () => {
  it.runIf(simdSupported())('give the same bits for every feature of every window', async () => {
    const [simd, scalar] = await Promise.all([loadDsp({ simd: true }), loadDsp({ simd: false })]);
    expect([simd.simd, scalar.simd]).toEqual([true, false]);
    for (const window of [32, 256, 2048]) {
      const config = { sampleRate: 100, window, capacity: 7, filters: [{ type: 'highpass' as const, channels: ['ax', 'ay', 'az'], cutoff: 0.3 }] };
      const a = new FeatureExtractor(simd, config);
      const b = new FeatureExtractor(scalar, config);
      // 7 sensors: the last SIMD group has padding lanes.
      for (let round = 0; round < 6; round++) {
        const entries = Array.from({ length: 7 }, (_, s) => ({ slot: s, samples: randomWindow(window / 2 + s, round * 7 + s) }));
        const x = a.push(entries);
        const y = b.push(entries);
        expect(x.count).toBe(y.count);
        expect(Array.from(x.starts)).toEqual(Array.from(y.starts));
        expect(Buffer.from(x.features.buffer, x.features.byteOffset, x.features.byteLength).equals(Buffer.from(y.features.buffer, y.features.byteOffset, y.features.byteLength))).toBe(true);
      }
    }
  });
});
