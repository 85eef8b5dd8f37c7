// The feature extractor's shape and state: dimensions, feature layout offsets, per-sensor rings and
// filter state, job and output areas, all allocated here, once.
//
// Call protocol (dsp/src/extractor.ts drives it): create → add bands, groups, derived channels,
// filters → finalize; then per batch: the host writes entries (slot, count) and planar samples into
// the input area, calls ingest (ingest.ts, which files due windows as jobs), then compute over the
// jobs (batch.ts); rows of `width` f32 come out in the output area. No allocation after finalize
// except when the host grows the input.

import { FILTER_BANDPASS, FILTER_DCBLOCK, SECTION_COEFFS, designFilter } from './biquad';
import { ChannelPlan, GROUP_AXES, GROUP_BANDS, GROUP_CROSSINGS, GROUP_JERK, GROUP_MOMENTS, GROUP_ORDER, GROUP_SPECTRAL, GROUP_STATS } from './features';
import { buildFftTables } from './spectrum';

export const MAX_SECTIONS = 8;
export const MAX_BANDS = 32;
export const MAX_GROUPS = 8;
export const FLAG_INVALID = 1;

// Per-sensor state record.
export const S_TOTAL = 0; // i64 samples ingested
export const S_NEXT_END = 8; // i64 sample count at which the next window ends
export const S_LAST_BAD = 16; // i64 index of the last non-finite sample, -1 if none
export const S_GEN = 24; // i32 ingest call that last touched the slot
export const S_ADDED = 28; // i32 samples added in that call
export const STATE_BYTES = 32;

export class Extractor {
  channels: i32 = 0; // every channel features are computed for
  inChannels: i32 = 0; // channels in the input; the others are derived from one of them
  sources: usize = 0; // i32[channels]: the input channel each channel reads
  window: i32 = 0;
  hop: i32 = 0;
  fftSize: i32 = 0;
  sampleRate: f64 = 0;
  mask: i32 = 0;
  capacity: i32 = 0;
  maxChunk: i32 = 0;
  ringLen: i32 = 0;
  nBands: i32 = 0;
  nGroups: i32 = 0;
  perChannel: i32 = 0;
  width: i32 = 0;
  offAxes: i32 = 0;
  bandFreqs: usize = 0; // f64[MAX_BANDS * 2]
  groupCh: usize = 0; // i32[MAX_GROUPS * 3]
  coeffs: usize = 0; // f64[channels][MAX_SECTIONS][5]
  nSections: usize = 0; // i32[channels]
  skip: usize = 0; // i32[channels]: groups not computed for each channel (no column of theirs is read)
  state: usize = 0;
  rings: usize = 0;
  zstate: usize = 0;
  jobCap: i32 = 0;
  jobSlot: usize = 0; // i32[jobCap]
  jobRing: usize = 0; // i32[jobCap]
  jobStart: usize = 0; // f64[jobCap]
  jobFlags: usize = 0; // i32[jobCap]
  out: usize = 0; // f32[jobCap][width]
  inEntryCap: i32 = 0;
  inSampleCap: i32 = 0;
  inEntries: usize = 0; // i32[cap][2] slot, count
  inSamples: usize = 0; // f32, each entry planar channels x count
  gen: i32 = 0;
  plan: ChannelPlan = new ChannelPlan();
  work: usize = 0; // V[window] x 4: x, y, z, magnitude
  tmp: usize = 0; // f32[12][window]: de-ringed series
  rows: usize = 0; // usize[4]
  dummyRow: usize = 0; // f32[width]: where padding lanes write
  halfTags: usize = 0; // f64[capacity][channels]: stream index of the half held in halfCache, -1 if none
  halfCache: usize = 0; // f32[capacity][channels][window/2]: last sorted newer half of each series
  sortA: usize = 0; // V[window/2]
  sortB: usize = 0; // V[window/2]
  sortCache: bool = true;
  finalized: bool = false;
}

