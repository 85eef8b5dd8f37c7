// The feature extractor: per-sensor streaming windows over dsp.wasm. Samples of many sensors go in
// with one call (copied once, or written straight into WebAssembly memory with `write`), and every
// window that completes comes back as a row of the layout, for all sensors at once.

import { FEATURE_GROUPS, featureChannels, parseFeatureConfig, type FeatureConfig, type FeatureConfigInput } from './config.js';
import { DspError } from './errors.js';
import { featureLayout, type FeatureLayout } from './layout.js';
import { loadDsp, type DspExports, type DspModule } from './loader.js';

/** Window flag: the window held a NaN or infinite sample; its row is NaN and must not be used. */
export const WINDOW_INVALID = 1;

const FILTER_KIND = { lowpass: 1, highpass: 2, bandpass: 3, dcblock: 4 } as const;

export interface SamplesEntry {
  slot: number;
  /** Planar: channel c's samples at [c * n, (c + 1) * n). */
  samples: Float32Array;
}

export interface WriteEntry {
  slot: number;
  count: number;
}

/** The windows one call completed, in the order their sensors' samples were given. */
export interface FeatureWindows {
  readonly count: number;
  readonly width: number;
  /** count x width; a view into WebAssembly memory, valid until the extractor's next call. */
  readonly features: Float32Array;
  readonly slots: Int32Array;
  /** Index of each window's first sample in its sensor's stream (0 for the first sample pushed). */
  readonly starts: Float64Array;
  /** WINDOW_INVALID when the window held a non-finite sample. */
  readonly flags: Int32Array;
}

interface Info {
  width: number;
  jobCap: number;
  out: number;
  jobSlot: number;
  jobStart: number;
  jobFlags: number;
  inEntries: number;
  inSamples: number;
  inEntryCap: number;
  inSampleCap: number;
  maxChunk: number;
}

export class FeatureExtractor {
  readonly config: FeatureConfig;
  readonly layout: FeatureLayout;
  readonly width: number;
  /** Features per window the kernels compute (before `select`). */
  readonly kernelWidth: number;
  private readonly projected: boolean;
  readonly capacity: number;
  readonly simd: boolean;
  private readonly x: DspExports;
  private readonly handle: number;
  private info!: Info;
  private readonly slotById = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private pending: number | undefined;
  private generation = 0;
  private readonly stamp: Int32Array;
  private readonly added: Int32Array;

