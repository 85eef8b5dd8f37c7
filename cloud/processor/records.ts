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

import { EdgewaveError } from '../../protocol/errors.js';
import { base64ToF32, f32ToBase64, type WindowResult } from './engine.js';
import type { SensorAggregate, SessionEvent } from './sessions.js';

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

/**
 * A session record: a session event, whole, or one part of it. An event whose JSON would pass the
 * record size (a group of some 1,500 sensors at the default 1 MB, each sensor's aggregate being
 * about 660 bytes) travels as `part.count` records, each with the whole event but a share of
 * `session.sensors`, in order, in one transaction; `SessionAssembler` puts them together again.
 */
export interface SessionRecord extends SessionEvent {
  part?: { index: number; count: number };
}

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

/**
 * The records of session events, keyed by group: an event's JSON as it is when it fits in
 * `maxBytes` of UTF-8, else parts of it, each under `maxBytes`, sharing out its sensors' entries.
 * Throws EW_PROCESSOR_RECORD_SIZE when the event without sensors and one sensor's entry alone pass it.
 */
export function sessionMessages(events: readonly SessionEvent[], maxBytes: number): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = [];
  for (const ev of events) {
    const whole = JSON.stringify(ev satisfies SessionRecord);
    if (Buffer.byteLength(whole) <= maxBytes) {
      out.push({ key: ev.session.group, value: whole });
      continue;
    }
    const entries = Object.entries(ev.session.sensors);
    // The bytes of everything but the sensors' entries, its part numbers at their widest.
    const head = Buffer.byteLength(JSON.stringify({ ...ev, session: { ...ev.session, sensors: {} }, part: { index: entries.length, count: entries.length } }));
    const shares: [string, SensorAggregate][][] = [];
    let share: [string, SensorAggregate][] = [];
    let bytes = head;
    for (const entry of entries) {
      // "id":{...} and a comma
      const n = Buffer.byteLength(JSON.stringify(entry[0])) + Buffer.byteLength(JSON.stringify(entry[1])) + 2;
      if (head + n > maxBytes) {
        throw new EdgewaveError('EW_PROCESSOR_RECORD_SIZE', `session ${ev.session.sessionId}: sensor ${entry[0]}'s entry (${n} bytes) and the rest of the event (${head} bytes) do not fit in a record of ${maxBytes} bytes (kafka.maxRecordBytes − 4 KiB)`);
      }
      if (share.length && bytes + n > maxBytes) {
        shares.push(share);
        share = [];
        bytes = head;
      }
      share.push(entry);
      bytes += n;
    }
    shares.push(share);
    shares.forEach((sh, index) => {
      const part: SessionRecord = { ...ev, session: { ...ev.session, sensors: Object.fromEntries(sh) }, part: { index, count: shares.length } };
      out.push({ key: ev.session.group, value: JSON.stringify(part) });
    });
  }
  return out;
}

/**
 * Session records back into events, for one partition's records in their order: a whole event
 * comes out as it is, a part is held until every part of its event is in (parts of different events
 * may interleave, a part read twice counts once). `firstPendingOffset` is where a reader that
 * commits offsets must stop, so that parts held when it stops are read again.
 */
export class SessionAssembler {
  private readonly pending = new Map<string, { first: SessionRecord; parts: (Record<string, SensorAggregate> | undefined)[]; missing: number; offset: bigint | undefined }>();
  /** Per session, the key of its event held in parts. */
  private readonly heldFor = new Map<string, string>();
  /** Events dropped with parts missing because a later event of their session came. */
  torn = 0;

  /** The event `r` completes, or undefined while parts of it are missing. */
  add(r: SessionRecord, offset?: string | bigint): SessionEvent | undefined {
    const id = r.session.sessionId;
    const key = r.part ? `${r.type}\u0000${r.session.updatedAt}\u0000${r.part.count}` : undefined;
    // A session's events are written in order, each whole or all its parts together (one
    // transaction, or one record batch): an event held in parts that another of its session
    // follows lost its other parts, and the later event is newer.
    const held = this.heldFor.get(id);
    if (held !== undefined && held !== key) {
      this.pending.delete(`${id}\u0000${held}`);
      this.heldFor.delete(id);
      this.torn++;
    }
    if (!r.part) return r;
    const { index, count } = r.part;
    if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count)) {
      throw new EdgewaveError('EW_PROCESSOR_SESSION_PART', `session ${id}: part ${index} of ${count} is no part`);
    }
    let p = this.pending.get(`${id}\u0000${key}`);
    if (!p) {
      this.pending.set(`${id}\u0000${key}`, (p = { first: r, parts: new Array<Record<string, SensorAggregate> | undefined>(count), missing: count, offset: offset === undefined ? undefined : BigInt(offset) }));
      this.heldFor.set(id, key!);
    }
    if (p.parts[index] === undefined) p.missing--;
    p.parts[index] = r.session.sensors;
    if (p.missing > 0) return undefined;
    this.pending.delete(`${id}\u0000${key}`);
    this.heldFor.delete(id);
    const { part: _part, ...ev } = p.first;
    return { ...ev, session: { ...ev.session, sensors: Object.assign({}, ...p.parts) as Record<string, SensorAggregate> } };
  }

  /** The offset of the first record of an event still missing parts, if any. */
  firstPendingOffset(): bigint | undefined {
    let min: bigint | undefined;
    for (const p of this.pending.values()) if (p.offset !== undefined && (min === undefined || p.offset < min)) min = p.offset;
    return min;
  }

  /** Parts held (of events not yet whole). */
  get held(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.parts.length - p.missing;
    return n;
  }

  clear(): void {
    this.pending.clear();
    this.heldFor.clear();
  }
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
