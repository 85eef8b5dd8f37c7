// Plain TypeScript reference of every kernel, written for clarity, in float64: the definitions the
// WebAssembly kernels are checked against (within the tolerances in test/dsp/) and the baseline of
// bench/dsp.ts. Nothing here is optimized on purpose beyond what a careful user would write.

import { featureLayout } from './layout.js';
import { featureChannels, parseFeatureConfig, type FeatureConfig, type FeatureConfigInput } from './config.js';
import type { FeatureWindows, SamplesEntry } from './extractor.js';

export const ROW_STATS_WIDTH = 5;

/** mean, std (population), RMS, min, max of each of `rows` rows of `count` values. */
export function rowStatsReference(data: Float32Array, rows: number, count: number): Float32Array {
  const out = new Float32Array(rows * ROW_STATS_WIDTH);
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * count, (r + 1) * count);
    let sum = 0;
    let sumSq = 0;
    let lo = row[0]!;
    let hi = lo;
    for (let i = 0; i < count; i++) {
      const v = row[i]!;
      sum += v;
      sumSq += v * v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const mean = sum / count;
    let dev = 0;
    for (let i = 0; i < count; i++) dev += (row[i]! - mean) ** 2;
    out.set([mean, Math.sqrt(dev / count), Math.sqrt(sumSq / count), lo, hi], r * ROW_STATS_WIDTH);
  }
  return out;
}

/** Powers below this count as this in logarithms (entropy, flatness), as in the kernels. */
export const TINY_POWER = 1e-30;

const mean = (x: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
};

/** numpy's default quantile: linear interpolation at position (n - 1) q of the sorted values. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const k = Math.floor(pos);
  const next = sorted[Math.min(k + 1, sorted.length - 1)]!;
  return sorted[k]! + (next - sorted[k]!) * (pos - k);
}

/** Counts sign changes between consecutive values, 0 counting as non-negative. */
function crossings(x: ArrayLike<number>, level: number): number {
  let n = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1]! - level < 0 !== x[i]! - level < 0) n++;
  return n;
}

/** Time-domain features of one channel, in layout order. */
export function timeFeatures(x: ArrayLike<number>, sampleRate: number) {
  const n = x.length;
  const m = mean(x);
  let m2 = 0, m3 = 0, m4 = 0, sq = 0, jerk = 0;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const d = x[i]! - m;
    m2 += d * d;
    m3 += d ** 3;
    m4 += d ** 4;
    sq += x[i]! ** 2;
    lo = Math.min(lo, x[i]!);
    hi = Math.max(hi, x[i]!);
    if (i > 0) jerk += (x[i]! - x[i - 1]!) ** 2;
  }
  const variance = m2 / n;
  const std = Math.sqrt(variance);
  const sorted = Float64Array.from(x).sort();
  return {
    stats: [m, std, Math.sqrt(sq / n), lo, hi, hi - lo, sq / n],
    order: [quantile(sorted, 0.5), quantile(sorted, 0.75) - quantile(sorted, 0.25)],
    moments: variance > 0 ? [m3 / n / variance ** 1.5, m4 / n / variance ** 2 - 3] : [0, 0],
    crossings: [crossings(x, 0) / (n - 1), crossings(x, m) / (n - 1)],
    jerk: [Math.sqrt(jerk / (n - 1)) * sampleRate],
  };
}

/** In-place iterative radix-2 complex FFT (Cooley & Tukey 1965), length a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    for (let k = 0; k < size / 2; k++) {
      const a = (-2 * Math.PI * k) / size;
      const wr = Math.cos(a), wi = Math.sin(a);
      for (let s = 0; s < n; s += size) {
        const p = s + k, q = p + size / 2;
        const tr = re[q]! * wr - im[q]! * wi;
        const ti = re[q]! * wi + im[q]! * wr;
        re[q] = re[p]! - tr;
        im[q] = im[p]! - ti;
        re[p] = re[p]! + tr;
        im[p] = im[p]! + ti;
      }
    }
  }
}

/** Periodic Hann window (Harris 1978). */
export const hann = (n: number) => Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));

/**
 * One-sided power spectral density by Welch's method (Welch 1967): Hann frames of fftSize with 50%
 * overlap (one frame when fftSize = window), the window's mean removed, |X|² / (fs Σw²), doubled
 * except at DC and Nyquist, averaged over frames. Returns bins 0..fftSize/2.
 */
export function welchPsd(x: ArrayLike<number>, fftSize: number, sampleRate: number): Float64Array {
  const w = hann(fftSize);
  const wPower = w.reduce((s, v) => s + v * v, 0);
  const m = mean(x);
  const step = fftSize === x.length ? fftSize : fftSize / 2;
  const frames = fftSize === x.length ? 1 : (x.length - fftSize) / step + 1;
  const psd = new Float64Array(fftSize / 2 + 1);
  for (let f = 0; f < frames; f++) {
    const re = Float64Array.from({ length: fftSize }, (_, i) => (x[f * step + i]! - m) * w[i]!);
    const im = new Float64Array(fftSize);
    fft(re, im);
    for (let k = 0; k <= fftSize / 2; k++) {
      const onesided = k === 0 || k === fftSize / 2 ? 1 : 2;
      psd[k]! += (onesided * (re[k]! ** 2 + im[k]! ** 2)) / (sampleRate * wPower * frames);
    }
  }
  return psd;
}

