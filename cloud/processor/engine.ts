// The processor's work on the frames of one Kafka partition, without Kafka: frames go through the
// sequencer of their stream, a sensor's raw frames or its feature frames (each stretch of sample
// time once, in order); raw frames are cut into windows and turned into
// features by the dsp/ kernels (the same bits as an edge agent computes for the same samples),
// unless they say the edge sends those windows itself (FLAG_FEATURES_SENT, mode `both`);
// feature frames from the edge are taken as they come; every window of the model's layout is
// classified by the stateful model, batched across sensors; and every classified window feeds the
// group's sessions.
//
// All state is plain data per sensor and per group (`snapshot`, `restore`), so the Kafka side can
// write what a batch changed to the state changelog in the same transaction as its outputs, and
// rebuild an engine from the changelog after a restart or a rebalance.
//
// Raw samples awaiting a window are the bulk of that state (up to a window of six channels per
// sensor). When every frame they came from carries its input offset, a snapshot holds only where
// they came from (the oldest such offset, the first frame's time and how many of its samples are
// already behind), and a restore reads them again from the input (`refillFrom`, `refill`): the
// changelog then carries a few hundred bytes per sensor instead of kilobytes, which is what lets
// transactions be short.

import { FeatureExtractor, type DspModule, type FeatureConfigInput, type FeatureLayout } from '../../dsp/src/index.js';
import { FLAG_FEATURES_SENT, FLAG_GAP, type Frame } from '../../protocol/index.js';
import type { ActivityModel } from '../model/model.js';
import { flush as flushSequence, newSequence, offer, type Sequenced, type SequencerOptions, type StreamSequence } from './sequencer.js';
import { endSilent, newGroupState, observe, silentDeadline, type GroupState, type SensorAggregate, type SessionEvent, type SessionOptions } from './sessions.js';

export interface EngineOptions {
  dsp: DspModule;
  /** Feature settings for raw frames (the sample rate comes from each frame). */
  features: Omit<FeatureConfigInput, 'sampleRate' | 'capacity'>;
  model: ActivityModel | null;
  sequencer: SequencerOptions;
  sessions: SessionOptions;
}

/** One window's features, from the edge or computed here, with its classification when the model reads its layout. */
export interface WindowResult {
  sensorId: string;
  gatewayId: string;
  group: string;
  /** Seq of the frame the window came from (raw: the frame holding its last sample). */
  seq: number;
  /** Window start and end, µs. */
  t0: number;
  t1: number;
  sampleRate: number;
  /** Samples between this window's start and the next one's. */
  hop: number;
  layoutId: number;
  source: 'edge' | 'processor';
  features: Float32Array;
  label?: string;
  scores?: Float32Array;
}

export interface EngineOutput {
  windows: WindowResult[];
  sessions: SessionEvent[];
  duplicates: number;
  skipped: number;
  /** Raw frames left uncut because the edge sends their windows as feature frames (FLAG_FEATURES_SENT). */
  featuresSent: number;
  /** Sensors and groups whose state this call changed (for the changelog). */
  changedSensors: string[];
  changedGroups: string[];
}

/** A frame with the input offset of the record it came in (the processor sets it; other callers need not). */
export type SourcedFrame = Frame & { offset?: number };

/** Where a frame's samples went: the frames behind a sensor's pending samples, oldest first. */
interface Source {
  offset: number | undefined;
  t0: number;
  count: number;
}

/** Where a sensor's pending samples come from, in a snapshot without the samples themselves. */
export interface PendingOrigin {
  /** The lowest input offset among the frames the samples came from: a refill reads from here. */
  offset: number;
  /** Sample time of the first of those frames, µs. */
  t0: number;
  /** Samples of that first frame already behind the pending ones. */
  skip: number;
}

/** A sensor's raw samples not yet in a window: planar, channels x n, starting at sample time t0. */
interface Pending {
  t0: number;
  rate: number;
  n: number;
  /** One buffer per channel; the first n values of each are the samples. */
  data: Float32Array[];
  /** The frames the samples came from, oldest first; `skip` samples of the first are behind t0. */
  sources: Source[];
  skip: number;
  /** Every source has its offset; worked out again (from `sources`) when unset. */
  sourced?: boolean | undefined;
  /** Restored without its samples: they are to be read again from the input (`refill`). */
  origin?: PendingOrigin;
}

