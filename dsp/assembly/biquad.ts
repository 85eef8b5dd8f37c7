// Streaming IIR filters: cascades of second-order sections in transposed direct form II, f64
// coefficients and state, so a 0.3 Hz low-pass at 1 kHz keeps its poles. Coefficients follow the
// Audio EQ Cookbook (R. Bristow-Johnson) with Butterworth section Qs, computed here so every host
// gets the same bits.

export const FILTER_LOWPASS = 1;
export const FILTER_HIGHPASS = 2;
export const FILTER_BANDPASS = 3;
export const FILTER_DCBLOCK = 4;

/** Coefficient record per section: b0 b1 b2 a1 a2 (a0 normalized to 1). */
export const SECTION_COEFFS = 5;

/** Writes one section's coefficients at p. */
function cookbook(p: usize, highpass: bool, fc: f64, fs: f64, q: f64): void {
  const w0 = (2 * Math.PI * fc) / fs;
  const cw = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * q);
  const a0 = 1 + alpha;
  const b1 = highpass ? -(1 + cw) : 1 - cw;
  const b0 = highpass ? (1 + cw) / 2 : (1 - cw) / 2;
  store<f64>(p, b0 / a0);
  store<f64>(p, b1 / a0, 8);
  store<f64>(p, b0 / a0, 16);
  store<f64>(p, (-2 * cw) / a0, 24);
  store<f64>(p, (1 - alpha) / a0, 32);
}

/**
 * Writes the sections of one filter at p and returns how many: order/2 for low- and high-pass,
 * order for band-pass (a high-pass at f1 then a low-pass at f2), 1 for the DC blocker.
 */
export function designFilter(p: usize, kind: i32, order: i32, f1: f64, f2: f64, fs: f64): i32 {
  if (kind == FILTER_DCBLOCK) {
    // y[n] = x[n] - x[n-1] + R y[n-1], pole at R = exp(-2π fc / fs)
    const r = Math.exp((-2 * Math.PI * f1) / fs);
    store<f64>(p, 1);
    store<f64>(p, -1, 8);
    store<f64>(p, 0, 16);
    store<f64>(p, -r, 24);
    store<f64>(p, 0, 32);
    return 1;
  }
  const pairs = order >> 1;
  let n = 0;
  for (let pass = 0; pass < 2; pass++) {
    const high = pass == 0;
    if (kind == FILTER_LOWPASS && high) continue;
    if (kind == FILTER_HIGHPASS && !high) continue;
    const fc = kind == FILTER_BANDPASS && !high ? f2 : f1;
    for (let k = 1; k <= pairs; k++) {
      // Butterworth: section k of an order-2·pairs filter has Q = 1 / (2 sin((2k-1)π / (4·pairs)))
      const q = 1 / (2 * Math.sin(((2 * <f64>k - 1) * Math.PI) / (4 * <f64>pairs)));
      cookbook(p + <usize>n * SECTION_COEFFS * 8, high, fc, fs, q);
      n++;
    }
  }
  return n;
}

/** Runs x through `sections` sections (coefficients at c, state z1 z2 per section at z). */
@inline export function filterSample(c: usize, z: usize, sections: i32, x: f64): f64 {
  for (let s = 0; s < sections; s++) {
    const cp = c + <usize>s * SECTION_COEFFS * 8;
    const zp = z + (<usize>s << 4);
    const z1 = load<f64>(zp), z2 = load<f64>(zp, 8);
    const y = load<f64>(cp) * x + z1;
    store<f64>(zp, load<f64>(cp, 8) * x - load<f64>(cp, 24) * y + z2);
    store<f64>(zp, load<f64>(cp, 16) * x - load<f64>(cp, 32) * y, 8);
    x = y;
  }
  return x;
}