/** Spectral shape over bins 1..M (DC excluded), in layout order; all 0 without power. */
export function spectralFeatures(psd: Float64Array, binWidth: number): number[] {
  const m = psd.length - 1;
  let total = 0, centroid = 0, best = -1, dominant = 0;
  for (let k = 1; k <= m; k++) {
    total += psd[k]!;
    centroid += k * binWidth * psd[k]!;
    if (psd[k]! > best) [best, dominant] = [psd[k]!, k * binWidth];
  }
  if (!(total > 0)) return [0, 0, 0, 0, 0, 0, 0];
  centroid /= total;
  let v2 = 0, v3 = 0, v4 = 0, entropy = 0, logSum = 0;
  for (let k = 1; k <= m; k++) {
    const d = k * binWidth - centroid;
    const p = psd[k]! / total;
    v2 += p * d * d;
    v3 += p * d ** 3;
    v4 += p * d ** 4;
    const P = Math.max(psd[k]!, TINY_POWER);
    entropy -= (psd[k]! / total) * Math.log(P / total);
    logSum += Math.log(P);
  }
  const spread = Math.sqrt(v2);
  const flatness = Math.exp(logSum / m) / (total / m);
  return [dominant, centroid, spread, entropy / Math.log(m), flatness, v2 > 0 ? v3 / spread ** 3 : 0, v2 > 0 ? v4 / v2 ** 2 : 0];
}