interface SensorState {
  /** One stream per kind: raw frames and feature frames follow each other separately. */
  raw: StreamSequence<Frame>;
  features: StreamSequence<Frame>;
  gatewayId: string;
  group: string;
  pending: Pending | null;
  /** The model's state for this sensor (null: not seen by the model yet). */
  modelState: number[] | null;
}

/**
 * The JSON form of a sensor's state. Float data (samples awaiting a window, frames held by the
 * sequencers, the model state; all float32 values) goes as base64 of its float32 bytes: exact, and
 * a third of the size of decimal numbers, which matters since the changelog carries it.
 */
export type SensorSnapshot = Omit<SensorState, 'raw' | 'features' | 'pending' | 'modelState'> & {
  /** The samples themselves (`data`), or where to read them again (`origin`). */
  pending: { t0: number; rate: number; n: number; data?: string[]; origin?: PendingOrigin } | null;
  modelState: string | null;
  raw: StreamJson;
  features: StreamJson;
  /**
   * The sensor's entries in its group's state: its latest window, and its aggregate in the group's
   * running session (which session it counts in, so an aggregate of an earlier one is left out).
   * They change with the sensor's own windows, so they travel in its record, not in the group's.
   */
  session?: { latest?: { t1: number; active: boolean }; sessionId?: string; aggregate?: SensorAggregate };
};
/**
 * The JSON form of a group's state: the entries of the sensors that belong to the group now are 0,
 * placeholders keeping their order; the sensors' own records carry them (`SensorSnapshot.session`).
 * A group's record so stays small however many sensors it has (about 550 bytes a sensor before,
 * and a group of some 1,800 sensors would have exceeded the broker's 1 MB record limit).
 */
export type GroupSnapshot = Omit<GroupState, 'latest' | 'session'> & {
  latest: Record<string, GroupState['latest'][string] | 0>;
  session: (Omit<NonNullable<GroupState['session']>, 'sensors'> & { sensors: Record<string, SensorAggregate | 0> }) | null;
};
type FrameJson = Omit<Frame, 'data'> & { data: string };
type StreamJson = { end: number | null; pending: (Omit<Sequenced<Frame>, 'item'> & { item: FrameJson })[] };

/** float32 values → base64 of their little-endian bytes. */
export function f32ToBase64(values: ArrayLike<number>): string {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}
export function base64ToF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

const streamToJson = (st: StreamSequence<Frame>): StreamJson => ({ end: st.end, pending: st.pending.map((p) => ({ ...p, item: { ...p.item, data: f32ToBase64(p.item.data) } })) });
const streamFromJson = (st: StreamJson): StreamSequence<Frame> => ({ end: st.end, pending: st.pending.map((p) => ({ ...p, item: { ...p.item, data: base64ToF32(p.item.data) } })) });

/** The stretch of sample time a frame covers, for its stream's sequencer. */
function stretch(f: Frame): Sequenced<Frame> {
  const perStep = 1e6 / f.sampleRate;
  const steps = f.kind === 'raw' ? f.count : f.count * f.hop;
  return { start: f.t0, end: f.t0 + Math.round(steps * perStep), gap: (f.flags & FLAG_GAP) !== 0, tolerance: Math.max(1, perStep / 2), first: f.seq === 0, item: f };
}

const CHANNELS = 6;
const EMPTY = new Float32Array(0);

export class Engine {
  private readonly sensors = new Map<string, SensorState>();
  private readonly groups = new Map<string, GroupState>();
  private readonly extractors = new Map<number, FeatureExtractor>();
  private model: ActivityModel | null;

  constructor(private readonly o: EngineOptions) {
    this.model = o.model;
  }

  /** The model windows are classified with now. */
  get currentModel(): ActivityModel | null {
    return this.model;
  }

  /**
   * Classifies with another model from the next call on. Sensors keep their model state when the
   * two models agree on features, state size and classes; otherwise every sensor starts afresh.
   * Returns whether the state was kept.
   */
  setModel(model: ActivityModel | null): boolean {
    const a = this.model?.info;
    const b = model?.info;
    const keep = !!a && !!b && a.features === b.features && a.state === b.state && a.classes.join('\u0000') === b.classes.join('\u0000');
    this.model = model;
    if (!keep) for (const s of this.sensors.values()) s.modelState = null;
    return keep;
  }

  /** The layout raw frames at this rate are cut into. */
  layoutFor(rate: number): FeatureLayout {
    return this.extractor(rate).layout;
  }