  /** Validates the config (EW_CONFIG_INVALID) and builds the extractor's state in the module's memory. */
  constructor(dsp: DspModule, input: FeatureConfigInput | FeatureConfig) {
    const config = parseFeatureConfig(input);
    const bytes = estimateBytes(config);
    if (bytes > MAX_BYTES) {
      throw new DspError('EW_DSP_MEMORY', `an extractor for ${config.capacity} sensors x ${config.channels.length} channels with window ${config.window} needs about ${(bytes / 2 ** 20).toFixed(0)} MiB of WebAssembly memory (at most ${MAX_BYTES / 2 ** 20} MiB): lower capacity, window or maxChunk, or use several extractors`);
    }
    this.config = config;
    this.layout = featureLayout(config);
    this.capacity = config.capacity;
    this.stamp = new Int32Array(config.capacity);
    this.added = new Int32Array(config.capacity);
    this.simd = dsp.simd;
    // An instance of its own: its memory goes with the extractor, and no other extractor's growth detaches its views.
    const x = (this.x = dsp.instantiate());
    const names = featureChannels(config).map((c) => c.name);
    let mask = 0;
    for (const g of config.features) mask |= 1 << FEATURE_GROUPS.indexOf(g);
    const h = this.guard('create', () => x.create(names.length, config.window, config.hop, config.fftSize, config.sampleRate, mask, config.capacity, config.maxChunk));
    if (h === 0) throw new DspError('EW_DSP_SHAPE', `the kernels refused the dimensions (channels ${names.length}, window ${config.window}, hop ${config.hop}, fftSize ${config.fftSize})`);
    this.handle = h;
    featureChannels(config).forEach((s, ch) => {
      if (ch >= config.channels.length && x.deriveChannel(h, ch, s.input) < 0) throw new DspError('EW_DSP_SHAPE', `derived channel ${s.name} refused`);
    });
    for (const [lo, hi] of config.bands as readonly (readonly [number, number])[]) if (x.addBand(h, lo, hi) < 0) throw new DspError('EW_DSP_SHAPE', `band [${lo}, ${hi}) refused`);
    for (const g of config.axes) x.addGroup(h, ...(g.channels.map((n) => names.indexOf(n)) as [number, number, number]));
    for (const f of config.filters) {
      const [f1, f2] = (typeof f.cutoff === 'number' ? [f.cutoff, 0] : f.cutoff) as readonly [number, number];
      for (const n of f.channels) {
        if (x.addFilter(h, names.indexOf(n), FILTER_KIND[f.type], f.order, f1, f2) < 0) {
          throw new DspError('EW_DSP_SHAPE', `filter ${f.type} on ${n}: too many filter sections on one channel (at most 8)`);
        }
      }
    }
    if (!config.sortCache) x.setSortCache(h, 0);
    // With `select`, a channel's groups none of whose columns are kept are not computed at all (the
    // `uplink` preset reads the spectrum and jerk of one channel of six, so five of the six FFTs go).
    if (this.layout.width !== this.layout.kernelWidth) {
      const kept = new Map<string, number>();
      for (const f of this.layout.features) if (f.group !== 'axes') kept.set(f.source, (kept.get(f.source) ?? 0) | (1 << FEATURE_GROUPS.indexOf(f.group)));
      names.forEach((name, ch) => {
        const skip = mask & ~(kept.get(name) ?? 0) & ~(1 << FEATURE_GROUPS.indexOf('axes'));
        if (skip && x.skipGroups(h, ch, skip) < 0) throw new DspError('EW_DSP_SHAPE', `channel ${name}: its groups could not be left out`);
      });
    }
    this.kernelWidth = this.guard('finalize', () => x.finalize(h));
    if (this.kernelWidth !== this.layout.kernelWidth) throw new DspError('EW_DSP_LOAD', `dsp.wasm lays out ${this.kernelWidth} features where the layout has ${this.layout.kernelWidth}: the module and the loader are from different builds`);
    this.width = this.layout.width;
    this.projected = this.layout.width !== this.kernelWidth;
    this.refresh();
    for (let s = config.capacity - 1; s >= 0; s--) this.freeSlots.push(s);
  }

  /** The WebAssembly memory of this extractor's own instance (what `write` views and results live in). */
  get memory(): WebAssembly.Memory {
    return this.x.memory;
  }

  /** The slot of a sensor, given one on first use; EW_DSP_CAPACITY when all slots are taken. */
  slotOf(sensorId: string): number {
    let slot = this.slotById.get(sensorId);
    if (slot === undefined) {
      slot = this.freeSlots.pop();
      if (slot === undefined) throw new DspError('EW_DSP_CAPACITY', `all ${this.capacity} sensor slots are in use; raise capacity or release sensors`);
      this.slotById.set(sensorId, slot);
    }
    return slot;
  }

  /** Forgets a sensor: its slot, ring and filter state are reused by the next new sensor. */
  release(sensorId: string): void {
    const slot = this.slotById.get(sensorId);
    if (slot === undefined) return;
    this.slotById.delete(sensorId);
    this.x.reset(this.handle, slot);
    this.freeSlots.push(slot);
  }

  /** Starts a slot's stream again from sample 0 (after a gap, say). */
  restart(slot: number): void {
    this.checkSlot(slot);
    this.x.reset(this.handle, slot);
  }

  /** Samples a slot has taken in so far. */
  samplesSeen(slot: number): number {
    this.checkSlot(slot);
    return this.x.total(this.handle, slot);
  }