/** Creates an extractor; bands, groups and filters are added before `finalize`. Returns 0 on bad dimensions. */
export function create(channels: i32, window: i32, hop: i32, fftSize: i32, sampleRate: f64, mask: i32, capacity: i32, maxChunk: i32): Extractor | null {
  if (channels < 1 || channels > 64) return null;
  if (window < 32 || window > 2048 || popcnt(window) != 1) return null;
  if (hop < 1 || hop > window) return null;
  if (fftSize < 32 || fftSize > window || popcnt(fftSize) != 1) return null;
  if (!(sampleRate > 0) || !isFinite(sampleRate)) return null;
  if (capacity < 1 || maxChunk < 1) return null;
  const e = new Extractor();
  e.channels = channels;
  e.inChannels = channels;
  e.sources = heap.alloc(<usize>channels << 2);
  for (let c = 0; c < channels; c++) store<i32>(e.sources + (<usize>c << 2), c);
  e.window = window;
  e.hop = hop;
  e.fftSize = fftSize;
  e.sampleRate = sampleRate;
  e.mask = mask;
  e.capacity = capacity;
  e.maxChunk = maxChunk;
  e.bandFreqs = heap.alloc(MAX_BANDS * 16);
  e.groupCh = heap.alloc(MAX_GROUPS * 12);
  e.coeffs = heap.alloc(<usize>channels * MAX_SECTIONS * SECTION_COEFFS * 8);
  e.nSections = heap.alloc(<usize>channels << 2);
  memory.fill(e.nSections, 0, <usize>channels << 2);
  e.skip = heap.alloc(<usize>channels << 2);
  memory.fill(e.skip, 0, <usize>channels << 2);
  return e;
}

export function addBand(e: Extractor, lo: f64, hi: f64): i32 {
  if (e.finalized || e.nBands >= MAX_BANDS || !(lo >= 0) || !(hi > lo) || hi > e.sampleRate / 2) return -1;
  store<f64>(e.bandFreqs + (<usize>e.nBands << 4), lo);
  store<f64>(e.bandFreqs + (<usize>e.nBands << 4), hi, 8);
  return e.nBands++;
}

export function addGroup(e: Extractor, a: i32, b: i32, c: i32): i32 {
  if (e.finalized || e.nGroups >= MAX_GROUPS) return -1;
  if (a < 0 || b < 0 || c < 0 || a >= e.channels || b >= e.channels || c >= e.channels) return -1;
  const p = e.groupCh + <usize>e.nGroups * 12;
  store<i32>(p, a);
  store<i32>(p, b, 4);
  store<i32>(p, c, 8);
  return e.nGroups++;
}

/**
 * Makes channel `channel` a copy of input channel `input` (before its own filters). Derived channels
 * come last: the input then holds only the channels before the first derived one.
 */
export function deriveChannel(e: Extractor, channel: i32, input: i32): i32 {
  if (e.finalized || channel < 1 || channel >= e.channels || input < 0 || input >= channel) return -1;
  store<i32>(e.sources + (<usize>channel << 2), input);
  e.inChannels = min(e.inChannels, channel);
  return 0;
}

/**
 * Leaves the groups in `groups` (a mask of GROUP_*) out of channel `channel`'s computation: for a
 * host that reads none of their columns (a layout's `select`), whose cells then hold whatever the
 * output area held. The layout does not change. Returns -1 after finalize or for a bad channel.
 */
export function skipGroups(e: Extractor, channel: i32, groups: i32): i32 {
  if (e.finalized || channel < 0 || channel >= e.channels) return -1;
  store<i32>(e.skip + (<usize>channel << 2), groups);
  return 0;
}

/** Whether to keep each series' sorted newer half for the next window (faster median/IQR with 50% overlap, costs window/2 floats per series). */
export function setSortCache(e: Extractor, on: i32): void {
  if (!e.finalized) e.sortCache = on != 0;
}