  private extractor(rate: number): FeatureExtractor {
    let ex = this.extractors.get(rate);
    if (!ex) {
      ex = new FeatureExtractor(this.o.dsp, { ...this.o.features, sampleRate: rate, capacity: 1 });
      this.extractors.set(rate, ex);
    }
    return ex;
  }

  private sensor(f: Frame): SensorState {
    let s = this.sensors.get(f.sensorId);
    if (!s) this.sensors.set(f.sensorId, (s = { raw: newSequence(), features: newSequence(), gatewayId: f.gatewayId, group: f.group, pending: null, modelState: null }));
    return s;
  }

  /** Processes frames in the order they came (one Kafka partition's, in offset order). */
  async process(frames: readonly Frame[]): Promise<EngineOutput> {
    const out: EngineOutput = { windows: [], sessions: [], duplicates: 0, skipped: 0, featuresSent: 0, changedSensors: [], changedGroups: [] };
    const changed = new Set<string>();
    const ordered: Frame[] = [];
    for (const f of frames) {
      let s = this.sensors.get(f.sensorId);
      if (f.kind === 'raw' && (f.flags & FLAG_FEATURES_SENT) !== 0) {
        // The edge sends this sensor's windows itself (mode `both`): they come as feature frames,
        // and cutting them again here would count each twice. The raw frame is the archive's; it
        // goes on only to end the samples of raw frames before it (`run`). Frames of its raw stream
        // still held go on first; the stream's end follows it, so that raw frames without the flag
        // (the sensor switched to `raw`) are taken at once.
        out.featuresSent++;
        if (!s) continue;
        if (s.raw.pending.length) {
          const r = flushSequence(s.raw);
          out.skipped += r.skipped;
          for (const x of r.ready) ordered.push(x.item);
          changed.add(f.sensorId);
        }
        s.raw.end = Math.max(s.raw.end ?? 0, f.t0 + Math.round((f.count * 1e6) / f.sampleRate));
        ordered.push(f);
        continue;
      }
      const known = s !== undefined;
      s ??= this.sensor(f);
      const stream = f.kind === 'raw' ? s.raw : s.features;
      const heldBefore = stream.pending.length;
      const r = offer(stream, stretch(f), this.o.sequencer);
      if (r.duplicate) out.duplicates++;
      out.skipped += r.skipped;
      // Frames held, released out of order or given up on change what a restore cannot work out
      // from the input; so does a new sensor. A frame simply taken in order may not (see cutRaw).
      if (!known || heldBefore || stream.pending.length || r.skipped) changed.add(f.sensorId);
      for (const x of r.ready) ordered.push(x.item);
    }
    await this.run(ordered, out, changed);
    out.changedSensors = [...changed];
    return out;
  }

  /** Hands on every frame the sequencers still hold (end of a replay). */
  async drain(): Promise<EngineOutput> {
    const out: EngineOutput = { windows: [], sessions: [], duplicates: 0, skipped: 0, featuresSent: 0, changedSensors: [], changedGroups: [] };
    const changed = new Set<string>();
    const ordered: Frame[] = [];
    for (const [id, s] of this.sensors) {
      for (const st of [s.raw, s.features]) {
        const r = flushSequence(st);
        out.skipped += r.skipped;
        if (r.ready.length) changed.add(id);
        for (const x of r.ready) ordered.push(x.item);
      }
    }
    await this.run(ordered, out, changed);
    out.changedSensors = [...changed];
    return out;
  }

