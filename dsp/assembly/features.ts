// Feature kernels for one lane group (1 series in the scalar build, 4 in the SIMD build), generic
// over V (lanes.ts). Inputs are V arrays of the window's samples; each result is written to every
// lane's output row. Definitions, names and units are documented in dsp/README.md and mirrored,
// for clarity rather than speed, by dsp/src/reference.ts.

import { FftTables, addSegmentPower } from './spectrum';
import {
  add, countCross, countToF32, div, lane, lanes, ld, logv, maxv, minv, mul, selGt, splat, sqrtv, st, sub, zeroCount,
} from './lanes';

export const GROUP_STATS = 1;
export const GROUP_ORDER = 2;
export const GROUP_MOMENTS = 4;
export const GROUP_CROSSINGS = 8;
export const GROUP_JERK = 16;
export const GROUP_SPECTRAL = 32;
export const GROUP_BANDS = 64;
export const GROUP_AXES = 128;

/** Powers below this count as this in logarithms (spectral entropy and flatness). */
const TINY: f32 = 1e-30;

@inline export function put<V>(rows: usize, offset: i32, v: V): void {
  for (let l = 0; l < lanes<V>(); l++) {
    store<f32>(load<usize>(rows + (<usize>l << 2)) + (<usize>offset << 2), lane<V>(v, l));
  }
}

/**
 * Per-lane mean: the f64 sum of the f32 samples in index order, divided, rounded to f32 (returned)
 * with the rest, f64 mean minus that, as f32 at `lo`. Centring by (x - mean) - lo is then exact to
 * float32 precision of the deviation even when the spread is 1e-4 of the level (a gravity channel).
 */
export function meanOf<V>(x: usize, n: i32, lo: usize): V {
  if (isVector<V>()) {
    let acc0 = f64x2.splat(0);
    let acc1 = f64x2.splat(0);
    for (let i = 0; i < n; i++) {
      const v = v128.load(x + (<usize>i << 4));
      acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(v));
      acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
    }
    const d = f64x2.splat(<f64>n);
    const qa = f64x2.div(acc0, d), qb = f64x2.div(acc1, d);
    const a = f32x4.demote_f64x2_zero(qa);
    const b = f32x4.demote_f64x2_zero(qb);
    const ra = f32x4.demote_f64x2_zero(f64x2.sub(qa, f64x2.promote_low_f32x4(a)));
    const rb = f32x4.demote_f64x2_zero(f64x2.sub(qb, f64x2.promote_low_f32x4(b)));
    v128.store(lo, v128.shuffle<f32>(ra, rb, 0, 1, 4, 5));
    return <V>v128.shuffle<f32>(a, b, 0, 1, 4, 5);
  }
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  const q = s / <f64>n;
  const m = <f32>q;
  store<f32>(lo, <f32>(q - <f64>m));
  return <V>m;
}

/** exp per lane with this module's Mathf.exp (one call per series, not per sample). */
function expv<V>(x: V): V {
  if (isVector<V>()) {
    let r = f32x4.splat(Mathf.exp(f32x4.extract_lane(<v128>x, 0)));
    r = f32x4.replace_lane(r, 1, Mathf.exp(f32x4.extract_lane(<v128>x, 1)));
    r = f32x4.replace_lane(r, 2, Mathf.exp(f32x4.extract_lane(<v128>x, 2)));
    return <V>f32x4.replace_lane(r, 3, Mathf.exp(f32x4.extract_lane(<v128>x, 3)));
  }
  return <V>Mathf.exp(<f32>x);
}

/** What a channel's features need besides the samples. */
export class ChannelPlan {
  n: i32 = 0; // window length
  mask: i32 = 0;
  fs: f32 = 0;
  offStats: i32 = 0;
  offOrder: i32 = 0;
  offMoments: i32 = 0;
  offCross: i32 = 0;
  offJerk: i32 = 0;
  offSpectral: i32 = 0;
  offBands: i32 = 0;
  nBands: i32 = 0;
  bandLo: usize = 0; // i32[nBands], first bin
  bandHi: usize = 0; // i32[nBands], last bin (inclusive), < first when empty
  fft: FftTables | null = null;
  segments: i32 = 0;
  segStep: i32 = 0;
  edgeScale: f32 = 0;
  midScale: f32 = 0;
  binWidth: f32 = 0;
  logBins: f32 = 0; // ln(M)
  // work areas
  re: usize = 0;
  im: usize = 0;
  power: usize = 0;
}

