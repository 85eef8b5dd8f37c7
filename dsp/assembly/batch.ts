// The batch loop: features for many windows in one call. Jobs go four at a time (one per lane in the
// SIMD build); for each channel the four windows are gathered side by side into V arrays, which
// stay in place for the 3-axis group features that follow.

import { Extractor, FLAG_INVALID } from './extractor';
import { GROUP_AXES, GROUP_ORDER, axesFeatures, channelFeatures, meanOf } from './features';
import { st } from './lanes';
import { orderFeatures } from './order';

/** Job of each lane in the current group (i32[4]). */
export const LANE_JOB = memory.data(16);
/** Output row pointer of each lane (usize[4]). */
const ROWS = memory.data(16);
/** Gathered V array of each channel for the current group (usize[64]). */
const SERIES = memory.data(256);
/** Mean and its low part (meanOf) of each channel for the current group (V[64][2]). */
const MEANS = memory.data(2048, 16);
/** Means of one 3-axis group, gathered for axesFeatures (V[8]). */
const AXIS_MEANS = memory.data(128, 16);

/** Series `ch` of job j as contiguous f32: the window itself, in place in its ring, or copied to tmp where the ring wraps. */
function seriesPtr(e: Extractor, windows: usize, job: i32, ch: i32, tmp: usize): usize {
  const w = e.window;
  if (windows != 0) return windows + ((<usize>job * e.inChannels + <usize>load<i32>(e.sources + (<usize>ch << 2))) * <usize>w << 2);
  const slot = load<i32>(e.jobSlot + (<usize>job << 2));
  const start = load<i32>(e.jobRing + (<usize>job << 2));
  const ring = e.rings + (<usize>slot * e.channels + <usize>ch) * (<usize>e.ringLen << 2);
  if (start + w <= e.ringLen) return ring + (<usize>start << 2);
  const first = e.ringLen - start;
  memory.copy(tmp, ring + (<usize>start << 2), <usize>first << 2);
  memory.copy(tmp + (<usize>first << 2), ring, <usize>(w - first) << 2);
  return tmp;
}

/** 4x4 transposes: four f32 series (n a multiple of 4) into one array of f32x4 lanes at dst. */
export function interleave4(dst: usize, a: usize, b: usize, c: usize, d: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const va = v128.load(a + o), vb = v128.load(b + o), vc = v128.load(c + o), vd = v128.load(d + o);
    const t0 = v128.shuffle<f32>(va, vb, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(va, vb, 2, 6, 3, 7);
    const t2 = v128.shuffle<f32>(vc, vd, 0, 4, 1, 5);
    const t3 = v128.shuffle<f32>(vc, vd, 2, 6, 3, 7);
    const q = dst + (<usize>i << 4);
    v128.store(q, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
    v128.store(q, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
    v128.store(q, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
    v128.store(q, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
  }
}

/** The inverse of interleave4: lanes of src back into four f32 series. */
export function deinterleave4(src: usize, a: usize, b: usize, c: usize, d: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const q = src + (<usize>i << 4);
    const v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32), v3 = v128.load(q, 48);
    const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
    const t2 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
    const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
    const o = <usize>i << 2;
    v128.store(a + o, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
    v128.store(b + o, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
    v128.store(c + o, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
    v128.store(d + o, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
  }
}

/** Channel `ch` of the group's jobs as a V array: interleaved at dst (SIMD), or one contiguous series (scalar). */
function gather<V>(e: Extractor, windows: usize, ch: i32, dst: usize): usize {
  const span = <usize>e.window << 2;
  if (isVector<V>()) {
    const a = seriesPtr(e, windows, load<i32>(LANE_JOB), ch, e.tmp);
    const b = seriesPtr(e, windows, load<i32>(LANE_JOB, 4), ch, e.tmp + span);
    const c = seriesPtr(e, windows, load<i32>(LANE_JOB, 8), ch, e.tmp + 2 * span);
    const d = seriesPtr(e, windows, load<i32>(LANE_JOB, 12), ch, e.tmp + 3 * span);
    interleave4(dst, a, b, c, d, e.window);
    return dst;
  }
  return seriesPtr(e, windows, load<i32>(LANE_JOB), ch, e.tmp + <usize>ch * span);
}

/**
 * Computes features for jobs [first, first + count) into output rows 0..count-1. `windows` is 0 for
 * jobs filed by ingest, or the address of count contiguous windows (channels x window each).
 */
export function computeJobs<V>(e: Extractor, windows: usize, first: i32, count: i32): void {
  const L = <i32>(sizeof<V>() >> 2);
  const width = e.width;
  const vbytes = <usize>e.window * sizeof<V>();
  for (let g = 0; g < count; g += L) {
    // Lanes past the last job repeat it and write to a dummy row.
    for (let l = 0; l < L; l++) store<i32>(LANE_JOB + (<usize>l << 2), first + min(g + l, count - 1));
    for (let ch = 0; ch < e.channels; ch++) {
      for (let l = 0; l < L; l++) {
        const row = g + l < count ? e.out + ((<usize>(g + l) * width + <usize>ch * e.perChannel) << 2) : e.dummyRow;
        store<usize>(ROWS + (<usize>l << 2), row);
      }
      const x = gather<V>(e, windows, ch, e.work + <usize>ch * vbytes);
      store<usize>(SERIES + (<usize>ch << 2), x);
      const at = MEANS + (<usize>ch << 5);
      const mean = meanOf<V>(x, e.window, at + 16);
      store<V>(at, mean);
      const mask = e.mask & ~load<i32>(e.skip + (<usize>ch << 2));
      e.plan.mask = mask;
      channelFeatures<V>(e.plan, x, mean, load<V>(at + 16), ROWS);
      if (mask & GROUP_ORDER) orderFeatures<V>(e, x, ch, ROWS, windows == 0);
    }
    if ((e.mask & GROUP_AXES) && e.nGroups > 0) {
      for (let l = 0; l < L; l++) {
        store<usize>(ROWS + (<usize>l << 2), g + l < count ? e.out + ((<usize>(g + l) * width) << 2) : e.dummyRow);
      }
      for (let grp = 0; grp < e.nGroups; grp++) {
        const chs = e.groupCh + <usize>grp * 12;
        const x = load<usize>(SERIES + (<usize>load<i32>(chs) << 2));
        const y = load<usize>(SERIES + (<usize>load<i32>(chs, 4) << 2));
        const z = load<usize>(SERIES + (<usize>load<i32>(chs, 8) << 2));
        for (let axis = 0; axis < 3; axis++) {
          const at = MEANS + (<usize>load<i32>(chs + (<usize>axis << 2)) << 5);
          st<V>(AXIS_MEANS, 2 * axis, load<V>(at));
          st<V>(AXIS_MEANS, 2 * axis + 1, load<V>(at + 16));
        }
        axesFeatures<V>(e.window, x, y, z, AXIS_MEANS, e.work + <usize>e.channels * vbytes, ROWS, e.offAxes + grp * 6);
      }
    }
  }
  // Windows with a non-finite sample are excluded: their rows are NaN.
  for (let j = 0; j < count; j++) {
    if (load<i32>(e.jobFlags + (<usize>(first + j) << 2)) & FLAG_INVALID) {
      const row = e.out + ((<usize>j * width) << 2);
      for (let f = 0; f < width; f++) store<f32>(row + (<usize>f << 2), NaN);
    }
  }
}
