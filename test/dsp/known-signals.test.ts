// Exact answers on signals whose features are known in closed form, in both builds.

import { beforeAll, describe, expect, it } from 'vitest';
import { FeatureExtractor, featureLayout, loadDsp, referenceFeatures, simdSupported, type FeatureWindows } from '../../dsp/src/index.js';
import { compareRow, gaussian, planar } from './helpers.js';

const FS = 200;
const N = 256;
const DF = FS / N; // 0.78125 Hz per bin

const builds = simdSupported() ? [true, false] : [false];

describe.each(builds)('known signals (simd %s)', (simd) => {
  let ex: FeatureExtractor;
  const feature = (w: FeatureWindows, name: string, row = 0) => w.features[row * w.width + ex.layout.index.get(name)!]!;

  beforeAll(async () => {
    ex = new FeatureExtractor(await loadDsp({ simd }), {
      sampleRate: FS,
      window: N,
      capacity: 2,
      // Bin 16 (12.5 Hz) and its Hann neighbours 15 and 17 lie in the second band.
      bands: [[0, 10], [11, 14], [14, 100]],
    });
  });

  it('a sine on an FFT bin: dominant frequency, band power, std, crossings', () => {
    const a = 3;
    const k0 = 16;
    const w = ex.windows(planar(6, N, (c, i) => a * Math.sin((2 * Math.PI * k0 * i) / N + 0.3 + c)));
    ['ax', 'ay', 'az', 'gx', 'gy', 'gz'].forEach((ch, c) => {
      expect(feature(w, `${ch}.dominant_freq`)).toBe(k0 * DF);
      // Hann spreads the tone over bins 15..17; the density integrates back to a²/2.
      expect(feature(w, `${ch}.band_11_14hz`)).toBeCloseTo((a * a) / 2, 4);
      expect(feature(w, `${ch}.band_0_10hz`)).toBeLessThan(1e-8);
      expect(feature(w, `${ch}.band_14_100hz`)).toBeLessThan(1e-8);
      expect(feature(w, `${ch}.std`)).toBeCloseTo(a / Math.SQRT2, 5);
      expect(feature(w, `${ch}.rms`)).toBeCloseTo(a / Math.SQRT2, 5);
      expect(Math.abs(feature(w, `${ch}.mean`))).toBeLessThan(1e-6);
      // Sign changes: multiples of π the phase passes between the first and the last sample.
      const phase0 = 0.3 + c;
      const phase1 = phase0 + (2 * Math.PI * k0 * (N - 1)) / N;
      const crossings = Math.floor(phase1 / Math.PI) - Math.floor(phase0 / Math.PI);
      expect(feature(w, `${ch}.zcr`)).toBe(Math.fround(crossings / (N - 1)));
      expect(feature(w, `${ch}.centroid`)).toBeCloseTo(k0 * DF, 3);
      expect(feature(w, `${ch}.entropy`)).toBeLessThan(0.3);
      expect(feature(w, `${ch}.kurtosis`)).toBeCloseTo(-1.5, 3); // excess kurtosis of a sine
    });
  });

  it('a constant: zero variance, zero spectral spread, exact mean and quartiles', () => {
    const c = 9.81;
    const w = ex.windows(planar(6, N, () => c));
    const f32 = Math.fround(c);
    for (const ch of ['ax', 'gz']) {
      expect(feature(w, `${ch}.mean`)).toBe(f32);
      expect(feature(w, `${ch}.median`)).toBe(f32);
      expect(feature(w, `${ch}.min`)).toBe(f32);
      expect(feature(w, `${ch}.max`)).toBe(f32);
      for (const name of ['std', 'p2p', 'iqr', 'skewness', 'kurtosis', 'zcr', 'mcr', 'jerk_rms', 'dominant_freq', 'centroid', 'spread', 'entropy', 'flatness', 'spectral_skewness', 'spectral_kurtosis', 'band_0_10hz', 'band_11_14hz', 'band_14_100hz']) {
        expect(feature(w, `${ch}.${name}`), name).toBe(0);
      }
    }
    expect(feature(w, 'acc.mag_std')).toBeLessThan(1e-6);
    expect(feature(w, 'acc.corr_xy')).toBe(0);
  });

  it('an impulse: heavy tails, a flat spectrum', () => {
    const w = ex.windows(planar(6, N, (_, i) => (i === 100 ? 5 : 0)));
    expect(feature(w, 'ax.max')).toBe(5);
    expect(feature(w, 'ax.median')).toBe(0);
    expect(feature(w, 'ax.iqr')).toBe(0);
    expect(feature(w, 'ax.mean')).toBe(Math.fround(5 / N));
    // One sample away from the rest: skewness ≈ √n, excess kurtosis ≈ n.
    expect(feature(w, 'ax.skewness')).toBeCloseTo(Math.sqrt(N - 1) - 1 / Math.sqrt(N - 1), 2);
    expect(feature(w, 'ax.kurtosis')).toBeGreaterThan(N - 10);
    expect(feature(w, 'ax.entropy')).toBeGreaterThan(0.98);
    expect(feature(w, 'ax.flatness')).toBeGreaterThan(0.9);
    expect(feature(w, 'ax.zcr')).toBe(0);
    expect(feature(w, 'ax.mcr')).toBe(Math.fround(2 / 255));
  });

  it('white noise: known moments, flatness e^-γ, band power equal to the variance', async () => {
    const wide = new FeatureExtractor(await loadDsp({ simd }), { sampleRate: FS, window: 2048, fftSize: 256, capacity: 1, bands: [[0, 100]] });
    const g = gaussian(42);
    const sigma = 2;
    const rows = 8;
    const w = wide.windows(planar(6 * rows, 2048, () => sigma * g()));
    const avg = (name: string) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += w.features[r * w.width + wide.layout.index.get(`ax.${name}`)!]!;
      return s / rows;
    };
    expect(avg('std')).toBeCloseTo(sigma, 1);
    expect(Math.abs(avg('skewness'))).toBeLessThan(0.1);
    expect(Math.abs(avg('kurtosis'))).toBeLessThan(0.2);
    expect(avg('median')).toBeCloseTo(0, 1);
    expect(avg('iqr')).toBeCloseTo(2 * 0.6744897501960817 * sigma, 0);
    expect(avg('zcr')).toBeCloseTo(0.5, 1);
    // Welch over 15 frames: entropy near 1, flatness near e^-γ ≈ 0.56 would be one periodogram;
    // averaging frames flattens the estimate towards 1.
    expect(avg('entropy')).toBeGreaterThan(0.97);
    expect(avg('flatness')).toBeGreaterThan(0.85);
    expect(avg('band_0_100hz')).toBeCloseTo(sigma * sigma, 0);
    expect(avg('centroid')).toBeCloseTo(50, -1);
  });

  it('the tolerance check notices a wrong value', () => {
    const data = planar(6, N, (c, i) => Math.sin(i / 7 + c) + 0.1 * c);
    const w = ex.windows(data);
    const row = w.features.slice(0, w.width);
    expect(compareRow(ex.layout, row, referenceFeatures(ex.config, data), data)).toEqual([]);
    row[ex.layout.index.get('ay.median')!]! *= 1.001;
    expect(compareRow(ex.layout, row, referenceFeatures(ex.config, data), data).map((m) => m.name)).toEqual(['ay.median']);
  });

  it('feature groups switched off leave the others unchanged, bit for bit', async () => {
    const data = planar(6, N, (c, i) => Math.sin(i / (3 + c)) * (c + 1) + 0.01 * i);
    const full = ex.windows(data).features.slice();
    const some = new FeatureExtractor(await loadDsp({ simd }), { ...ex.config, features: ['order', 'bands', 'axes'] });
    expect(some.width).toBe(featureLayout(some.config).width);
    expect(some.width).toBe(6 * (2 + 3) + 12);
    const part = some.windows(data).features;
    some.layout.features.forEach((f, i) => expect(part[i], f.name).toBe(full[ex.layout.index.get(f.name)!]));
  });
});
