// Median and IQR of the group's windows. Each window is two halves, each sorted (bitonicSort), and
// the quartiles are read from the pair; with 50% overlap the older half was the previous window's
// newer half, so it comes sorted from the per-series cache and only the newer half is sorted.

import { LANE_JOB, deinterleave4, interleave4 } from './batch';
import { Extractor } from './extractor';
import { bitonicSort, quantileOfHalves } from './quantile';

@inline function cacheOf(e: Extractor, job: i32, ch: i32): usize {
  const slot = load<i32>(e.jobSlot + (<usize>job << 2));
  return e.halfCache + (<usize>slot * e.channels + <usize>ch) * (<usize>(e.window >> 1) << 2);
}

@inline function tagOf(e: Extractor, job: i32, ch: i32): usize {
  const slot = load<i32>(e.jobSlot + (<usize>job << 2));
  return e.halfTags + ((<usize>slot * e.channels + <usize>ch) << 3);
}

@inline function laneJob(l: i32): i32 {
  return load<i32>(LANE_JOB + (<usize>l << 2));
}

export function orderFeatures<V>(e: Extractor, x: usize, ch: i32, rows: usize, fromRings: bool): void {
  const L = <i32>(sizeof<V>() >> 2);
  const h = e.window >> 1;
  const half = <usize>h * sizeof<V>();
  const useCache = fromRings && e.halfCache != 0;
  let cached = useCache;
  if (useCache) {
    for (let l = 0; l < L; l++) {
      const j = laneJob(l);
      if (load<f64>(tagOf(e, j, ch)) != load<f64>(e.jobStart + (<usize>j << 3))) cached = false;
    }
  }
  let a = e.sortA;
  if (cached) {
    if (isVector<V>()) interleave4(a, cacheOf(e, laneJob(0), ch), cacheOf(e, laneJob(1), ch), cacheOf(e, laneJob(2), ch), cacheOf(e, laneJob(3), ch), h);
    else a = cacheOf(e, laneJob(0), ch);
  } else {
    memory.copy(a, x, half);
    bitonicSort<V>(a, h);
  }
  const b = e.sortB;
  memory.copy(b, x + half, half);
  bitonicSort<V>(b, h);
  const off = <usize>e.plan.offOrder << 2;
  for (let l = 0; l < L; l++) {
    const q1 = quantileOfHalves<V>(a, b, h, 0.25, l);
    const q2 = quantileOfHalves<V>(a, b, h, 0.5, l);
    const q3 = quantileOfHalves<V>(a, b, h, 0.75, l);
    const row = load<usize>(rows + (<usize>l << 2));
    store<f32>(row + off, q2);
    store<f32>(row + off + 4, q3 - q1);
  }
  if (useCache) {
    // Lanes in job order, so when two windows of one series share the group the later one stays.
    if (isVector<V>()) deinterleave4(b, cacheOf(e, laneJob(0), ch), cacheOf(e, laneJob(1), ch), cacheOf(e, laneJob(2), ch), cacheOf(e, laneJob(3), ch), h);
    else memory.copy(cacheOf(e, laneJob(0), ch), b, half);
    for (let l = 0; l < L; l++) {
      const j = laneJob(l);
      store<f64>(tagOf(e, j, ch), load<f64>(e.jobStart + (<usize>j << 3)) + <f64>h);
    }
  }
}
