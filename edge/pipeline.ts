// The agent's processing: samples of every sensor go in as they arrive; each flush turns what came
// in since the last one into protocol/ frames, batched across all sensors, ready for the outbox:
// raw frames (optionally decimated) and feature frames from one dsp/ extractor call per sample rate.
// Modes per sensor: raw, features or both; `featuresOnly` (the adaptive uplink) makes both-mode
// sensors send features alone.

import { FeatureExtractor, type DspModule, type FeatureConfigInput, type FeatureWindows } from '../dsp/src/index.js';
import { FLAG_FEATURES_SENT, FLAG_GAP, LAYOUT_IMU6, encodeBatch, mqttTopics, type Frame } from '../protocol/index.js';
import type { AppendItem } from './outbox/outbox.js';
import type { SeqStore } from './seq-store.js';

export type UplinkMode = 'raw' | 'features' | 'both';

export interface PipelineSensor {
  sensorId: string;
  group: string;
  sampleRate: number;
  mode: UplinkMode;
  /** Send every n-th raw sample, each the mean of the n it stands for (1 = all). */
  decimate: number;
}

export interface PipelineOptions {
  gatewayId: string;
  topicRoot: string;
  dsp: DspModule;
  seq: SeqStore;
  /** Feature settings shared by every sensor; the sample rate comes from each sensor. */
  features?: Omit<FeatureConfigInput, 'sampleRate' | 'capacity' | 'channels'>;
  /** Batches are split to stay under this many bytes. */
  maxBatchBytes?: number;
  /** Most sensors per sample rate. */
  capacity?: number;
  /**
   * Keep track of when a sensor's samples complete a window (of `features`' window and hop, as
   * the cloud cuts raw frames with the same settings): `due()` and `nextDueUs()` tell, and
   * `flush(.., true)` sends those sensors alone.
   */
  windowAligned?: boolean;
}

export interface FlushResult {
  items: AppendItem[];
  rawFrames: number;
  featureFrames: number;
  samples: number;
  windows: number;
  /** Raw chunks left out because they held NaN or ±Infinity. */
  badChunks: number;
}

interface Chunk {
  t0Us: number;
  samples: Float32Array;
}

interface SensorState {
  info: PipelineSensor;
  extractor?: FeatureExtractor;
  slot: number;
  /** Time of the first sample the extractor holds for this sensor (its index 0). */
  originUs: number;
  originSet: boolean;
  /** Contiguous runs of raw samples; each becomes one frame. */
  raw: { gap: boolean; chunks: Chunk[] }[];
  /** Samples are missing before the next raw sample. */
  rawGap: boolean;
  /** Samples waiting for the extractor, planar with `stageCap` per channel (reused, no garbage per add). */
  stage: Float32Array;
  stageCap: number;
  staged: number;
  /** Windows computed early (before a gap restarted the stream), waiting for the flush. */
  early: { rows: Float32Array; starts: number[]; originUs: number; gap: boolean }[];
  featureGap: boolean;
  // Toward the next window's last sample (windowAligned): raw frames as the cloud counts them, from
  // the start of the sensor's stream or its last gap (sent: samples sent, after decimation;
  // pending: samples not yet sent, before it; nextEnd: the count the next window is whole at);
  // features as the agent's extractor counts them since its origin.
  rawStarted: boolean;
  rawSent: number;
  rawPending: number;
  rawNextEnd: number;
  featCount: number;
  featNextEnd: number;
  /** Time of the newest sample. */
  lastUs: number;
}

export class Pipeline {
  private readonly sensors = new Map<string, SensorState>();
  private readonly extractors = new Map<number, FeatureExtractor>();
  private readonly topic: string;
  private badChunks = 0;
  /** Sensors holding a whole window's last sample not yet sent (windowAligned). */
  private readonly dueSensors = new Set<SensorState>();
  /** The window and hop raw frames are cut into in the cloud (the feature settings' defaults as dsp/ has them). */
  private readonly window: number;
  private readonly hop: number;

  constructor(private readonly options: PipelineOptions) {
    this.topic = mqttTopics(options.topicRoot).batch(options.gatewayId);
    this.window = options.features?.window ?? 256;
    this.hop = options.features?.hop ?? this.window / 2;
  }

  register(info: PipelineSensor): void {
    const s: SensorState = {
      info, slot: -1, originUs: 0, originSet: false, raw: [], rawGap: false, stage: new Float32Array(0), stageCap: 0, staged: 0, early: [], featureGap: false,
      rawStarted: false, rawSent: 0, rawPending: 0, rawNextEnd: this.window, featCount: 0, featNextEnd: this.window, lastUs: 0,
    };
    if (info.mode !== 'raw') {
      s.extractor = this.extractorFor(info.sampleRate);
      s.slot = s.extractor.slotOf(info.sensorId);
    }
    this.sensors.set(info.sensorId, s);
  }

