// Order statistics for median and IQR: exact, with numpy's default "linear" interpolation between
// the two order statistics around position (n - 1) q (Hyndman & Fan 1996, definition 7).
//
// The window is sorted with a bitonic network (Batcher 1968): its compare-exchanges do not depend
// on the data, so there are no mispredicted branches and, in the SIMD build, four series sort at once.

import { ld, maxv, minv, st } from './lanes';

@inline function exchange<V>(a: usize, i: i32, j: i32): void {
  const x = ld<V>(a, i), y = ld<V>(a, j);
  st<V>(a, i, minv<V>(x, y));
  st<V>(a, j, maxv<V>(x, y));
}

/** Sorts each run of 8 with the 19-exchange network of Knuth, TAOCP vol. 3, 5.3.4 (depth 6), in registers. */
function sort8<V>(a: usize, n: i32): void {
  for (let b = 0; b < n; b += 8) {
    let x0 = ld<V>(a, b + 0); let x1 = ld<V>(a, b + 1); let x2 = ld<V>(a, b + 2); let x3 = ld<V>(a, b + 3); let x4 = ld<V>(a, b + 4); let x5 = ld<V>(a, b + 5); let x6 = ld<V>(a, b + 6); let x7 = ld<V>(a, b + 7);
    let t: V;
    t = minv<V>(x0, x2); x2 = maxv<V>(x0, x2); x0 = t;
    t = minv<V>(x1, x3); x3 = maxv<V>(x1, x3); x1 = t;
    t = minv<V>(x4, x6); x6 = maxv<V>(x4, x6); x4 = t;
    t = minv<V>(x5, x7); x7 = maxv<V>(x5, x7); x5 = t;
    t = minv<V>(x0, x4); x4 = maxv<V>(x0, x4); x0 = t;
    t = minv<V>(x1, x5); x5 = maxv<V>(x1, x5); x1 = t;
    t = minv<V>(x2, x6); x6 = maxv<V>(x2, x6); x2 = t;
    t = minv<V>(x3, x7); x7 = maxv<V>(x3, x7); x3 = t;
    t = minv<V>(x0, x1); x1 = maxv<V>(x0, x1); x0 = t;
    t = minv<V>(x2, x3); x3 = maxv<V>(x2, x3); x2 = t;
    t = minv<V>(x4, x5); x5 = maxv<V>(x4, x5); x4 = t;
    t = minv<V>(x6, x7); x7 = maxv<V>(x6, x7); x6 = t;
    t = minv<V>(x2, x4); x4 = maxv<V>(x2, x4); x2 = t;
    t = minv<V>(x3, x5); x5 = maxv<V>(x3, x5); x3 = t;
    t = minv<V>(x1, x4); x4 = maxv<V>(x1, x4); x1 = t;
    t = minv<V>(x3, x6); x6 = maxv<V>(x3, x6); x3 = t;
    t = minv<V>(x1, x2); x2 = maxv<V>(x1, x2); x1 = t;
    t = minv<V>(x3, x4); x4 = maxv<V>(x3, x4); x3 = t;
    t = minv<V>(x5, x6); x6 = maxv<V>(x5, x6); x5 = t;
    st<V>(a, b + 0, x0); st<V>(a, b + 1, x1); st<V>(a, b + 2, x2); st<V>(a, b + 3, x3); st<V>(a, b + 4, x4); st<V>(a, b + 5, x5); st<V>(a, b + 6, x6); st<V>(a, b + 7, x7);
  }
}