/** All enabled per-channel features of the series x (V[n]); rows point at the channel's first feature. */
export function channelFeatures<V>(p: ChannelPlan, x: usize, mean: V, meanLo: V, rows: usize): void {
  const n = p.n;
  const zero = splat<V>(0);
  const mask = p.mask;

  if (mask & (GROUP_STATS | GROUP_MOMENTS | GROUP_CROSSINGS | GROUP_JERK)) {
    let prev = ld<V>(x, 0);
    let prevD = sub<V>(sub<V>(prev, mean), meanLo);
    let d2 = mul<V>(prevD, prevD);
    let s1 = prevD;
    let s2 = d2;
    let s3 = mul<V>(d2, prevD);
    let s4 = mul<V>(d2, d2);
    let sq = mul<V>(prev, prev);
    let lo = prev;
    let hi = prev;
    let sj = zero;
    let zc = zeroCount<V>();
    let mc = zeroCount<V>();
    for (let i = 1; i < n; i++) {
      const v = ld<V>(x, i);
      const d = sub<V>(sub<V>(v, mean), meanLo);
      d2 = mul<V>(d, d);
      s1 = add<V>(s1, d);
      s2 = add<V>(s2, d2);
      s3 = add<V>(s3, mul<V>(d2, d));
      s4 = add<V>(s4, mul<V>(d2, d2));
      sq = add<V>(sq, mul<V>(v, v));
      lo = minv<V>(lo, v);
      hi = maxv<V>(hi, v);
      const j = sub<V>(v, prev);
      sj = add<V>(sj, mul<V>(j, j));
      zc = countCross<V>(zc, prev, v);
      mc = countCross<V>(mc, prevD, d);
      prev = v;
      prevD = d;
    }
    const nv = splat<V>(<f32>n);
    const n1 = splat<V>(<f32>(n - 1));
    // Moments about the mean, then re-centred by c, the mean of the float32 deviations.
    const c = div<V>(s1, nv);
    const r2 = div<V>(s2, nv), r3 = div<V>(s3, nv), r4 = div<V>(s4, nv);
    const cc = mul<V>(c, c);
    const variance = maxv<V>(sub<V>(r2, cc), zero);
    const m3 = add<V>(sub<V>(r3, mul<V>(mul<V>(splat<V>(3), c), r2)), mul<V>(splat<V>(2), mul<V>(cc, c)));
    const m4 = sub<V>(add<V>(sub<V>(r4, mul<V>(mul<V>(splat<V>(4), c), r3)), mul<V>(mul<V>(splat<V>(6), cc), r2)), mul<V>(splat<V>(3), mul<V>(cc, cc)));
    const std = sqrtv<V>(variance);
    const energy = div<V>(sq, nv);
    if (mask & GROUP_STATS) {
      const o = p.offStats;
      put<V>(rows, o, mean);
      put<V>(rows, o + 1, std);
      put<V>(rows, o + 2, sqrtv<V>(energy));
      put<V>(rows, o + 3, lo);
      put<V>(rows, o + 4, hi);
      put<V>(rows, o + 5, sub<V>(hi, lo));
      put<V>(rows, o + 6, energy);
    }
    if (mask & GROUP_MOMENTS) {
      // Zero variance: skewness and excess kurtosis are reported as 0.
      const skew = div<V>(m3, mul<V>(variance, std));
      const kurt = sub<V>(div<V>(m4, mul<V>(variance, variance)), splat<V>(3));
      put<V>(rows, p.offMoments, selGt<V>(variance, zero, skew, zero));
      put<V>(rows, p.offMoments + 1, selGt<V>(variance, zero, kurt, zero));
    }
    if (mask & GROUP_CROSSINGS) {
      put<V>(rows, p.offCross, div<V>(countToF32<V>(zc), n1));
      put<V>(rows, p.offCross + 1, div<V>(countToF32<V>(mc), n1));
    }
    if (mask & GROUP_JERK) {
      put<V>(rows, p.offJerk, mul<V>(sqrtv<V>(div<V>(sj, n1)), splat<V>(p.fs)));
    }
  }

  if (mask & (GROUP_SPECTRAL | GROUP_BANDS)) spectralFeatures<V>(p, x, mean, meanLo, rows);
}

