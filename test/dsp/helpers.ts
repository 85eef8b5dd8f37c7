// Shared pieces of the dsp tests: signals with known answers, and the stated tolerance between the
// WebAssembly kernels (float32) and the float64 reference.

import { featureChannels, welchPsd, type FeatureLayout } from '../../dsp/src/index.js';
import { mulberry32 } from '../../edge/imu-signal.js';

/** Planar channels x n from one function of (channel, sample). */
export function planar(channels: number, n: number, f: (c: number, i: number) => number): Float32Array {
  const out = new Float32Array(channels * n);
  for (let c = 0; c < channels; c++) for (let i = 0; i < n; i++) out[c * n + i] = f(c, i);
  return out;
}

/** Standard normal deviates from a seeded generator (Box-Muller). */
export function gaussian(seed: number): () => number {
  const rand = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export interface Mismatch {
  name: string;
  kernel: number;
  reference: number;
  allowed: number;
}

/**
 * The tolerance the kernels are held to, per feature, for one window (planar input channels x n):
 * relative 1e-4 of the reference value plus an absolute part scaled to the signal, where A is the
 * largest |sample| of the feature's channel (or 3-axis group):
 *   values in the channel unit (mean, std, quartiles, ...)  1e-5 A
 *   squared units (energy, band powers)                     1e-5 A²
 *   jerk (unit/s)                                           1e-5 A fs
 *   frequencies (Hz)                                        1e-4 fs
 *   zero- and mean-crossing rates                           one crossing, 1/(n-1)
 *   other dimensionless values                              1e-3
 * Spectral skewness and kurtosis are held to 1e-3 relative instead of 1e-4 (the worst seen is 3e-4):
 * they weight the highest bins by (f - centroid)^3 and ^4, where a channel with little power there
 * (a low-passed one) holds mostly the float32 FFT's round-off, about 1e-7 of the peak.
 * The dominant frequency may pick another bin only where the reference power there is within
 * 1e-3 of the peak (float32 can reorder near-equal bins).
 */
export function compareRow(layout: FeatureLayout, kernel: ArrayLike<number>, reference: ArrayLike<number>, window: Float32Array): Mismatch[] {
  const c = layout.config;
  const n = c.window;
  const peak = new Map<string, number>();
  featureChannels(c).forEach((ch) => {
    let a = 0;
    for (let k = 0; k < n; k++) a = Math.max(a, Math.abs(window[ch.input * n + k]!));
    peak.set(ch.name, a);
  });
  for (const g of c.axes) peak.set(g.name, Math.max(...g.channels.map((name) => peak.get(name)!)) * Math.sqrt(3));
  const out: Mismatch[] = [];
  layout.features.forEach((f, i) => {
    const k = kernel[i]!;
    const r = reference[i]!;
    const a = peak.get(f.source)!;
    const short = f.name.slice(f.name.indexOf('.') + 1);
    let abs: number;
    if (short === 'dominant_freq') {
      const ch = featureChannels(c).find((x) => x.name === f.source)!.input;
      const psd = welchPsd(window.subarray(ch * n, (ch + 1) * n), c.fftSize, c.sampleRate);
      const best = Math.max(...psd.subarray(1));
      const bin = Math.round(k / (c.sampleRate / c.fftSize));
      if (k === r || (psd[bin]! >= best * (1 - 1e-3) && bin >= 1)) return;
      out.push({ name: f.name, kernel: k, reference: r, allowed: 0 });
      return;
    }
    if (short === 'zcr' || short === 'mcr') abs = 1.0001 / (n - 1);
    else if (f.unit === 'Hz') abs = 1e-4 * c.sampleRate;
    else if (f.unit === '1') abs = 1e-3;
    else if (f.unit.startsWith('(')) abs = 1e-5 * a * a;
    else if (f.unit.endsWith('/s') && short === 'jerk_rms') abs = 1e-5 * a * c.sampleRate;
    else abs = 1e-5 * a;
    const rel = short === 'spectral_skewness' || short === 'spectral_kurtosis' ? 1e-3 : 1e-4;
    const allowed = rel * Math.abs(r) + abs;
    if (!(Math.abs(k - r) <= allowed)) out.push({ name: f.name, kernel: k, reference: r, allowed });
  });
  return out;
}