  private async run(ordered: Frame[], out: EngineOutput, changed: Set<string>): Promise<void> {
    this.settle();
    // Groups whose sessions took a window, and groups a sensor left or joined (which of them carries its entries changes).
    const groupsChanged = new Set<string>();
    // Windows of this call, per sensor in time order.
    const perSensor = new Map<string, WindowResult[]>();
    const add = (w: WindowResult) => {
      let list = perSensor.get(w.sensorId);
      if (!list) perSensor.set(w.sensorId, (list = []));
      list.push(w);
      out.windows.push(w);
    };
    // Raw windows are computed together, one kernel call per sample rate: each window's channels
    // are copied once, straight into the rate's input buffer.
    const cut = new Map<number, { flat: Float32Array; results: WindowResult[] }>();
    for (const f of ordered) {
      const s = this.sensors.get(f.sensorId)!;
      if (s.gatewayId !== f.gatewayId || s.group !== f.group) changed.add(f.sensorId);
      if (s.group !== f.group) {
        // The group left carries the sensor's entries from now on, the one joined leaves them to the sensor.
        for (const g of [s.group, f.group]) if (this.groups.has(g)) groupsChanged.add(g);
      }
      s.gatewayId = f.gatewayId;
      s.group = f.group;
      if (f.kind === 'features') {
        for (let i = 0; i < f.count; i++) {
          const t0 = f.t0 + Math.round((i * f.hop * 1e6) / f.sampleRate);
          add({
            sensorId: f.sensorId, gatewayId: f.gatewayId, group: f.group, seq: f.seq, t0, t1: t0 + Math.round((f.window * 1e6) / f.sampleRate),
            sampleRate: f.sampleRate, hop: f.hop, layoutId: f.layoutId, source: 'edge', features: f.data.subarray(i * f.width, (i + 1) * f.width),
          });
        }
        continue;
      }
      if ((f.flags & FLAG_FEATURES_SENT) !== 0) {
        // Its windows come from the edge (`process`): samples cut so far make no window.
        if (s.pending) {
          s.pending = null;
          changed.add(f.sensorId);
        }
        continue;
      }
      if (f.width !== CHANNELS) {
        changed.add(f.sensorId); // raw frames of other widths carry no IMU6 windows
        continue;
      }
      if (!this.cutRaw(s, f, (data, t0, rate) => {
        const ex = this.extractor(rate);
        const { window } = ex.config;
        const per = CHANNELS * window;
        let c = cut.get(rate);
        if (!c) cut.set(rate, (c = { flat: new Float32Array(16 * per), results: [] }));
        const k = c.results.length;
        if (c.flat.length < (k + 1) * per) {
          const grown = new Float32Array(2 * c.flat.length);
          grown.set(c.flat);
          c.flat = grown;
        }
        for (let j = 0; j < CHANNELS; j++) c.flat.set(data[j]!.subarray(0, window), k * per + j * window);
        const w: WindowResult = {
          sensorId: f.sensorId, gatewayId: f.gatewayId, group: f.group, seq: f.seq, t0, t1: t0 + Math.round((window * 1e6) / rate),
          sampleRate: rate, hop: ex.config.hop, layoutId: ex.layout.id, source: 'processor', features: EMPTY,
        };
        c.results.push(w);
        add(w);
      })) changed.add(f.sensorId);
    }
    for (const [rate, c] of cut) {
      const ex = this.extractor(rate);
      const w = ex.windows(c.flat.subarray(0, c.results.length * CHANNELS * ex.config.window));
      // One copy out of the kernels' memory for all of them, each window a view of it.
      const all = w.features.slice(0, c.results.length * w.width);
      c.results.forEach((r, k) => (r.features = all.subarray(k * w.width, (k + 1) * w.width)));
    }
    const c0 = performance.now();
    await this.classify(perSensor);
    this.lastClassifyMs = performance.now() - c0;
    // Sessions, window by window in the order the frames came (their Kafka order): how the frames
    // were split into calls must not matter, since batch boundaries differ between runs.
    for (const w of out.windows) {
      if (w.label === undefined) continue;
      let g = this.groups.get(w.group);
      if (!g) this.groups.set(w.group, (g = newGroupState()));
      // Only the features sessions read: the summaries and the activity feature.
      const features: Record<string, number> = {};
      for (const [name, i] of this.sessionFeatures()) features[name] = w.features[i]!;
      if (w.t1 > this.horizon) {
        this.horizon = w.t1;
        if (this.horizon >= this.silentCheckAt) this.endSilentGroups(out, groupsChanged);
      }
      out.sessions.push(
        ...observe(g, { sensorId: w.sensorId, group: w.group, t0: w.t0, t1: w.t1, stepS: this.stepS(w), label: w.label, score: Math.max(...w.scores!), features }, this.o.sessions, this.model!.info.classes),
      );
      const due = silentDeadline(g, this.o.sessions);
      if (due !== null && due < this.silentCheckAt) this.silentCheckAt = due;
      groupsChanged.add(w.group);
    }
    for (const id of perSensor.keys()) changed.add(id);
    out.changedGroups = [...groupsChanged];
  }

  /** The newest window end the sessions have seen in this partition (µs; -Infinity before the first). */
  get eventTime(): number {
    this.settle();
    return this.horizon;
  }

  /** When the first running session of a silent group is due to end (µs of sample time; Infinity: none is). */
  nextSilentDeadline(): number {
    this.settle();
    let next = Infinity;
    for (const g of this.groups.values()) next = Math.min(next, silentDeadline(g, this.o.sessions) ?? Infinity);
    return next;
  }