function spectralFeatures<V>(p: ChannelPlan, x: usize, mean: V, meanLo: V, rows: usize): void {
  const t = changetype<FftTables>(p.fft);
  const m = t.half;
  const zero = splat<V>(0);
  for (let k = 0; k <= m; k++) st<V>(p.power, k, zero);
  for (let s = 0; s < p.segments; s++) {
    addSegmentPower<V>(t, x, s * p.segStep, mean, meanLo, p.re, p.im, p.power, p.edgeScale, p.midScale);
  }
  if (p.mask & GROUP_SPECTRAL) {
    // Over bins 1..M (DC excluded): total power, centroid, dominant bin, log sums.
    const df = p.binWidth;
    const tiny = splat<V>(TINY);
    let total = zero;
    let fw = zero;
    let best = splat<V>(-1);
    let bestF = zero;
    let sumLog = zero;
    let sumPLog = zero;
    for (let k = 1; k <= m; k++) {
      const pw = ld<V>(p.power, k);
      const f = splat<V>(<f32>k * df);
      total = add<V>(total, pw);
      fw = add<V>(fw, mul<V>(pw, f));
      bestF = selGt<V>(pw, best, f, bestF);
      best = selGt<V>(pw, best, pw, best);
      const lp = logv<V>(maxv<V>(pw, tiny));
      sumLog = add<V>(sumLog, lp);
      sumPLog = add<V>(sumPLog, mul<V>(pw, lp));
    }
    const centroid = div<V>(fw, total);
    let w2 = zero;
    let w3 = zero;
    let w4 = zero;
    for (let k = 1; k <= m; k++) {
      const pw = ld<V>(p.power, k);
      const d = sub<V>(splat<V>(<f32>k * df), centroid);
      const d2 = mul<V>(d, d);
      const pd2 = mul<V>(pw, d2);
      w2 = add<V>(w2, pd2);
      w3 = add<V>(w3, mul<V>(pd2, d));
      w4 = add<V>(w4, mul<V>(pd2, d2));
    }
    const var2 = div<V>(w2, total);
    const spread = sqrtv<V>(var2);
    const sskew = div<V>(div<V>(w3, total), mul<V>(var2, spread));
    const skurt = div<V>(div<V>(w4, total), mul<V>(var2, var2));
    const bins = splat<V>(<f32>m);
    // H = ln T - Σ P ln P / T, normalized by ln M; flatness = exp(mean ln P) / mean P.
    const entropy = div<V>(sub<V>(logv<V>(maxv<V>(total, tiny)), div<V>(sumPLog, total)), splat<V>(p.logBins));
    const flatness = div<V>(expv<V>(div<V>(sumLog, bins)), div<V>(total, bins));
    const o = p.offSpectral;
    // No power (a constant window): every spectral feature is 0.
    put<V>(rows, o, selGt<V>(total, zero, bestF, zero));
    put<V>(rows, o + 1, selGt<V>(total, zero, centroid, zero));
    put<V>(rows, o + 2, selGt<V>(total, zero, spread, zero));
    put<V>(rows, o + 3, selGt<V>(total, zero, entropy, zero));
    put<V>(rows, o + 4, selGt<V>(total, zero, flatness, zero));
    put<V>(rows, o + 5, selGt<V>(var2, zero, sskew, zero));
    put<V>(rows, o + 6, selGt<V>(var2, zero, skurt, zero));
  }
  if (p.mask & GROUP_BANDS) {
    const df = splat<V>(p.binWidth);
    for (let b = 0; b < p.nBands; b++) {
      const k0 = load<i32>(p.bandLo + (<usize>b << 2));
      const k1 = load<i32>(p.bandHi + (<usize>b << 2));
      let s = zero;
      for (let k = k0; k <= k1; k++) s = add<V>(s, ld<V>(p.power, k));
      put<V>(rows, p.offBands + b, mul<V>(s, df));
    }
  }
}

