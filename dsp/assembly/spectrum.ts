// Welch power spectral density with a real FFT, generic over lanes (see lanes.ts).
//
// A real FFT of F points runs as a complex FFT of M = F/2 points on z[n] = x[2n] + i x[2n+1],
// followed by the even/odd split X[k] = E[k] + e^{-2πik/F} O[k] (Sorensen et al. 1987, "Real-valued
// fast Fourier transform algorithms"). The complex FFT is iterative radix-2, decimation in time,
// with the bit-reversed load fused with the Hann window (Harris 1978) and the DC removal.

import { add, ld, mul, splat, st, sub } from './lanes';

/** Tables for one FFT size, built once per extractor with this module's own cos/sin, so every host gets the same bits. */
export class FftTables {
  size: i32 = 0; // F, real points
  half: i32 = 0; // M = F/2, complex points
  hann: usize = 0; // f32[F], periodic Hann
  hannPower: f64 = 0; // sum of hann^2
  rev: usize = 0; // i32[M], bit reversal of log2(M) bits
  twr: usize = 0; // f32[M/2], cos(2πj/M)
  twi: usize = 0; // f32[M/2], -sin(2πj/M)
  spr: usize = 0; // f32[M+1], cos(2πk/F)
  spi: usize = 0; // f32[M+1], -sin(2πk/F)
}

export function buildFftTables(size: i32): FftTables {
  const t = new FftTables();
  const m = size >> 1;
  t.size = size;
  t.half = m;
  t.hann = heap.alloc(<usize>size << 2);
  t.rev = heap.alloc(<usize>m << 2);
  t.twr = heap.alloc(<usize>max(m >> 1, 1) << 2);
  t.twi = heap.alloc(<usize>max(m >> 1, 1) << 2);
  t.spr = heap.alloc(<usize>(m + 1) << 2);
  t.spi = heap.alloc(<usize>(m + 1) << 2);
  let power: f64 = 0;
  for (let n = 0; n < size; n++) {
    const w = <f32>(0.5 - 0.5 * Math.cos((2 * Math.PI * <f64>n) / <f64>size));
    store<f32>(t.hann + (<usize>n << 2), w);
    power += <f64>w * <f64>w;
  }
  t.hannPower = power;
  const bits = ctz(m);
  for (let n = 0; n < m; n++) {
    const r = bits == 0 ? 0 : <i32>(reverseBits32(<u32>n) >>> (32 - bits));
    store<i32>(t.rev + (<usize>n << 2), r);
  }
  for (let j = 0; j < m >> 1; j++) {
    const a = (2 * Math.PI * <f64>j) / <f64>m;
    store<f32>(t.twr + (<usize>j << 2), <f32>Math.cos(a));
    store<f32>(t.twi + (<usize>j << 2), <f32>-Math.sin(a));
  }
  for (let k = 0; k <= m; k++) {
    const a = (2 * Math.PI * <f64>k) / <f64>size;
    store<f32>(t.spr + (<usize>k << 2), <f32>Math.cos(a));
    store<f32>(t.spi + (<usize>k << 2), <f32>-Math.sin(a));
  }
  return t;
}

function reverseBits32(v: u32): u32 {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return (v >>> 16) | (v << 16);
}

/**
 * Adds the one-sided power of segment x[start .. start+F) (minus mean + meanLo, Hann-windowed) times
 * `edgeScale` (bins 0 and M) or `midScale` (bins 1..M-1) to power[0..M]. re and im hold M lanes each.
 */