  /**
   * Moves the partition's time on without a window, for a partition that receives nothing at all
   * (the processor: by the wall time since its last input), and ends the sessions then due, as a
   * window reaching that time would have. Returns what it changed, as `process` does.
   */
  advanceTo(timeUs: number): EngineOutput {
    this.settle();
    const out: EngineOutput = { windows: [], sessions: [], duplicates: 0, skipped: 0, featuresSent: 0, changedSensors: [], changedGroups: [] };
    const groupsChanged = new Set<string>();
    if (timeUs > this.horizon) {
      this.horizon = timeUs;
      if (this.horizon >= this.silentCheckAt) this.endSilentGroups(out, groupsChanged);
    }
    out.changedGroups = [...groupsChanged];
    return out;
  }

  /** The newest window end the sessions have seen in this partition (µs): the time silent groups are measured by. */
  private horizon = -Infinity;
  /** No group's silent deadline comes before this (a lower bound; -Infinity: not known, look). */
  private silentCheckAt = -Infinity;

  /**
   * Ends the sessions of groups that sent nothing for their idle gap and grace, as measured by the
   * partition's newest window (`SessionOptions.silentGraceS`), in deadline order, and notes when the
   * next is due. Runs when a window moves the horizon past that, so how frames were split into
   * calls, and a restore, change nothing.
   */
  private endSilentGroups(out: EngineOutput, groupsChanged: Set<string>): void {
    const due: [number, string, GroupState][] = [];
    let next = Infinity;
    for (const [id, g] of this.groups) {
      const d = silentDeadline(g, this.o.sessions);
      if (d === null) continue;
      if (d <= this.horizon) due.push([d, id, g]);
      else next = Math.min(next, d);
    }
    due.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    for (const [, id, g] of due) {
      out.sessions.push(endSilent(g, this.horizon, this.o.sessions)!);
      groupsChanged.add(id);
    }
    this.silentCheckAt = next;
  }

  private sessionFeaturesOf: { model: ActivityModel | null; list: [string, number][] } | null = null;
  /** Names and positions (in the model's features) of the features sessions read. */
  private sessionFeatures(): [string, number][] {
    if (this.sessionFeaturesOf?.model !== this.model) {
      const names = this.model?.info.featureNames ?? [];
      const wanted = new Set([...this.o.sessions.summaries, ...(this.o.sessions.activeFeature ? [this.o.sessions.activeFeature.name] : [])]);
      this.sessionFeaturesOf = { model: this.model, list: names.flatMap((n, i): [string, number][] => (wanted.has(n) ? [[n, i]] : [])) };
    }
    return this.sessionFeaturesOf.list;
  }

  private stepS(w: WindowResult): number {
    return w.hop / w.sampleRate;
  }

  /**
   * Adds a raw frame's samples to the sensor's pending samples and calls `emit` for every whole
   * window. Returns true when the frame was only appended to samples a snapshot saves by origin
   * (no new start, no window): a restore then finds it again in the input, and the sensor's
   * changelog record need not be written for it.
   */
  private cutRaw(s: SensorState, f: Frame, emit: (channels: Float32Array[], t0: number, rate: number) => void): boolean {
    const ex = this.extractor(f.sampleRate);
    const { window, hop } = ex.config;
    const expectedT0 = s.pending ? s.pending.t0 + Math.round((s.pending.n * 1e6) / s.pending.rate) : null;
    // A gap (flagged, a skipped seq's worth of time, or another rate) starts the windows again.
    let appendOnly = true;
    if (!s.pending || s.pending.rate !== f.sampleRate || (f.flags & FLAG_GAP) !== 0 || Math.abs(f.t0 - expectedT0!) > 1e6 / f.sampleRate) {
      appendOnly = false;
      s.pending = { t0: f.t0, rate: f.sampleRate, n: 0, data: Array.from({ length: CHANNELS }, () => new Float32Array(window + f.count)), sources: [], skip: 0 };
    }
    const p = s.pending;
    if (p.origin) throw new Error(`sensor ${f.sensorId}: its pending samples were never read again from the input (refill)`);
    // Saved by origin only while every source has its offset, and from a first source on.
    const offset = (f as SourcedFrame).offset;
    p.sourced ??= !p.sources.some((src) => src.offset === undefined);
    if (!p.sources.length || offset === undefined || !p.sourced) appendOnly = false;
    p.sources.push({ offset, t0: f.t0, count: f.count });
    if (offset === undefined) p.sourced = false;
    const n = p.n + f.count;
    if (p.data[0]!.length < n) p.data = p.data.map((ch) => {
      const grown = new Float32Array(Math.max(n, 2 * ch.length));
      grown.set(ch.subarray(0, p.n));
      return grown;
    });
    for (let c = 0; c < CHANNELS; c++) {
      const ch = p.data[c]!;
      for (let i = 0, src = c * f.count; i < f.count; i++) ch[p.n + i] = f.data[src + i]!;
    }
    p.n = n;
    while (p.n >= window) {
      appendOnly = false;
      emit(p.data, p.t0, p.rate); // copied at once, before the samples move
      for (const ch of p.data) ch.copyWithin(0, hop, p.n);
      p.n -= hop;
      p.t0 += Math.round((hop * 1e6) / p.rate);
      // The frames wholly behind the new start are no longer sources.
      let behind = p.skip + hop;
      let drop = 0;
      while (drop < p.sources.length && behind >= p.sources[drop]!.count) behind -= p.sources[drop++]!.count;
      if (drop) {
        p.sources.splice(0, drop);
        p.sourced = undefined;
      }
      p.skip = behind;
    }
    return appendOnly;
  }

