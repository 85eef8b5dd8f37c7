// The processor's output records (edgewave.inferences and edgewave.sessions: JSON, keyed by group).
//
// An inference record is one window:
//   { sensorId, gatewayId, group, seq, t0, t1, sampleRate, hop, layoutId, source,
//     features,                       base64 of the window's features, float32 little-endian
//     label?, confidence?, scores?,   when classified: the class, its score, all scores (base64 f32)
//     classes? }                      the model's classes, in the order of scores
// Features and scores travel as the float32 bytes they are: exact, and about ten times cheaper to
// write than decimal numbers, which matters at tens of thousands of windows per second.
// `parseInference` turns a record back into numbers.

import { base64ToF32, f32ToBase64, type WindowResult } from './engine.js';
import type { SessionEvent } from './sessions.js';

/** An inference record as it travels. */
export interface InferenceRecord extends Omit<WindowResult, 'features' | 'scores'> {
  features: string;
  confidence?: number;
  scores?: string;
  classes?: string[];
}

/** An inference record read back: features and scores as float32 values. */
export interface Inference extends Omit<InferenceRecord, 'features' | 'scores'> {
  features: Float32Array;
  scores?: Float32Array;
}

/** A session record: a session event. */
export type SessionRecord = SessionEvent;

/** The JSON of a window's inference record, written directly (this runs for every window). */
export function inferenceJson(x: WindowResult, classesJson: string): string {
  let s = `{"sensorId":${JSON.stringify(x.sensorId)},"gatewayId":${JSON.stringify(x.gatewayId)},"group":${JSON.stringify(x.group)},"seq":${x.seq},"t0":${x.t0},"t1":${x.t1},"sampleRate":${x.sampleRate},"hop":${x.hop},"layoutId":${x.layoutId},"source":"${x.source}","features":"${f32ToBase64(x.features)}"`;
  if (x.label !== undefined) {
    const scores = x.scores ?? [];
    let best = -Infinity;
    for (const v of scores) if (v > best) best = v;
    s += `,"label":${JSON.stringify(x.label)},"confidence":${Number.isFinite(best) ? best : null},"scores":"${f32ToBase64(scores)}","classes":${classesJson}`;
  }
  return `${s}}`;
}

/** An inference record's JSON, with its features and scores as numbers again. */
export function parseInference(text: string): Inference {
  const r = JSON.parse(text) as InferenceRecord;
  const { scores, ...rest } = r;
  return { ...rest, features: base64ToF32(r.features), ...(scores !== undefined ? { scores: base64ToF32(scores) } : {}) };
}