  /** The feature layout sensors of this rate use (for status messages and tests). */
  extractorFor(sampleRate: number): FeatureExtractor {
    let ex = this.extractors.get(sampleRate);
    if (!ex) {
      // Memory over speed, for gateways: flushes bring a few tens of samples per sensor, so a short
      // maxChunk keeps the rings short (push splits anything longer), and no sorted halves are kept.
      ex = new FeatureExtractor(this.options.dsp, { maxChunk: 32, sortCache: false, ...this.options.features, sampleRate, capacity: this.options.capacity ?? 10_000 });
      this.extractors.set(sampleRate, ex);
    }
    return ex;
  }

  /**
   * Samples of one sensor (planar 6 x n, copied), the first taken at t0Us. `gap` says samples were
   * lost just before: raw frames say so, and feature windows never span it.
   */
  add(sensorId: string, samples: Float32Array, t0Us: number, gap = false): void {
    const s = this.sensors.get(sensorId);
    if (!s) throw new Error(`sensor ${sensorId} is not registered`);
    if (gap) {
      s.rawGap = true;
      if (s.extractor) this.restart(s, t0Us);
    }
    if (s.extractor && !s.originSet) {
      s.originUs = t0Us;
      s.originSet = true;
    }
    const n = samples.length / 6;
    if (s.extractor) {
      this.stageSamples(s, samples);
      s.featCount += n;
    }
    if (s.info.mode !== 'features') {
      const copy = samples.slice();
      if (copy.every(Number.isFinite)) {
        const run = s.raw.at(-1);
        if (s.rawGap || !s.rawStarted) {
          // The cloud starts cutting windows again at a frame after a gap, or at the first.
          s.rawStarted = true;
          s.rawSent = 0;
          s.rawPending = 0;
          s.rawNextEnd = this.window;
        }
        if (!run || s.rawGap) s.raw.push({ gap: s.rawGap, chunks: [{ t0Us, samples: copy }] });
        else run.chunks.push({ t0Us, samples: copy });
        s.rawGap = false;
        s.rawPending += n;
      } else {
        // Frames cannot carry NaN or ±Infinity: the chunk is left out and the next frame says so.
        this.badChunks++;
        s.rawGap = true;
      }
    }
    if (this.options.windowAligned) {
      s.lastUs = t0Us + ((n - 1) * 1e6) / s.info.sampleRate;
      if (this.needed(s) <= 0) this.dueSensors.add(s);
    }
  }

  /** Samples (at the sensor's rate) still to come before one of its windows is whole: 0 or less when one is. */
  private needed(s: SensorState): number {
    let need = Infinity;
    if (s.info.mode !== 'features' && s.rawStarted && !s.rawGap) need = (s.rawNextEnd - s.rawSent) * s.info.decimate - s.rawPending;
    if (s.extractor && s.originSet) need = Math.min(need, s.featNextEnd - s.featCount);
    return need;
  }

  /** Sensors that hold a window's last sample not yet sent (windowAligned). */
  due(): number {
    return this.dueSensors.size;
  }

  /** When the sensor's next window's last sample is (or was) taken, in sample time; Infinity before it sent any. */
  private dueAtUs(s: SensorState): number {
    const need = this.needed(s);
    return need === Infinity ? Infinity : s.lastUs + (Math.max(0, need) * 1e6) / s.info.sampleRate;
  }

  /** Sensors whose next window's last sample is taken by `tUs` (windowAligned). */
  dueBy(tUs: number): string[] {
    const out: string[] = [];
    for (const s of this.sensors.values()) if (this.dueAtUs(s) <= tUs) out.push(s.info.sensorId);
    return out;
  }

  /** When the next window's last sample is taken, over every sensor (windowAligned); Infinity when none has sent samples. */
  nextDueUs(): number {
    let next = Infinity;
    for (const s of this.sensors.values()) next = Math.min(next, this.dueAtUs(s));
    return next;
  }

  private stageSamples(s: SensorState, samples: Float32Array): void {
    const n = samples.length / 6;
    if (s.staged + n > s.stageCap) {
      const cap = Math.max(16, 2 ** Math.ceil(Math.log2(s.staged + n)));
      const grown = new Float32Array(6 * cap);
      for (let c = 0; c < 6; c++) copyRange(grown, c * cap, s.stage, c * s.stageCap, s.staged);
      s.stage = grown;
      s.stageCap = cap;
    }
    for (let c = 0; c < 6; c++) copyRange(s.stage, c * s.stageCap + s.staged, samples, c * n, n);
    s.staged += n;
  }