  /** How long the last process() call's inference took, ms, from its first run to its last result (the processor's debug log). */
  lastClassifyMs = 0;

  /** Runs the model over the windows of its layout: round r takes every sensor's r-th window, so each sensor's state goes window by window. */
  private async classify(perSensor: Map<string, WindowResult[]>): Promise<void> {
    const model = this.model;
    if (!model) return;
    const { features: F, state: H, classes, layoutId } = model.info;
    const fits = (w: WindowResult) => w.features.length === F && (layoutId === undefined || w.layoutId === layoutId);
    const queues = [...perSensor.entries()].map(([id, ws]) => ({ s: this.sensors.get(id)!, ws: ws.filter(fits) })).filter((q) => q.ws.length);
    for (let r = 0; queues.some((q) => q.ws.length > r); r++) {
      const live = queues.filter((q) => q.ws.length > r);
      const x = new Float32Array(live.length * F);
      const h = new Float32Array(live.length * H);
      live.forEach((q, k) => {
        x.set(q.ws[r]!.features, k * F);
        if (q.s.modelState?.length === H) h.set(q.s.modelState, k * H);
      });
      const y = await model.run(x, h, live.length);
      live.forEach((q, k) => {
        const scores = y.scores.subarray(k * classes.length, (k + 1) * classes.length);
        let best = 0;
        for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
        const w = q.ws[r]!;
        w.scores = scores;
        w.label = classes[best]!;
        // In place: nothing else holds a sensor's state (a snapshot encodes it at once).
        let st = q.s.modelState;
        if (st?.length !== H) st = q.s.modelState = new Array<number>(H);
        for (let i = 0, from = k * H; i < H; i++) st[i] = y.nextState[from + i]!;
      });
    }
  }

  /**
   * A sensor's state as JSON-ready data (for the changelog). Pending samples whose frames all carry
   * an input offset are saved as where they came from (`origin`); the others as the samples.
   */
  snapshotSensor(id: string): SensorSnapshot | null {
    this.settle();
    const s = this.sensors.get(id);
    if (!s) return null;
    const p = s.pending;
    let pending: SensorSnapshot['pending'] = null;
    if (p?.origin) pending = { t0: p.t0, rate: p.rate, n: p.n, origin: p.origin };
    else if (p) {
      let offset = Infinity;
      for (const src of p.sources) offset = src.offset === undefined ? NaN : Math.min(offset, src.offset);
      pending = p.n === 0 || !p.sources.length
        ? { t0: p.t0, rate: p.rate, n: 0, data: [] }
        : Number.isFinite(offset)
          ? { t0: p.t0, rate: p.rate, n: p.n, origin: { offset, t0: p.sources[0]!.t0, skip: p.skip } }
          : { t0: p.t0, rate: p.rate, n: p.n, data: p.data.map((ch) => f32ToBase64(ch.subarray(0, p.n))) };
    }
    return {
      gatewayId: s.gatewayId,
      group: s.group,
      pending,
      modelState: s.modelState && f32ToBase64(s.modelState),
      raw: streamToJson(s.raw),
      features: streamToJson(s.features),
      ...this.sessionEntries(id, s.group),
    };
  }