/** Appends a filter to channel `channel`; returns its section count, or -1 if it does not fit. */
export function addFilter(e: Extractor, channel: i32, kind: i32, order: i32, f1: f64, f2: f64): i32 {
  if (e.finalized || channel < 0 || channel >= e.channels) return -1;
  if (kind < 1 || kind > FILTER_DCBLOCK) return -1;
  if (kind != FILTER_DCBLOCK && (order < 2 || order > 8 || (order & 1) != 0)) return -1;
  const nyquist = e.sampleRate / 2;
  if (!(f1 > 0) || !(f1 < nyquist)) return -1;
  if (kind == FILTER_BANDPASS && (!(f2 > f1) || !(f2 < nyquist))) return -1;
  const np = e.nSections + (<usize>channel << 2);
  const have = load<i32>(np);
  const needs = kind == FILTER_DCBLOCK ? 1 : kind == FILTER_BANDPASS ? order : order >> 1;
  if (have + needs > MAX_SECTIONS) return -1;
  const p = e.coeffs + (<usize>channel * MAX_SECTIONS + <usize>have) * SECTION_COEFFS * 8;
  const n = designFilter(p, kind, order, f1, f2, e.sampleRate);
  store<i32>(np, have + n);
  return n;
}

/** Lays out features and allocates state and work areas. Returns the feature width, or -1. */
export function finalize(e: Extractor): i32 {
  if (e.finalized) return e.width;
  for (let c = 0; c < e.channels; c++) {
    const s = load<i32>(e.sources + (<usize>c << 2));
    if (c < e.inChannels ? s != c : s >= e.inChannels) return -1;
  }
  const m = e.mask;
  let pc = 0;
  const p = e.plan;
  p.offStats = pc; if (m & GROUP_STATS) pc += 7;
  p.offOrder = pc; if (m & GROUP_ORDER) pc += 2;
  p.offMoments = pc; if (m & GROUP_MOMENTS) pc += 2;
  p.offCross = pc; if (m & GROUP_CROSSINGS) pc += 2;
  p.offJerk = pc; if (m & GROUP_JERK) pc += 1;
  p.offSpectral = pc; if (m & GROUP_SPECTRAL) pc += 7;
  p.offBands = pc; if (m & GROUP_BANDS) pc += e.nBands;
  e.perChannel = pc;
  e.offAxes = pc * e.channels;
  e.width = e.offAxes + (m & GROUP_AXES ? 6 * e.nGroups : 0);
  if (e.width == 0) return -1;

  const w = e.window;
  // Just long enough that no window filed in a call is overwritten before it is computed: the
  // window plus the most samples one call brings, less one (a multiple of 4 keeps rows aligned).
  e.ringLen = (w + e.maxChunk - 1 + 3) & ~3;
  e.state = heap.alloc(<usize>e.capacity * STATE_BYTES);
  for (let s = 0; s < e.capacity; s++) resetSlot(e, s);
  // Fresh memory from the stub allocator (which never reuses) is zero already; leaving it untouched
  // keeps idle slots out of the resident set.
  e.rings = heap.alloc(<usize>e.capacity * e.channels * e.ringLen * 4);
  // Filter state only where a channel has a filter: most configurations have none.
  let filtered = false;
  for (let c = 0; c < e.channels; c++) if (load<i32>(e.nSections + (<usize>c << 2)) > 0) filtered = true;
  e.zstate = filtered ? heap.alloc(<usize>e.capacity * e.channels * MAX_SECTIONS * 16) : 0;
  e.jobCap = e.capacity * ((e.maxChunk + e.hop - 1) / e.hop + 1);
  e.jobSlot = heap.alloc(<usize>e.jobCap << 2);
  e.jobRing = heap.alloc(<usize>e.jobCap << 2);
  e.jobStart = heap.alloc(<usize>e.jobCap << 3);
  e.jobFlags = heap.alloc(<usize>e.jobCap << 2);
  e.out = heap.alloc(<usize>e.jobCap * e.width * 4);

  p.n = w;
  p.mask = m;
  p.fs = <f32>e.sampleRate;
  p.nBands = m & GROUP_BANDS ? e.nBands : 0;
  const f = e.fftSize;
  const t = buildFftTables(f);
  p.fft = t;
  p.segStep = f == w ? w : f >> 1; // Welch 1967: 50% overlap when the window holds several frames
  p.segments = f == w ? 1 : (w - f) / p.segStep + 1;
  // One-sided density: |X|² / (fs Σw²), doubled except at DC and Nyquist, averaged over segments.
  const scale = 1.0 / (e.sampleRate * t.hannPower * <f64>p.segments);
  p.edgeScale = <f32>scale;
  p.midScale = <f32>(2 * scale);
  const df = e.sampleRate / <f64>f;
  p.binWidth = <f32>df;
  p.logBins = <f32>Math.log(<f64>t.half);
  p.bandLo = heap.alloc(MAX_BANDS * 4);
  p.bandHi = heap.alloc(MAX_BANDS * 4);
  for (let b = 0; b < e.nBands; b++) {
    // Bin k (frequency k·df) belongs to [lo, hi) when lo <= k·df < hi; the Nyquist bin closes the last band.
    const lo = load<f64>(e.bandFreqs + (<usize>b << 4));
    const hi = load<f64>(e.bandFreqs + (<usize>b << 4), 8);
    const k0 = <i32>Math.ceil(lo / df);
    let k1 = <i32>Math.ceil(hi / df) - 1;
    if (hi >= e.sampleRate / 2) k1 = t.half;
    store<i32>(p.bandLo + (<usize>b << 2), k0);
    store<i32>(p.bandHi + (<usize>b << 2), min(k1, t.half));
  }
  const lanesMax: usize = 16;
  p.re = heap.alloc(<usize>t.half * lanesMax);
  p.im = heap.alloc(<usize>t.half * lanesMax);
  p.power = heap.alloc(<usize>(t.half + 1) * lanesMax);
  e.work = heap.alloc(<usize>w * lanesMax * <usize>(e.channels + 1));
  e.tmp = heap.alloc(<usize>w * 4 * <usize>max(e.channels, 4));
  e.sortA = heap.alloc(<usize>(w >> 1) * lanesMax);
  e.sortB = heap.alloc(<usize>(w >> 1) * lanesMax);
  if (e.sortCache && (m & GROUP_ORDER) && e.hop * 2 == w) {
    // With 50% overlap a window's older half is the previous window's newer half: keep it sorted.
    e.halfTags = heap.alloc(<usize>e.capacity * e.channels * 8);
    e.halfCache = heap.alloc(<usize>e.capacity * e.channels * (<usize>(w >> 1) << 2));
    for (let i = 0; i < e.capacity * e.channels; i++) store<f64>(e.halfTags + (<usize>i << 3), -1);
  }
  e.rows = heap.alloc(16);
  e.dummyRow = heap.alloc(<usize>e.width << 2);
  e.finalized = true;
  return e.width;
}

function resetSlot(e: Extractor, slot: i32): void {
  const s = e.state + <usize>slot * STATE_BYTES;
  store<i64>(s + S_TOTAL, 0);
  store<i64>(s + S_NEXT_END, e.window);
  store<i64>(s + S_LAST_BAD, -1);
  store<i32>(s + S_GEN, -1);
  store<i32>(s + S_ADDED, 0);
}

/** Forgets a sensor: its ring, filter state and counters start again from zero. */
export function reset(e: Extractor, slot: i32): void {
  if (slot < 0 || slot >= e.capacity) return;
  resetSlot(e, slot);
  if (e.halfTags != 0) {
    for (let c = 0; c < e.channels; c++) store<f64>(e.halfTags + ((<usize>slot * e.channels + <usize>c) << 3), -1);
  }
  if (e.zstate != 0) memory.fill(e.zstate + <usize>slot * e.channels * MAX_SECTIONS * 16, 0, <usize>e.channels * MAX_SECTIONS * 16);
}

/** Samples a slot has taken in so far (f64, exact below 2^53). */
export function total(e: Extractor, slot: i32): f64 {
  return <f64>load<i64>(e.state + <usize>slot * STATE_BYTES + S_TOTAL);
}
