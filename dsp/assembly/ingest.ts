// Taking samples in: the per-batch streaming step. Entries of new samples go through each channel's
// filters into the sensors' rings, and every window that completes is filed as a job for the batch
// loop (batch.ts). Also the same filing for independent windows given back to back.

import { SECTION_COEFFS, filterSample } from './biquad';
import { Extractor, FLAG_INVALID, MAX_SECTIONS, S_ADDED, S_GEN, S_LAST_BAD, S_NEXT_END, S_TOTAL, STATE_BYTES } from './extractor';

/** Makes room for `entries` entries and `samples` f32 in the input area. Returns 0 if memory cannot grow. */
export function reserveInput(e: Extractor, entries: i32, samples: i32): i32 {
  if (entries > e.inEntryCap) {
    const cap = max(entries, e.inEntryCap << 1);
    e.inEntries = heap.alloc(<usize>cap << 3);
    e.inEntryCap = cap;
  }
  if (samples > e.inSampleCap) {
    const cap = max(samples, e.inSampleCap << 1);
    e.inSamples = heap.alloc(<usize>cap << 2);
    e.inSampleCap = cap;
  }
  return 1;
}

/** Error results of ingest. */
export const ERR_SLOT = -1;
export const ERR_CHUNK = -2;
export const ERR_JOBS = -3;

/**
 * Takes in `entries` entries from the input area: runs filters, fills rings and files every window
 * that ends inside the new samples as a job. Returns the number of jobs, or a negative ERR_* with
 * nothing taken in when an entry names a bad slot or a slot gets more than maxChunk samples.
 */
export function ingest(e: Extractor, entries: i32): i32 {
  const gen = ++e.gen;
  // Check first, so that a bad call changes nothing.
  for (let i = 0; i < entries; i++) {
    const slot = load<i32>(e.inEntries + (<usize>i << 3));
    const count = load<i32>(e.inEntries + (<usize>i << 3), 4);
    if (slot < 0 || slot >= e.capacity || count < 0) return ERR_SLOT;
    const st = e.state + <usize>slot * STATE_BYTES;
    const added = (load<i32>(st + S_GEN) == gen ? load<i32>(st + S_ADDED) : 0) + count;
    if (added > e.maxChunk) return ERR_CHUNK;
    store<i32>(st + S_GEN, gen);
    store<i32>(st + S_ADDED, added);
  }
  const c = e.channels;
  const w = <i64>e.window;
  const ringLen = e.ringLen;
  let jobs = 0;
  let src = e.inSamples;
  for (let i = 0; i < entries; i++) {
    const slot = load<i32>(e.inEntries + (<usize>i << 3));
    const count = load<i32>(e.inEntries + (<usize>i << 3), 4);
    const st = e.state + <usize>slot * STATE_BYTES;
    let done = 0;
    while (done < count) {
      const have = load<i64>(st + S_TOTAL);
      const nextEnd = load<i64>(st + S_NEXT_END);
      // Take samples up to the next window end, so the bad-sample mark is exact for that window.
      const take = <i32>min<i64>(<i64>(count - done), nextEnd - have);
      let lastBad = load<i64>(st + S_LAST_BAD);
      for (let ch = 0; ch < c; ch++) {
        const ring = e.rings + (<usize>slot * c + <usize>ch) * (<usize>e.ringLen << 2);
        const sections = load<i32>(e.nSections + (<usize>ch << 2));
        const coeffs = e.coeffs + <usize>ch * MAX_SECTIONS * SECTION_COEFFS * 8;
        const z = e.zstate + (<usize>slot * c + <usize>ch) * MAX_SECTIONS * 16;
        const inp = src + (<usize>load<i32>(e.sources + (<usize>ch << 2)) * <usize>count + <usize>done) * 4;
        const pos = <i32>(have % <i64>ringLen);
        if (sections == 0) {
          // Straight copy into the ring (two runs at the wrap), then one pass to catch non-finite samples.
          const first = min(take, e.ringLen - pos);
          memory.copy(ring + (<usize>pos << 2), inp, <usize>first << 2);
          if (first < take) memory.copy(ring, inp + (<usize>first << 2), <usize>(take - first) << 2);
          if (!allFinite(inp, take)) lastBad = markBad(ring, ringLen, pos, inp, take, have, lastBad);
        } else {
          let at = pos;
          for (let k = 0; k < take; k++) {
            let v = load<f32>(inp + (<usize>k << 2));
            if (!isFinite(v)) {
              // Bad samples go to the ring as NaN and never into the filter state.
              lastBad = max(lastBad, have + k);
              v = NaN;
            } else {
              v = <f32>filterSample(coeffs, z, sections, <f64>v);
            }
            store<f32>(ring + (<usize>at << 2), v);
            if (++at == ringLen) at = 0;
          }
        }
      }
      store<i64>(st + S_LAST_BAD, lastBad);
      const now = have + take;
      store<i64>(st + S_TOTAL, now);
      done += take;
      if (now == nextEnd) {
        if (jobs >= e.jobCap) return ERR_JOBS; // cannot happen with jobCap from finalize
        const start = nextEnd - w;
        store<i32>(e.jobSlot + (<usize>jobs << 2), slot);
        store<i32>(e.jobRing + (<usize>jobs << 2), <i32>(start % <i64>ringLen));
        store<f64>(e.jobStart + (<usize>jobs << 3), <f64>start);
        store<i32>(e.jobFlags + (<usize>jobs << 2), lastBad >= start ? FLAG_INVALID : 0);
        jobs++;
        store<i64>(st + S_NEXT_END, nextEnd + <i64>e.hop);
      }
    }
    src += <usize>e.inChannels * <usize>count * 4;
  }
  return jobs;
}

/** True when every f32 of p[0..n) is finite: x·0 is 0 for finite x and NaN otherwise. */
function allFinite(p: usize, n: i32): bool {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(p + (<usize>i << 2)), f32x4.splat(0)));
    if (!i32x4.all_true(f32x4.eq(acc, acc))) return false;
  }
  let acc: f32 = 0;
  for (; i < n; i++) acc += load<f32>(p + (<usize>i << 2)) * 0;
  return acc == acc;
}

/** Writes NaN for each non-finite input sample into the ring and returns the new last bad index. */
function markBad(ring: usize, ringLen: i32, pos: i32, inp: usize, n: i32, have: i64, lastBad: i64): i64 {
  for (let k = 0; k < n; k++) {
    if (!isFinite(load<f32>(inp + (<usize>k << 2)))) {
      store<f32>(ring + (<usize>((pos + k) % ringLen) << 2), NaN);
      lastBad = max(lastBad, have + <i64>k);
    }
  }
  return lastBad;
}

/** Flags contiguous windows that hold a non-finite sample and files them as jobs 0..count-1. */
export function fileWindows(e: Extractor, windows: usize, count: i32): i32 {
  if (count > e.jobCap) return ERR_JOBS;
  const per = <usize>e.inChannels * <usize>e.window;
  for (let j = 0; j < count; j++) {
    const p = windows + ((<usize>j * per) << 2);
    let bad = false;
    for (let i: usize = 0; i < per; i++) {
      const v = load<f32>(p + (i << 2));
      if (!isFinite(v)) { bad = true; break; }
    }
    store<i32>(e.jobSlot + (<usize>j << 2), -1);
    store<i32>(e.jobRing + (<usize>j << 2), 0);
    store<f64>(e.jobStart + (<usize>j << 3), <f64>j);
    store<i32>(e.jobFlags + (<usize>j << 2), bad ? FLAG_INVALID : 0);
  }
  return count;
}