  /** A sensor's entries in a group's state, for its record. */
  private sessionEntries(id: string, group: string): Pick<SensorSnapshot, 'session'> {
    const g = this.groups.get(group);
    const latest = g?.latest[id];
    const aggregate = g?.session?.sensors[id];
    if (!latest && !aggregate) return {};
    return { session: { ...(latest ? { latest } : {}), ...(aggregate ? { sessionId: g!.session!.sessionId, aggregate } : {}) } };
  }

  /** A group's state as JSON-ready data: its sensors' entries left to their own records (0 in their place). */
  snapshotGroup(group: string): GroupSnapshot | null {
    this.settle();
    const g = this.groups.get(group);
    if (!g) return null;
    const own = (id: string) => this.sensors.get(id)?.group === group;
    const latest: GroupSnapshot['latest'] = {};
    for (const id in g.latest) latest[id] = own(id) ? 0 : g.latest[id]!;
    let session: GroupSnapshot['session'] = null;
    if (g.session) {
      const sensors: Record<string, SensorAggregate | 0> = {};
      for (const id in g.session.sensors) sensors[id] = own(id) ? 0 : g.session.sensors[id]!;
      session = { ...g.session, sensors };
    }
    return { ...g, latest, session };
  }

  restoreSensor(id: string, snap: SensorSnapshot): void {
    const p = snap.pending;
    let pending: Pending | null = null;
    if (p?.origin) pending = { t0: p.t0, rate: p.rate, n: p.n, data: [], sources: [], skip: 0, origin: p.origin };
    else if (p) {
      // Samples saved as such (also by versions before origins): no source offsets to give.
      const data = (p.data ?? []).map(base64ToF32);
      pending = { t0: p.t0, rate: p.rate, n: p.n, data: data.length ? data : Array.from({ length: CHANNELS }, () => new Float32Array(0)), sources: p.n ? [{ offset: undefined, t0: p.t0, count: p.n }] : [], skip: 0 };
    }
    this.sensors.set(id, {
      gatewayId: snap.gatewayId,
      group: snap.group,
      pending,
      modelState: snap.modelState === null ? null : Array.from(base64ToF32(snap.modelState)),
      raw: streamFromJson(snap.raw),
      features: streamFromJson(snap.features),
    });
    if (snap.session) this.restoredEntries.set(id, snap.session);
    else this.restoredEntries.delete(id);
    this.unsettled = true;
  }

  /**
   * Sensors whose pending samples came (partly) from records before `offset` are to be saved with
   * their samples from now on, so that a restore never reads far back (or past the input's
   * retention) for a sensor gone quiet. Returns them: their state changed.
   */
  pinPendingBefore(offset: number): string[] {
    const pinned: string[] = [];
    for (const [id, s] of this.sensors) {
      const p = s.pending;
      if (!p || p.origin || !p.n) continue;
      if (p.sources.some((src) => src.offset !== undefined && src.offset < offset)) {
        for (const src of p.sources) src.offset = undefined;
        p.sourced = false;
        pinned.push(id);
      }
    }
    return pinned;
  }

  /** The lowest input offset a refill must read from (null: every sensor's samples are in place). */
  refillFrom(): number | null {
    let from: number | null = null;
    for (const s of this.sensors.values()) if (s.pending?.origin) from = Math.min(from ?? Infinity, s.pending.origin.offset);
    return from;
  }