  /** Copies each entry's planar samples into the module and returns the windows they complete. */
  push(entries: readonly SamplesEntry[]): FeatureWindows {
    const c = this.config.channels.length;
    const counts = entries.map((e, i) => {
      this.checkSlot(e.slot, i);
      if (e.samples.length % c !== 0) throw new DspError('EW_DSP_SHAPE', `entry ${i}: ${e.samples.length} values is not a whole number of ${c}-channel samples`);
      return e.samples.length / c;
    });
    if (this.fitsOneCall(entries, counts)) {
      const views = this.write(entries.map((e, i) => ({ slot: e.slot, count: counts[i]! })));
      for (let i = 0; i < entries.length; i++) views[i]!.set(entries[i]!.samples);
      return this.commit();
    }
    // Several rounds, each giving every slot at most maxChunk samples, so no window is overwritten before it is computed.
    const offsets = entries.map(() => 0);
    const rounds: FeatureWindows[] = [];
    while (offsets.some((o, i) => o < counts[i]!)) {
      const budget = new Map<number, number>();
      const take: WriteEntry[] = [];
      const from: number[] = [];
      entries.forEach((e, i) => {
        const n = Math.min(counts[i]! - offsets[i]!, this.info.maxChunk - (budget.get(e.slot) ?? 0));
        if (n <= 0) return;
        budget.set(e.slot, (budget.get(e.slot) ?? 0) + n);
        take.push({ slot: e.slot, count: n });
        from.push(i);
      });
      const views = this.write(take);
      take.forEach((t, k) => {
        const i = from[k]!;
        const n = counts[i]!;
        const src = entries[i]!.samples;
        for (let ch = 0; ch < c; ch++) views[k]!.set(src.subarray(ch * n + offsets[i]!, ch * n + offsets[i]! + t.count), ch * t.count);
        offsets[i]! += t.count;
      });
      rounds.push(copyWindows(this.commit()));
    }
    return rounds.length === 1 ? rounds[0]! : concatWindows(rounds, this.width);
  }

  /** True when no slot gets more than maxChunk samples from these entries. */
  private fitsOneCall(entries: readonly { slot: number }[], counts: readonly number[]): boolean {
    const gen = ++this.generation;
    for (let i = 0; i < entries.length; i++) {
      const slot = entries[i]!.slot;
      const before = this.stamp[slot] === gen ? this.added[slot]! : 0;
      this.stamp[slot] = gen;
      this.added[slot] = before + counts[i]!;
      if (before + counts[i]! > this.info.maxChunk) return false;
    }
    return true;
  }

  /**
   * Reserves input for the entries and returns one planar view per entry (channels x count) in
   * WebAssembly memory; fill them, then call `commit`. A slot may take at most maxChunk samples.
   */
  write(entries: readonly WriteEntry[]): Float32Array[] {
    const c = this.config.channels.length;
    let total = 0;
    entries.forEach((e, i) => {
      this.checkSlot(e.slot, i);
      if (!Number.isInteger(e.count) || e.count < 0) throw new DspError('EW_DSP_SHAPE', `entry ${i}: count ${e.count} is not a non-negative integer`);
      total += e.count * c;
    });
    if (!this.fitsOneCall(entries, entries.map((e) => e.count))) {
      throw new DspError('EW_DSP_SHAPE', `a slot gets more than maxChunk ${this.info.maxChunk} samples in one call; use push(), which splits`);
    }
    const x = this.x;
    if (entries.length > this.info.inEntryCap || total > this.info.inSampleCap) {
      this.guard('reserveInput', () => x.reserveInput(this.handle, entries.length, total));
      this.refresh();
    }
    const mem = x.memory.buffer;
    const table = new Int32Array(mem, this.info.inEntries, entries.length * 2);
    const views: Float32Array[] = [];
    let at = this.info.inSamples;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      table[2 * i] = e.slot;
      table[2 * i + 1] = e.count;
      views.push(new Float32Array(mem, at, e.count * c));
      at += e.count * c * 4;
    }
    this.pending = entries.length;
    return views;
  }

  /** Takes in what `write` reserved and returns the completed windows. */
  commit(): FeatureWindows {
    const entries = this.pending;
    if (entries === undefined) throw new DspError('EW_DSP_SHAPE', 'commit() without write()');
    this.pending = undefined;
    const x = this.x;
    const jobs = x.ingest(this.handle, entries);
    if (jobs < 0) throw new DspError('EW_DSP_SHAPE', `the kernels refused the input (code ${jobs})`);
    if (jobs > 0) x.compute(this.handle, 0, jobs);
    return this.windowsView(jobs);
  }

  /**
   * Features of independent windows, no streaming state and no filters: `data` holds `count`
   * windows of channels x window planar samples, back to back.
   */
  windows(data: Float32Array, count = data.length / (this.config.channels.length * this.config.window)): FeatureWindows {
    const per = this.config.channels.length * this.config.window;
    if (!Number.isInteger(count) || count < 0 || data.length !== count * per) {
      throw new DspError('EW_DSP_SHAPE', `${data.length} values is not ${count} windows of ${this.config.channels.length} channels x ${this.config.window} samples`);
    }
    const x = this.x;
    const rounds: FeatureWindows[] = [];
    for (let first = 0; first < count || (count === 0 && rounds.length === 0); first += this.info.jobCap) {
      const n = Math.min(this.info.jobCap, count - first);
      if (this.info.inSampleCap < n * per) {
        this.guard('reserveInput', () => x.reserveInput(this.handle, 1, n * per));
        this.refresh();
      }
      new Float32Array(x.memory.buffer, this.info.inSamples, n * per).set(data.subarray(first * per, (first + n) * per));
      if (n > 0) x.computeWindows(this.handle, this.info.inSamples, n);
      const w = this.windowsView(n);
      const starts = new Float64Array(n).map((_, i) => first + i);
      const own = { ...copyWindows(w), starts };
      rounds.push(count <= this.info.jobCap ? { ...w, starts } : own);
    }
    return rounds.length === 1 ? rounds[0]! : concatWindows(rounds, this.width);
  }

  private windowsView(n: number): FeatureWindows {
    const mem = this.x.memory.buffer;
    const i = this.info;
    const all = new Float32Array(mem, i.out, n * this.kernelWidth);
    let features = all;
    if (this.projected) {
      // `select`: the chosen columns, copied out (the kernels always compute the whole set).
      const cols = this.layout.columns;
      const w = this.width;
      features = new Float32Array(n * w);
      for (let r = 0; r < n; r++) for (let k = 0; k < w; k++) features[r * w + k] = all[r * this.kernelWidth + cols[k]!]!;
    }
    return {
      count: n,
      width: this.width,
      features,
      slots: new Int32Array(mem, i.jobSlot, n),
      starts: new Float64Array(mem, i.jobStart, n),
      flags: new Int32Array(mem, i.jobFlags, n),
    };
  }

  private refresh(): void {
    const v = new Int32Array(this.x.memory.buffer, this.x.describe(this.handle), 16);
    this.info = {
      width: v[0]!,
      jobCap: v[3]!,
      out: v[5]!,
      jobSlot: v[6]!,
      jobStart: v[7]!,
      jobFlags: v[8]!,
      inEntries: v[9]!,
      inSamples: v[10]!,
      inEntryCap: v[11]!,
      inSampleCap: v[12]!,
      maxChunk: v[15]!,
    };
  }

  private checkSlot(slot: number, entry?: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.capacity) {
      throw new DspError('EW_DSP_SLOT', `${entry === undefined ? '' : `entry ${entry}: `}slot ${slot} is not in 0..${this.capacity - 1}`);
    }
  }

  /** Runs a call that may grow memory; a failed growth becomes EW_DSP_MEMORY. */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw new DspError('EW_DSP_MEMORY', `${what}: WebAssembly memory cannot grow (${err.message})`, err);
      throw err;
    }
  }
}