  /** The staged samples as one planar array (the slow path: a restart, or more than one kernel call holds). */
  private stagedPlanar(s: SensorState): Float32Array {
    const n = s.staged;
    const out = new Float32Array(6 * n);
    for (let c = 0; c < 6; c++) copyRange(out, c * n, s.stage, c * s.stageCap, n);
    return out;
  }

  /** A gap: compute what this sensor has so far, then start its stream again at t0Us. */
  private restart(s: SensorState, t0Us: number): void {
    const ex = s.extractor!;
    if (s.staged) {
      const w = ex.push([{ slot: s.slot, samples: this.stagedPlanar(s) }]);
      s.early.push({ rows: w.features.slice(), starts: [...w.starts].map((st, i) => (w.flags[i] ? -1 : st)), originUs: s.originUs, gap: s.featureGap });
      s.staged = 0;
    }
    ex.restart(s.slot);
    s.originUs = t0Us;
    s.originSet = true;
    s.featureGap = true;
    s.featCount = 0;
    s.featNextEnd = this.window;
  }

  /**
   * Frames for everything added since the last flush, as outbox items (one batch per kind, split by
   * size); with `dueOnly`, of the sensors holding a whole window (`due()`) alone.
   */
  flush(featuresOnly = false, dueOnly = false): FlushResult {
    const rawFrames: Frame[] = [];
    const featureFrames: Frame[] = [];
    let samples = 0;
    let windows = 0;
    const { gatewayId } = this.options;
    const due = this.dueSensors;
    // Every sensor, or the due ones (a set no one changes before the end of this flush).
    const sensors = (): Iterable<SensorState> => (dueOnly ? due : this.sensors.values());
    for (const s of sensors()) {
      if (!s.raw.length) continue;
      const sendRaw = s.info.mode === 'raw' || (s.info.mode === 'both' && !featuresOnly);
      for (const run of s.raw) {
        samples += run.chunks.reduce((a, c) => a + c.samples.length / 6, 0);
        if (!sendRaw) continue;
        const data = decimate(concat(run.chunks, 6), 6, s.info.decimate);
        rawFrames.push({
          kind: 'raw', flags: (run.gap ? FLAG_GAP : 0) | (s.info.mode === 'both' ? FLAG_FEATURES_SENT : 0), sensorId: s.info.sensorId, gatewayId, group: s.info.group, seq: this.options.seq.take(s.info.sensorId),
          t0: run.chunks[0]!.t0Us, sampleRate: s.info.sampleRate / s.info.decimate, count: data.length / 6, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6, data,
        });
      }
      // Not sent (the adaptive uplink): the next raw frame says samples are missing before it.
      if (!sendRaw) s.rawGap = true;
      s.raw = [];
      // The last run goes on in the next frame: its count as the cloud has it.
      s.rawSent += Math.ceil(s.rawPending / s.info.decimate);
      s.rawPending = 0;
      while (s.rawNextEnd <= s.rawSent) s.rawNextEnd += this.hop;
    }
    for (const [rate, ex] of this.extractors) {
      const staged: SensorState[] = [];
      let fits = true;
      for (const s of sensors()) {
        if (s.extractor !== ex || !s.staged) continue;
        if (s.info.mode === 'features') samples += s.staged;
        staged.push(s);
        if (s.staged > ex.config.maxChunk) fits = false;
      }
      let w: FeatureWindows | undefined;
      if (staged.length && fits) {
        // Straight from the stages into WebAssembly memory, one kernel call for every sensor.
        const views = ex.write(staged.map((s) => ({ slot: s.slot, count: s.staged })));
        staged.forEach((s, k) => {
          const v = views[k]!;
          for (let c = 0; c < 6; c++) copyRange(v, c * s.staged, s.stage, c * s.stageCap, s.staged);
        });
        w = ex.commit();
      } else if (staged.length) {
        w = ex.push(staged.map((s) => ({ slot: s.slot, samples: this.stagedPlanar(s) })));
      }
      for (const s of staged) {
        s.staged = 0;
        while (s.featNextEnd <= s.featCount) s.featNextEnd += ex.config.hop;
      }
      const bySlot = w ? groupBySlot(w) : new Map<number, number[]>();
      for (const s of sensors()) {
        if (s.extractor !== ex) continue;
        for (const e of s.early) {
          s.featureGap = e.gap;
          windows += this.featureFrames(s, ex, rate, e.rows, e.starts, e.originUs, featureFrames);
        }
        // Windows after a restart follow a gap.
        if (s.early.length) s.featureGap = true;
        s.early = [];
        const rows = bySlot.get(s.slot);
        if (w && rows) {
          const starts = rows.map((i) => (w.flags[i] ? -1 : w.starts[i]!));
          // Usually one row, or rows side by side: a view into the kernels' output, which stays put
          // until this extractor's next call, after the frames are encoded below.
          const adjacent = rows.every((i, k) => i === rows[0]! + k);
          const data = adjacent ? w.features.subarray(rows[0]! * w.width, (rows[0]! + rows.length) * w.width) : new Float32Array(rows.length * w.width);
          if (!adjacent) rows.forEach((i, k) => copyRange(data, k * w.width, w.features, i * w.width, w.width));
          windows += this.featureFrames(s, ex, rate, data, starts, s.originUs, featureFrames);
        }
      }
    }
    // Whatever was due is sent.
    due.clear();
    // The sequence numbers these frames carry are durable before the frames can be.
    this.options.seq.commit();
    const items = [...this.batches('raw', rawFrames), ...this.batches('features', featureFrames)];
    const bad = this.badChunks;
    this.badChunks = 0;
    return { items, rawFrames: rawFrames.length, featureFrames: featureFrames.length, samples, windows, badChunks: bad };
  }