  /**
   * Puts back the pending samples of restored sensors from the raw frames of the input between
   * `refillFrom()` and the committed offset, in offset order (frames carrying their `offset`).
   * Each sensor's samples are laid out again from the frames that made them: from its origin frame
   * on, in sample-time order, each stretch once (as the sequencer took them), leaving out the frames
   * its sequencer still holds. Throws, naming the sensor, when the input does not hold them all.
   */
  refill(frames: readonly SourcedFrame[]): void {
    const bySensor = new Map<string, Map<number, SourcedFrame>>();
    for (const f of frames) {
      const s = this.sensors.get(f.sensorId);
      const o = s?.pending?.origin;
      if (!o || f.kind !== 'raw' || f.width !== CHANNELS || f.sampleRate !== s.pending!.rate || f.t0 < o.t0) continue;
      let m = bySensor.get(f.sensorId);
      if (!m) bySensor.set(f.sensorId, (m = new Map()));
      // The first copy in offset order is the one the sequencer took.
      if (!m.has(f.t0)) m.set(f.t0, f);
    }
    for (const [id, s] of this.sensors) {
      const p = s.pending;
      const o = p?.origin;
      if (!p || !o) continue;
      const held = new Set(s.raw.pending.map((x) => x.item.t0));
      const list = [...(bySensor.get(id)?.values() ?? [])].filter((f) => !held.has(f.t0)).sort((a, b) => a.t0 - b.t0);
      const ex = this.extractor(p.rate);
      const data = Array.from({ length: CHANNELS }, () => new Float32Array(Math.max(ex.config.window, p.n)));
      const sources: Source[] = [];
      let n = 0;
      let skip = o.skip;
      if (list[0]?.t0 !== o.t0) throw new Error(`sensor ${id}: the frame its pending samples start in (sample time ${o.t0} µs, at or after input offset ${o.offset}) is not in the input read back`);
      // The frames that follow each other from the origin on, as the sequencer took them: the
      // samples the state counted, and those of frames only appended since it was last written.
      const tolerance = Math.max(1, 1e6 / p.rate / 2);
      let end: number | null = null;
      for (const f of list) {
        if (end !== null && f.t0 + Math.round((f.count * 1e6) / p.rate) <= end + tolerance) continue; // a duplicate
        if (end !== null && Math.abs(f.t0 - end) > tolerance) break; // not next: after a frame still missing
        end = f.t0 + Math.round((f.count * 1e6) / p.rate);
        const take = f.count - skip;
        if (n + take > data[0]!.length) for (let c = 0; c < CHANNELS; c++) {
          const grown = new Float32Array(2 * (n + take));
          grown.set(data[c]!.subarray(0, n));
          data[c] = grown;
        }
        for (let c = 0; c < CHANNELS; c++) data[c]!.set(f.data.subarray(c * f.count + skip, (c + 1) * f.count), n);
        sources.push({ offset: f.offset, t0: f.t0, count: f.count });
        n += take;
        skip = 0;
      }
      if (n < p.n) throw new Error(`sensor ${id}: ${p.n} pending samples in its state, ${n} found again in the input from offset ${o.offset}`);
      if (n >= ex.config.window) throw new Error(`sensor ${id}: ${n} samples found again from offset ${o.offset}, a whole window that should have been emitted`);
      s.pending = { t0: p.t0, rate: p.rate, n, data, sources, skip: o.skip };
      if (end !== null && (s.raw.end === null || end > s.raw.end)) s.raw.end = end;
    }
  }

  /** A group's record, read back (records of earlier versions, with every entry in place, too). */
  restoreGroup(group: string, snap: GroupSnapshot): void {
    this.groups.set(group, snap as GroupState);
    this.unsettled = true;
  }

  /**
   * Puts the session entries read back with the sensors' records into their groups' states, in the
   * places the groups' records kept for them. Done before anything reads or changes the state; a
   * place left empty means the changelog lost a record, and fails the restore naming it.
   */
  finishRestore(): void {
    this.unsettled = false;
    for (const [id, s] of this.sensors) {
      const e = this.restoredEntries.get(id);
      if (!e) continue;
      let g = this.groups.get(s.group);
      if (!g) this.groups.set(s.group, (g = newGroupState()));
      if (e.latest) g.latest[id] = e.latest;
      if (e.aggregate && g.session && g.session.sessionId === e.sessionId) g.session.sensors[id] = e.aggregate;
    }
    this.restoredEntries.clear();
    // The partition's newest window, as the sessions saw it: the newest of their sensors' latest.
    this.horizon = -Infinity;
    this.silentCheckAt = -Infinity;
    for (const g of this.groups.values()) for (const id in g.latest) this.horizon = Math.max(this.horizon, (g.latest[id] as { t1?: number }).t1 ?? -Infinity);
    for (const [group, g] of this.groups) {
      const missing = [
        ...Object.keys(g.latest).filter((id) => (g.latest[id] as unknown) === 0),
        ...Object.keys(g.session?.sensors ?? {}).filter((id) => (g.session!.sensors[id] as unknown) === 0),
      ];
      if (missing.length) throw new Error(`group ${group}: the session entries of sensor ${missing[0]} were not in the changelog (${missing.length} missing)`);
    }
  }

  private unsettled = false;
  private readonly restoredEntries = new Map<string, NonNullable<SensorSnapshot['session']>>();
  private settle(): void {
    if (this.unsettled) this.finishRestore();
  }
}