/** The last three half-cleaner stages (distance 4, 2, 1) of a bitonic merge on each run of 8, in registers. */
function halfClean8<V>(a: usize, n: i32): void {
  for (let b = 0; b < n; b += 8) {
    let x0 = ld<V>(a, b + 0); let x1 = ld<V>(a, b + 1); let x2 = ld<V>(a, b + 2); let x3 = ld<V>(a, b + 3); let x4 = ld<V>(a, b + 4); let x5 = ld<V>(a, b + 5); let x6 = ld<V>(a, b + 6); let x7 = ld<V>(a, b + 7);
    let t: V;
    t = minv<V>(x0, x4); x4 = maxv<V>(x0, x4); x0 = t;
    t = minv<V>(x1, x5); x5 = maxv<V>(x1, x5); x1 = t;
    t = minv<V>(x2, x6); x6 = maxv<V>(x2, x6); x2 = t;
    t = minv<V>(x3, x7); x7 = maxv<V>(x3, x7); x3 = t;
    t = minv<V>(x0, x2); x2 = maxv<V>(x0, x2); x0 = t;
    t = minv<V>(x1, x3); x3 = maxv<V>(x1, x3); x1 = t;
    t = minv<V>(x4, x6); x6 = maxv<V>(x4, x6); x4 = t;
    t = minv<V>(x5, x7); x7 = maxv<V>(x5, x7); x5 = t;
    t = minv<V>(x0, x1); x1 = maxv<V>(x0, x1); x0 = t;
    t = minv<V>(x2, x3); x3 = maxv<V>(x2, x3); x2 = t;
    t = minv<V>(x4, x5); x5 = maxv<V>(x4, x5); x4 = t;
    t = minv<V>(x6, x7); x7 = maxv<V>(x6, x7); x6 = t;
    st<V>(a, b + 0, x0); st<V>(a, b + 1, x1); st<V>(a, b + 2, x2); st<V>(a, b + 3, x3); st<V>(a, b + 4, x4); st<V>(a, b + 5, x5); st<V>(a, b + 6, x6); st<V>(a, b + 7, x7);
  }
}

/**
 * Sorts a[0..n) ascending, per lane; n a power of two, at least 8. Runs of 8 are sorted in
 * registers, then merged. Every exchange puts the smaller value at the lower index: each merge
 * starts by comparing mirrored pairs (i, end - i), which turns two ascending runs into a bitonic
 * sequence without descending runs, then half-cleans, the last three distances in registers.
 */
export function bitonicSort<V>(a: usize, n: i32): void {
  sort8<V>(a, n);
  for (let k = 16; k <= n; k <<= 1) {
    for (let b = 0; b < n; b += k) {
      for (let t = 0; t < k >> 1; t++) exchange<V>(a, b + t, b + k - 1 - t);
    }
    for (let j = k >> 2; j >= 8; j >>= 1) {
      for (let b = 0; b < n; b += j << 1) {
        for (let i = b; i < b + j; i++) exchange<V>(a, i, i + j);
      }
    }
    halfClean8<V>(a, n);
  }
}

/** Element i of lane l of a V array at p. */
@inline function at<V>(p: usize, i: i32, l: i32): f32 {
  return load<f32>(p + <usize>i * sizeof<V>() + (<usize>l << 2));
}

/** The k-th smallest (from 0) of the union of sorted a[0..m) and b[0..m), lane l, by bisection on how many come from a. */
function kthOfTwo<V>(a: usize, b: usize, m: i32, k: i32, l: i32): f32 {
  let lo = max(0, k + 1 - m);
  let hi = min(k + 1, m);
  while (lo < hi) {
    const i = (lo + hi) >> 1;
    if (at<V>(a, i, l) < at<V>(b, k - i, l)) lo = i + 1;
    else hi = i;
  }
  const j = k + 1 - lo;
  const fromA = lo > 0 ? at<V>(a, lo - 1, l) : -Infinity;
  const fromB = j > 0 ? at<V>(b, j - 1, l) : -Infinity;
  return max(fromA, fromB);
}

/** The q-quantile, lane l, of the 2m values held as two sorted halves a and b. */
export function quantileOfHalves<V>(a: usize, b: usize, m: i32, q: f64, l: i32): f32 {
  const pos = <f64>(2 * m - 1) * q;
  const k = <i32>pos;
  const lo = kthOfTwo<V>(a, b, m, k, l);
  const hi = kthOfTwo<V>(a, b, m, k + 1, l);
  return lo + (hi - lo) * <f32>(pos - <f64>k);
}
