// The JSON form of a frame, for third-party sensors and for people reading a topic.
// It carries the same fields as the binary form; values become float32 when converted.
//
//   raw:      {"v":1,"kind":"raw","sensorId","gatewayId","group","seq","t0","sampleRate",
//              "layoutId"?,"flags"?:["gap","replay","features-sent"],"samples":[[channel 0 values],[channel 1 values],...]}
//   features: {"v":1,"kind":"features",... ,"window","hop","layoutId",
//              "features":[[window 0 values],[window 1 values],...]}
//
// Unknown fields are rejected, so a misspelt field is an error rather than silently dropped.

import { z } from 'zod';
import { ProtocolError } from './errors.js';
import { checkAdmission } from './decode-frame.js';
import { validateFrame } from './encode-frame.js';
import { FLAG_FEATURES_SENT, FLAG_GAP, FLAG_REPLAY, FRAME_VERSION, type DecodeOptions, type Frame } from './frame.js';
import { ID_PATTERN } from './ids.js';

const FLAG_NAMES = { gap: FLAG_GAP, replay: FLAG_REPLAY, 'features-sent': FLAG_FEATURES_SENT } as const;
type FlagName = keyof typeof FLAG_NAMES;

const id = z.string().regex(ID_PATTERN, 'must be 1-128 characters of [A-Za-z0-9_.:-]');
const safeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const row = z.array(z.number()).min(1);

const common = {
  v: z.literal(FRAME_VERSION),
  sensorId: id,
  gatewayId: id,
  group: id,
  seq: safeInt,
  t0: safeInt,
  sampleRate: z.number().positive(),
  flags: z.array(z.enum(['gap', 'replay', 'features-sent'])).optional(),
};

const rawSchema = z.strictObject({
  ...common,
  kind: z.literal('raw'),
  layoutId: z.number().int().min(0).max(0xffffffff).optional(),
  samples: z.array(row).min(1).max(0xffff),
});

const featuresSchema = z.strictObject({
  ...common,
  kind: z.literal('features'),
  layoutId: z.number().int().min(0).max(0xffffffff),
  window: z.number().int().min(1).max(0xffff),
  hop: z.number().int().min(1).max(0xffff),
  features: z.array(row).min(1),
});

const jsonFrameSchema = z.discriminatedUnion('kind', [rawSchema, featuresSchema]);
export type JsonFrame = z.infer<typeof jsonFrameSchema>;

function flagsToNames(flags: number): FlagName[] | undefined {
  const names = (Object.keys(FLAG_NAMES) as FlagName[]).filter((k) => (flags & FLAG_NAMES[k]) !== 0);
  return names.length ? names : undefined;
}

/** The JSON form of a frame (a plain object; JSON.stringify it to send). */
export function frameToJson(frame: Frame): JsonFrame {
  const flags = flagsToNames(frame.flags);
  const base = {
    v: FRAME_VERSION as 1,
    sensorId: frame.sensorId,
    gatewayId: frame.gatewayId,
    group: frame.group,
    seq: frame.seq,
    t0: frame.t0,
    sampleRate: frame.sampleRate,
    ...(flags ? { flags } : {}),
  };
  const rows: number[][] = [];
  if (frame.kind === 'raw') {
    for (let c = 0; c < frame.width; c++) rows.push(Array.from(frame.data.subarray(c * frame.count, (c + 1) * frame.count)));
    return { ...base, kind: 'raw', layoutId: frame.layoutId, samples: rows };
  }
  for (let w = 0; w < frame.count; w++) rows.push(Array.from(frame.data.subarray(w * frame.width, (w + 1) * frame.width)));
  return { ...base, kind: 'features', layoutId: frame.layoutId, window: frame.window, hop: frame.hop, features: rows };
}

export function encodeJsonFrame(frame: Frame): string {
  return JSON.stringify(frameToJson(frame));
}

function fieldError(issue: z.core.$ZodIssue): ProtocolError {
  const path = issue.path.map(String).join('.') || '(frame)';
  return new ProtocolError('EW_PROTO_FIELD', `${path}: ${issue.message}`, { field: path });
}

/** Builds a frame from an already-parsed JSON value, with the same checks as the binary decoder. */
export function jsonToFrame(value: unknown, options: DecodeOptions = {}): Frame {
  const parsed = jsonFrameSchema.safeParse(value);
  if (!parsed.success) throw fieldError(parsed.error.issues[0]!);
  const j = parsed.data;
  const rows = j.kind === 'raw' ? j.samples : j.features;
  const rowLength = rows[0]!.length;
  const bad = rows.findIndex((r) => r.length !== rowLength);
  if (bad >= 0) {
    const field = `${j.kind === 'raw' ? 'samples' : 'features'}.${bad}`;
    throw new ProtocolError('EW_PROTO_LENGTH', `${field} has ${rows[bad]!.length} values, row 0 has ${rowLength}`, { field });
  }
  const data = new Float32Array(rows.length * rowLength);
  rows.forEach((r, i) => data.set(r, i * rowLength));
  let flags = 0;
  for (const name of j.flags ?? []) flags |= FLAG_NAMES[name];
  // Raw rows are channels (planar), feature rows are windows: see the binary payload layout.
  const frame: Frame =
    j.kind === 'raw'
      ? { ...pick(j), flags, kind: 'raw', layoutId: j.layoutId ?? 0, count: rowLength, width: rows.length, window: 0, hop: 0, data }
      : { ...pick(j), flags, kind: 'features', layoutId: j.layoutId, count: rows.length, width: rowLength, window: j.window, hop: j.hop, data };
  validateFrame(frame);
  checkAdmission(frame.sensorId, frame.t0, options);
  return frame;
}

function pick(j: JsonFrame) {
  return { sensorId: j.sensorId, gatewayId: j.gatewayId, group: j.group, seq: j.seq, t0: j.t0, sampleRate: j.sampleRate };
}

/** Parses and checks a JSON frame from text or UTF-8 bytes. */
export function decodeJsonFrame(input: string | Uint8Array, options: DecodeOptions = {}): Frame {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('EW_PROTO_JSON', `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return jsonToFrame(value, options);
}
