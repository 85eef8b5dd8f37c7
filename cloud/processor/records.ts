// The processor's output records (edgewave.inferences and edgewave.sessions: JSON, keyed by group).
//
// An inference record holds windows of one group, one JSON line each (newline-delimited JSON, in
// the order the processor produced them; at most about 64 KiB a record). A line is one window:
//   { sensorId, gatewayId, group, seq, t0, t1, sampleRate, hop, layoutId, source,
//     features,                       base64 of the window's features, float32 little-endian
//     label?, confidence?, scores?,   when classified: the class, its score, all scores (base64 f32)
//     classes? }                      the model's classes, in the order of scores
// Features and scores travel as the float32 bytes they are: exact, and about ten times cheaper to
// write than decimal numbers, which matters at tens of thousands of windows per second.
// One record per window cost the processor more than the windows did (kafkajs encodes every record
// by itself), and every reader as much again. JSON text never holds a raw newline (JSON.stringify
// escapes it), so a reader splits a record on '\n'; a record of one line is one window, as before.
// `inferenceLines` splits a record, `parseInference` turns a line back into numbers.

import { base64ToF32, f32ToBase64, type WindowResult } from './engine.js';
import type { SessionEvent } from './sessions.js';

/** One window of an inference record (a line) as it travels. */
export interface InferenceRecord extends Omit<WindowResult, 'features' | 'scores'> {
  features: string;
  confidence?: number;
  scores?: string;
  classes?: string[];
}

/** A window read back: features and scores as float32 values. */
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

/** The target size of an inference record: many windows a record, and far under the broker's limit. */
export const INFERENCE_RECORD_BYTES = 64 * 1024;

/**
 * The inference records of windows: per group (the key), in the windows' order, as many windows as
 * fit in `maxBytes` of UTF-8 (a window longer than that alone), one JSON line each.
 */
export function inferenceMessages(windows: readonly WindowResult[], classesJson: string, maxBytes = INFERENCE_RECORD_BYTES): { key: string; value: string }[] {
  const open = new Map<string, { lines: string[]; bytes: number }>();
  const out: { key: string; value: string }[] = [];
  for (const x of windows) {
    const line = inferenceJson(x, classesJson);
    const bytes = Buffer.byteLength(line);
    let r = open.get(x.group);
    if (r && r.bytes + 1 + bytes > maxBytes) {
      out.push({ key: x.group, value: r.lines.join('\n') });
      r = undefined;
    }
    if (!r) open.set(x.group, (r = { lines: [], bytes: -1 }));
    r.lines.push(line);
    r.bytes += 1 + bytes;
  }
  for (const [key, r] of open) out.push({ key, value: r.lines.join('\n') });
  return out;
}

/** The windows of an inference record, one JSON text each (empty lines skipped). */
export function inferenceLines(value: string): string[] {
  return value.split('\n').filter((l) => l.length > 0);
}

/** Every window of an inference record, with features and scores as numbers. */
export function parseInferences(value: string): Inference[] {
  return inferenceLines(value).map(parseInference);
}

/** An inference line's JSON, with its features and scores as numbers again. */
export function parseInference(text: string): Inference {
  const r = JSON.parse(text) as InferenceRecord;
  const { scores, ...rest } = r;
  return { ...rest, features: base64ToF32(r.features), ...(scores !== undefined ? { scores: base64ToF32(scores) } : {}) };
}
