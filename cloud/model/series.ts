// One sensor's samples through what the pipeline does to them: the dsp/ kernels cut them into
// windows of the `uplink` preset (what an edge agent sends and the processor computes from raw
// frames), and the activity model classifies the windows in order, its state carried from one
// window to the next as the processor carries it per sensor. The kernel lab runs this in the
// browser and the API runs it on the server, so the two can be compared bit for bit.
// Browser-safe: no Node modules.

import { FEATURE_PRESETS, FeatureExtractor, type DspModule } from '../../dsp/src/index.js';
import type { ImuSeries } from './imu-csv.js';
import type { ActivityModel } from './model.js';

export interface SeriesAnalysis {
  sampleRate: number;
  window: number;
  hop: number;
  layoutId: number;
  names: string[];
  /** Windows found; features is windows x names.length. */
  windows: number;
  /** Index of each window's first sample. */
  starts: number[];
  features: Float32Array;
  /** With a model: each window's class, and its scores (windows x classes.length). */
  classes?: string[];
  labels?: string[];
  scores?: Float32Array;
}

const CHUNK = 256;

export async function analyzeSeries(series: ImuSeries, o: { dsp: DspModule; model?: ActivityModel | null }): Promise<SeriesAnalysis> {
  const ex = new FeatureExtractor(o.dsp, { ...FEATURE_PRESETS.uplink, sampleRate: series.sampleRate, capacity: 1, maxChunk: CHUNK });
  const width = ex.width;
  const slot = ex.slotOf('lab');
  const n = series.count;
  const rows: Float32Array[] = [];
  const starts: number[] = [];
  const chunk = new Float32Array(6 * CHUNK);
  for (let at = 0; at < n; at += CHUNK) {
    const k = Math.min(CHUNK, n - at);
    const planar = k === CHUNK ? chunk : new Float32Array(6 * k);
    for (let c = 0; c < 6; c++) planar.set(series.samples.subarray(c * n + at, c * n + at + k), c * k);
    const w = ex.push([{ slot, samples: planar }]);
    for (let i = 0; i < w.count; i++) {
      rows.push(w.features.slice(i * width, (i + 1) * width));
      starts.push(w.starts[i]!);
    }
  }
  const features = new Float32Array(rows.length * width);
  rows.forEach((r, i) => features.set(r, i * width));
  const out: SeriesAnalysis = {
    sampleRate: series.sampleRate,
    window: ex.config.window,
    hop: ex.config.hop,
    layoutId: ex.layout.id,
    names: ex.layout.features.map((f) => f.name),
    windows: rows.length,
    starts,
    features,
  };
  const model = o.model;
  // The processor's rule: the model classifies windows of its own layout only.
  if (model && model.info.features === width && (model.info.layoutId === undefined || model.info.layoutId === ex.layout.id)) {
    const { state: H, classes } = model.info;
    let state = new Float32Array(H);
    const scores = new Float32Array(rows.length * classes.length);
    const labels: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      const y = await model.run(rows[i]!, state, 1);
      scores.set(y.scores.subarray(0, classes.length), i * classes.length);
      let best = 0;
      for (let c = 1; c < classes.length; c++) if (y.scores[c]! > y.scores[best]!) best = c;
      labels.push(classes[best]!);
      state = Float32Array.from(y.nextState);
    }
    Object.assign(out, { classes: [...classes], labels, scores });
  }
  return out;
}