export function addSegmentPower<V>(t: FftTables, x: usize, start: i32, mean: V, meanLo: V, re: usize, im: usize, power: usize, edgeScale: f32, midScale: f32): void {
  const m = t.half;
  // Bit-reversed load of z[n] = x[2n] + i x[2n+1], windowed, mean removed.
  for (let n = 0; n < m; n++) {
    const r = load<i32>(t.rev + (<usize>n << 2));
    const i0 = start + (n << 1);
    const w0 = splat<V>(load<f32>(t.hann + (<usize>(n << 1) << 2)));
    const w1 = splat<V>(load<f32>(t.hann + (<usize>((n << 1) + 1) << 2)));
    st<V>(re, r, mul<V>(sub<V>(sub<V>(ld<V>(x, i0), mean), meanLo), w0));
    st<V>(im, r, mul<V>(sub<V>(sub<V>(ld<V>(x, i0 + 1), mean), meanLo), w1));
  }
  // Stages 1 and 2 as one radix-4 pass: their twiddles are 1 and -i, so adds and subtracts only.
  for (let a = 0; a < m; a += 4) {
    const r0 = ld<V>(re, a), i0 = ld<V>(im, a), r1 = ld<V>(re, a + 1), i1 = ld<V>(im, a + 1);
    const r2 = ld<V>(re, a + 2), i2 = ld<V>(im, a + 2), r3 = ld<V>(re, a + 3), i3 = ld<V>(im, a + 3);
    const ar = add<V>(r0, r1), ai = add<V>(i0, i1), br = sub<V>(r0, r1), bi = sub<V>(i0, i1);
    const cr = add<V>(r2, r3), ci = add<V>(i2, i3), dr = sub<V>(r2, r3), di = sub<V>(i2, i3);
    st<V>(re, a, add<V>(ar, cr));
    st<V>(im, a, add<V>(ai, ci));
    st<V>(re, a + 2, sub<V>(ar, cr));
    st<V>(im, a + 2, sub<V>(ai, ci));
    // (dr + i di)(-i) = di - i dr
    st<V>(re, a + 1, add<V>(br, di));
    st<V>(im, a + 1, sub<V>(bi, dr));
    st<V>(re, a + 3, sub<V>(br, di));
    st<V>(im, a + 3, add<V>(bi, dr));
  }
  for (let half = 4; half < m; half <<= 1) {
    // j = 0: twiddle 1.
    for (let a = 0; a < m; a += half << 1) {
      const b = a + half;
      const ar = ld<V>(re, a), ai = ld<V>(im, a), br = ld<V>(re, b), bi = ld<V>(im, b);
      st<V>(re, b, sub<V>(ar, br));
      st<V>(im, b, sub<V>(ai, bi));
      st<V>(re, a, add<V>(ar, br));
      st<V>(im, a, add<V>(ai, bi));
    }
    const step = m / (half << 1);
    for (let j = 1; j < half; j++) {
      const wr = splat<V>(load<f32>(t.twr + (<usize>(j * step) << 2)));
      const wi = splat<V>(load<f32>(t.twi + (<usize>(j * step) << 2)));
      for (let a = j; a < m; a += half << 1) {
        const b = a + half;
        const br = ld<V>(re, b), bi = ld<V>(im, b);
        const tr = sub<V>(mul<V>(br, wr), mul<V>(bi, wi));
        const ti = add<V>(mul<V>(br, wi), mul<V>(bi, wr));
        const ar = ld<V>(re, a), ai = ld<V>(im, a);
        st<V>(re, b, sub<V>(ar, tr));
        st<V>(im, b, sub<V>(ai, ti));
        st<V>(re, a, add<V>(ar, tr));
        st<V>(im, a, add<V>(ai, ti));
      }
    }
  }
  // Even/odd split into the real spectrum, power only.
  const halfV = splat<V>(0.5);
  const edge = splat<V>(edgeScale);
  const mid = splat<V>(midScale);
  for (let k = 0; k <= m; k++) {
    const p = k == m ? 0 : k;
    const q = k == 0 ? 0 : m - k;
    const a = ld<V>(re, p), b = ld<V>(im, p), c = ld<V>(re, q), d = ld<V>(im, q);
    const er = mul<V>(add<V>(a, c), halfV);
    const ei = mul<V>(sub<V>(b, d), halfV);
    const or = mul<V>(add<V>(b, d), halfV);
    const oi = mul<V>(sub<V>(c, a), halfV);
    const wr = splat<V>(load<f32>(t.spr + (<usize>k << 2)));
    const wi = splat<V>(load<f32>(t.spi + (<usize>k << 2)));
    const xr = add<V>(er, sub<V>(mul<V>(wr, or), mul<V>(wi, oi)));
    const xi = add<V>(ei, add<V>(mul<V>(wr, oi), mul<V>(wi, or)));
    const pw = add<V>(mul<V>(xr, xr), mul<V>(xi, xi));
    st<V>(power, k, add<V>(ld<V>(power, k), mul<V>(pw, k == 0 || k == m ? edge : mid)));
  }
}
