// edgewave DSP kernels: the one .wasm that edge, cloud and browser all run, built twice from these
// sources (SIMD and scalar, chosen by the loader) with the same results to the bit.
//
// Memory contract: everything is allocated when an extractor is created or its input area grows;
// the per-batch calls (ingest, compute) never allocate. The host reads addresses with `describe`
// after any call that may allocate, since growing memory detaches its views.

import { Extractor } from './extractor';
import { fileWindows } from './ingest';
import { computeJobs } from './batch';

export { create, addBand, addGroup, deriveChannel, addFilter, skipGroups, setSortCache, finalize, reset, total } from './extractor';
export { reserveInput, ingest } from './ingest';
export { rowStats, ROW_STATS_WIDTH } from './row-stats';

/** 1 in the SIMD build, 0 in the scalar build. */
export function simd(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}

/** Features for jobs [first, first + count) filed by ingest, into output rows 0..count-1. */
export function compute(e: Extractor, first: i32, count: i32): void {
  if (ASC_FEATURE_SIMD) computeJobs<v128>(e, 0, first, count);
  else computeJobs<f32>(e, 0, first, count);
}

/** Features for `count` contiguous windows (channels x window f32 each) at `windows`; returns count or a negative error. */
export function computeWindows(e: Extractor, windows: usize, count: i32): i32 {
  const filed = fileWindows(e, windows, count);
  if (filed < 0) return filed;
  if (ASC_FEATURE_SIMD) computeJobs<v128>(e, windows, 0, count);
  else computeJobs<f32>(e, windows, 0, count);
  return count;
}

const INFO = memory.data(64);

/** Addresses and sizes the host needs, as i32[16] at the returned address. */
export function describe(e: Extractor): usize {
  store<i32>(INFO, e.width);
  store<i32>(INFO, e.perChannel, 4);
  store<i32>(INFO, e.offAxes, 8);
  store<i32>(INFO, e.jobCap, 12);
  store<i32>(INFO, e.ringLen, 16);
  store<i32>(INFO, <i32>e.out, 20);
  store<i32>(INFO, <i32>e.jobSlot, 24);
  store<i32>(INFO, <i32>e.jobStart, 28);
  store<i32>(INFO, <i32>e.jobFlags, 32);
  store<i32>(INFO, <i32>e.inEntries, 36);
  store<i32>(INFO, <i32>e.inSamples, 40);
  store<i32>(INFO, e.inEntryCap, 44);
  store<i32>(INFO, e.inSampleCap, 48);
  store<i32>(INFO, e.nBands, 52);
  store<i32>(INFO, e.nGroups, 56);
  store<i32>(INFO, e.maxChunk, 60);
  return INFO;
}

let scratchAt: usize = 0;
let scratchSize: usize = 0;

/** A reusable region of at least `bytes` bytes for one-off kernels such as rowStats; 0 if memory cannot grow. */
export function scratch(bytes: i32): usize {
  if (<usize>bytes > scratchSize) {
    scratchSize = max(<usize>bytes, scratchSize << 1);
    scratchAt = heap.alloc(scratchSize);
  }
  return scratchAt;
}

/** Replaces the host `abort` import (asconfig "use"): an allocation too large traps like running out of memory. */
export function trap(message: usize, file: usize, line: u32, column: u32): void {
  unreachable();
}