/** Power in [lo, hi) Hz: Σ PSD·Δf over bins k with lo <= kΔf < hi (the Nyquist bin closes a band reaching it). */
export function bandPower(psd: Float64Array, binWidth: number, lo: number, hi: number, sampleRate: number): number {
  let s = 0;
  for (let k = 0; k < psd.length; k++) {
    const f = k * binWidth;
    if ((f >= lo && f < hi) || (k === psd.length - 1 && hi >= sampleRate / 2 && f >= lo)) s += psd[k]!;
  }
  return s * binWidth;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = mean(a), mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return aa * bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Magnitude mean, std, RMS and the x-y, x-z, y-z correlations of a 3-axis group. */
export function axesFeatures(x: ArrayLike<number>, y: ArrayLike<number>, z: ArrayLike<number>): number[] {
  const mag = Float64Array.from({ length: x.length }, (_, i) => Math.hypot(x[i]!, y[i]!, z[i]!));
  const mm = mean(mag);
  const std = Math.sqrt(mean(mag.map((v) => (v - mm) ** 2)));
  const rms = Math.sqrt(mean(mag.map((v) => v * v)));
  return [mm, std, rms, pearson(x, y), pearson(x, z), pearson(y, z)];
}

/**
 * Every feature of one window, in layout order: `window` holds the input channels (planar,
 * channels x window); derived channels are copies of their input here (no filters run on a single
 * window). NaN everywhere if a sample is not finite.
 */
export function referenceFeatures(input: FeatureConfigInput | FeatureConfig, window: Float32Array): Float64Array {
  const c = parseFeatureConfig(input);
  const n = c.window;
  return project(c, featuresOfSeries(c, featureChannels(c).map((s) => window.subarray(s.input * n, (s.input + 1) * n))));
}

/** The `select`ed columns of a full row. */
function project(c: FeatureConfig, row: Float64Array): Float64Array {
  if (!c.select) return row;
  return Float64Array.from(featureLayout(c).columns, (i) => row[i]!);
}

/** Every feature of one window given each channel's samples (inputs then derived), in layout order. */
function featuresOfSeries(c: FeatureConfig, channels: Float32Array[]): Float64Array {
  const on = new Set(c.features);
  const out: number[] = [];
  if (!channels.every((x) => x.every(Number.isFinite))) return new Float64Array(featureLayout(c).kernelWidth).fill(NaN);
  for (const x of channels) {
    const t = timeFeatures(x, c.sampleRate);
    for (const g of ['stats', 'order', 'moments', 'crossings', 'jerk'] as const) if (on.has(g)) out.push(...t[g]);
    if (on.has('spectral') || on.has('bands')) {
      const psd = welchPsd(x, c.fftSize, c.sampleRate);
      const df = c.sampleRate / c.fftSize;
      if (on.has('spectral')) out.push(...spectralFeatures(psd, df));
      if (on.has('bands')) for (const [lo, hi] of c.bands as readonly (readonly [number, number])[]) out.push(bandPower(psd, df, lo, hi, c.sampleRate));
    }
  }
  if (on.has('axes')) {
    for (const g of c.axes) {
      const [x, y, z] = g.channels.map((name) => channels[featureChannels(c).findIndex((ch) => ch.name === name)]!) as [Float32Array, Float32Array, Float32Array];
      out.push(...axesFeatures(x, y, z));
    }
  }
  return Float64Array.from(out);
}


/** Second-order sections [b0, b1, b2, a1, a2] of a filter (Audio EQ Cookbook, Butterworth Qs). */
export function designSections(type: 'lowpass' | 'highpass' | 'bandpass' | 'dcblock', order: number, cutoff: number | readonly [number, number], fs: number): number[][] {
  const [f1, f2] = typeof cutoff === 'number' ? [cutoff, 0] : cutoff;
  if (type === 'dcblock') return [[1, -1, 0, -Math.exp((-2 * Math.PI * f1) / fs), 0]];
  const section = (high: boolean, fc: number, q: number) => {
    const w0 = (2 * Math.PI * fc) / fs;
    const alpha = Math.sin(w0) / (2 * q);
    const cw = Math.cos(w0);
    const a0 = 1 + alpha;
    const b0 = (high ? 1 + cw : 1 - cw) / 2;
    return [b0 / a0, (high ? -(1 + cw) : 1 - cw) / a0, b0 / a0, (-2 * cw) / a0, (1 - alpha) / a0];
  };
  const pairs = order / 2;
  const qs = Array.from({ length: pairs }, (_, k) => 1 / (2 * Math.sin(((2 * (k + 1) - 1) * Math.PI) / (4 * pairs))));
  const out: number[][] = [];
  if (type !== 'lowpass') out.push(...qs.map((q) => section(true, f1, q)));
  if (type === 'bandpass') out.push(...qs.map((q) => section(false, f2, q)));
  if (type === 'lowpass') out.push(...qs.map((q) => section(false, f1, q)));
  return out;
}

/**
 * The streaming extractor in plain TypeScript: per sensor, filter each sample (transposed direct
 * form II, float64), keep the last `window` samples, and compute a window every `hop` samples once
 * `window` have arrived. Non-finite samples skip the filter and invalidate the windows holding them.
 */
export class ReferenceExtractor {
  readonly config: FeatureConfig;
  private readonly sections: number[][][];
  private readonly sensors = new Map<number, { ring: Float32Array[]; state: number[][][]; seen: number; nextEnd: number; lastBad: number }>();

  constructor(input: FeatureConfigInput | FeatureConfig) {
    this.config = parseFeatureConfig(input);
    this.sections = featureChannels(this.config).map((ch) =>
      this.config.filters.filter((f) => f.channels.includes(ch.name)).flatMap((f) => designSections(f.type, f.order, f.cutoff as number | readonly [number, number], this.config.sampleRate)),
    );
  }

  push(entries: readonly SamplesEntry[]): FeatureWindows {
    const inputs = this.config.channels.length;
    const series = featureChannels(this.config);
    const { window: w, hop } = this.config;
    const rows: Float64Array[] = [];
    const slots: number[] = [];
    const starts: number[] = [];
    const flags: number[] = [];
    for (const { slot, samples } of entries) {
      let s = this.sensors.get(slot);
      if (!s) {
        s = { ring: this.sections.map(() => new Float32Array(w)), state: this.sections.map((secs) => secs.map(() => [0, 0])), seen: 0, nextEnd: w, lastBad: -1 };
        this.sensors.set(slot, s);
      }
      const n = samples.length / inputs;
      for (let i = 0; i < n; i++) {
        series.forEach((ch, k) => {
          let v = samples[ch.input * n + i]!;
          if (!Number.isFinite(v)) {
            s.lastBad = s.seen;
            v = NaN;
          } else {
            for (const [j, [b0, b1, b2, a1, a2]] of this.sections[k]!.entries()) {
              const z = s.state[k]![j]!;
              const y = b0! * v + z[0]!;
              z[0] = b1! * v - a1! * y + z[1]!;
              z[1] = b2! * v - a2! * y;
              v = y;
            }
            v = Math.fround(v);
          }
          s.ring[k]![s.seen % w] = v;
        });
        s.seen++;
        if (s.seen === s.nextEnd) {
          // The ring holds the last w samples; the oldest is at seen % w.
          const oldest = s.seen % w;
          const windowSeries = s.ring.map((r) => Float32Array.from([...r.subarray(oldest), ...r.subarray(0, oldest)]));
          const start = s.seen - w;
          const bad = s.lastBad >= start;
          rows.push(project(this.config, bad ? new Float64Array(featureLayout(this.config).kernelWidth).fill(NaN) : featuresOfSeries(this.config, windowSeries)));
          slots.push(slot);
          starts.push(start);
          flags.push(bad ? 1 : 0);
          s.nextEnd += hop;
        }
      }
    }
    const width = featureLayout(this.config).width;
    const features = new Float32Array(rows.length * width);
    rows.forEach((r, i) => features.set(r, i * width));
    return { count: rows.length, width, features, slots: Int32Array.from(slots), starts: Float64Array.from(starts), flags: Int32Array.from(flags) };
  }
}