/** Magnitude mean, std, RMS and the three pairwise Pearson correlations of a 3-axis group. */
export function axesFeatures<V>(n: i32, x: usize, y: usize, z: usize, means: usize, mag: usize, rows: usize, offset: i32): void {
  const zero = splat<V>(0);
  for (let i = 0; i < n; i++) {
    const a = ld<V>(x, i), b = ld<V>(y, i), c = ld<V>(z, i);
    st<V>(mag, i, sqrtv<V>(add<V>(add<V>(mul<V>(a, a), mul<V>(b, b)), mul<V>(c, c))));
  }
  // means: (mean, lo) of x, y and z, as V pairs; the magnitude's lo goes after them.
  const mx = ld<V>(means, 0), lx = ld<V>(means, 1), my = ld<V>(means, 2), ly = ld<V>(means, 3), mz = ld<V>(means, 4), lz = ld<V>(means, 5);
  const mm = meanOf<V>(mag, n, means + 6 * sizeof<V>());
  const lm = ld<V>(means, 6);
  let s1 = zero, sm = zero, sq = zero, sx = zero, sy = zero, sz = zero;
  let sxx = zero, syy = zero, szz = zero, sxy = zero, sxz = zero, syz = zero;
  for (let i = 0; i < n; i++) {
    const v = ld<V>(mag, i);
    const d = sub<V>(sub<V>(v, mm), lm);
    s1 = add<V>(s1, d);
    sm = add<V>(sm, mul<V>(d, d));
    sq = add<V>(sq, mul<V>(v, v));
    const a = sub<V>(sub<V>(ld<V>(x, i), mx), lx), b = sub<V>(sub<V>(ld<V>(y, i), my), ly), c = sub<V>(sub<V>(ld<V>(z, i), mz), lz);
    sx = add<V>(sx, a);
    sy = add<V>(sy, b);
    sz = add<V>(sz, c);
    sxx = add<V>(sxx, mul<V>(a, a));
    syy = add<V>(syy, mul<V>(b, b));
    szz = add<V>(szz, mul<V>(c, c));
    sxy = add<V>(sxy, mul<V>(a, b));
    sxz = add<V>(sxz, mul<V>(a, c));
    syz = add<V>(syz, mul<V>(b, c));
  }
  const nv = splat<V>(<f32>n);
  // Re-centred as in channelFeatures: (co)variances about the float32 means, minus the means' offsets.
  const c = div<V>(s1, nv);
  const cx = div<V>(sx, nv), cy = div<V>(sy, nv), cz = div<V>(sz, nv);
  const vxx = sub<V>(div<V>(sxx, nv), mul<V>(cx, cx));
  const vyy = sub<V>(div<V>(syy, nv), mul<V>(cy, cy));
  const vzz = sub<V>(div<V>(szz, nv), mul<V>(cz, cz));
  const vxy = sub<V>(div<V>(sxy, nv), mul<V>(cx, cy));
  const vxz = sub<V>(div<V>(sxz, nv), mul<V>(cx, cz));
  const vyz = sub<V>(div<V>(syz, nv), mul<V>(cy, cz));
  put<V>(rows, offset, mm);
  put<V>(rows, offset + 1, sqrtv<V>(maxv<V>(sub<V>(div<V>(sm, nv), mul<V>(c, c)), zero)));
  put<V>(rows, offset + 2, sqrtv<V>(div<V>(sq, nv)));
  // An axis without variance has no correlation: reported as 0.
  const dxy = sqrtv<V>(mul<V>(vxx, vyy)), dxz = sqrtv<V>(mul<V>(vxx, vzz)), dyz = sqrtv<V>(mul<V>(vyy, vzz));
  put<V>(rows, offset + 3, selGt<V>(dxy, zero, div<V>(vxy, dxy), zero));
  put<V>(rows, offset + 4, selGt<V>(dxz, zero, div<V>(vxz, dxz), zero));
  put<V>(rows, offset + 5, selGt<V>(dyz, zero, div<V>(vyz, dyz), zero));
}