/** WebAssembly memory one extractor may ask for: well inside the 4 GiB a wasm32 module can address. */
const MAX_BYTES = 2 ** 31;

/** The memory the kernels will allocate for a config (rings, filter state, sorted halves, output), in bytes. */
export function estimateBytes(c: FeatureConfig): number {
  const channels = featureChannels(c).length;
  const ring = (c.window + c.maxChunk - 1 + 3) & ~3;
  const jobs = c.capacity * (Math.ceil(c.maxChunk / c.hop) + 1);
  const width = featureLayout(c).width;
  const halves = c.sortCache && c.features.includes('order') && c.hop * 2 === c.window ? c.capacity * channels * (c.window / 2) * 4 + c.capacity * channels * 8 : 0;
  return c.capacity * (32 + channels * (ring * 4 + 8 * 16)) + halves + jobs * (width * 4 + 20) + c.window * 16 * (2 * channels + 8);
}

/** Loads dsp.wasm (once) and makes an extractor. */
export async function createExtractor(config: FeatureConfigInput | FeatureConfig, dsp?: DspModule): Promise<FeatureExtractor> {
  return new FeatureExtractor(dsp ?? (await loadDsp()), config);
}

function copyWindows(w: FeatureWindows): FeatureWindows {
  return { count: w.count, width: w.width, features: w.features.slice(), slots: w.slots.slice(), starts: w.starts.slice(), flags: w.flags.slice() };
}

function concatWindows(parts: FeatureWindows[], width: number): FeatureWindows {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const out: FeatureWindows = { count, width, features: new Float32Array(count * width), slots: new Int32Array(count), starts: new Float64Array(count), flags: new Int32Array(count) };
  let at = 0;
  for (const p of parts) {
    out.features.set(p.features, at * width);
    out.slots.set(p.slots, at);
    out.starts.set(p.starts, at);
    out.flags.set(p.flags, at);
    at += p.count;
  }
  return out;
}