  /** Feature frames of one sensor's windows: one per run of valid, evenly spaced windows. Returns the windows sent. */
  private featureFrames(s: SensorState, ex: FeatureExtractor, rate: number, rows: Float32Array, starts: number[], originUs: number, out: Frame[]): number {
    const { window, hop } = ex.config;
    const width = ex.width;
    let sent = 0;
    let i = 0;
    while (i < starts.length) {
      if (starts[i]! < 0) {
        i++;
        s.featureGap = true;
        continue;
      }
      let j = i + 1;
      while (j < starts.length && starts[j]! === starts[j - 1]! + hop) j++;
      out.push({
        kind: 'features', flags: s.featureGap ? FLAG_GAP : 0, sensorId: s.info.sensorId, gatewayId: this.options.gatewayId, group: s.info.group,
        seq: this.options.seq.take(s.info.sensorId), t0: Math.round(originUs + (starts[i]! * 1e6) / rate), sampleRate: rate, count: j - i, width, window, hop,
        layoutId: ex.layout.id, data: rows.subarray(i * width, j * width),
      });
      s.featureGap = false;
      sent += j - i;
      i = j;
    }
    return sent;
  }

  private batches(kind: 'raw' | 'features', frames: Frame[]): AppendItem[] {
    const max = this.options.maxBatchBytes ?? 256 * 1024;
    const items: AppendItem[] = [];
    let part: Frame[] = [];
    let bytes = 0;
    const emit = () => {
      if (part.length) items.push({ kind, topic: this.topic, payload: encodeBatch(part) });
      part = [];
      bytes = 0;
    };
    for (const f of frames) {
      const size = 4 + 48 + 3 * 128 + 4 * f.data.length;
      if (bytes + size > max) emit();
      part.push(f);
      bytes += size;
    }
    emit();
    return items;
  }
}

/**
 * dst[at..at+n) = src[from..from+n). A plain loop: the chunks here are a few samples long, where
 * `set(subarray(..))` spends its time making the view (and the garbage collector its time on them).
 */
export function copyRange(dst: Float32Array, at: number, src: Float32Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!;
}

function concat(chunks: Chunk[], channels: number): Float32Array {
  if (chunks.length === 1) return chunks[0]!.samples;
  const n = chunks.reduce((a, c) => a + c.samples.length / channels, 0);
  const out = new Float32Array(channels * n);
  let at = 0;
  for (const c of chunks) {
    const m = c.samples.length / channels;
    for (let ch = 0; ch < channels; ch++) out.set(c.samples.subarray(ch * m, (ch + 1) * m), ch * n + at);
    at += m;
  }
  return out;
}

/** Every d-th sample as the mean of the d it stands for (a boxcar anti-alias); a tail shorter than d is averaged too. */
export function decimate(planar: Float32Array, channels: number, d: number): Float32Array {
  if (d <= 1) return planar;
  const n = planar.length / channels;
  const m = Math.ceil(n / d);
  const out = new Float32Array(channels * m);
  for (let c = 0; c < channels; c++) {
    for (let k = 0; k < m; k++) {
      let s = 0;
      const end = Math.min(n, (k + 1) * d);
      for (let i = k * d; i < end; i++) s += planar[c * n + i]!;
      out[c * m + k] = s / (end - k * d);
    }
  }
  return out;
}

function groupBySlot(w: FeatureWindows): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (let i = 0; i < w.count; i++) {
    const slot = w.slots[i]!;
    let list = m.get(slot);
    if (!list) m.set(slot, (list = []));
    list.push(i);
  }
  return m;
}
