// Decoding binary frames: header checks (what a bridge needs) and full decode with zero-copy payloads.
// The byte layout is in frame.ts and protocol/README.md.

import { ProtocolError } from './errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_FUTURE_MS,
  FIXED_HEADER_BYTES,
  FLAG_FEATURES_SENT,
  FRAME_VERSION,
  KIND_BATCH,
  KIND_FEATURES,
  KIND_RAW,
  KNOWN_FLAGS,
  MAGIC_0,
  MAGIC_1,
  headerLengthFor,
  type DecodeOptions,
  type Frame,
  type FrameHeader,
  type FrameKind,
} from './frame.js';
import { ID_MAX_LENGTH, isIdByte } from './ids.js';

const MAX_SAFE_HI = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER
const TWO_32 = 0x1_0000_0000;

// Little-endian reads straight from the bytes: a DataView per frame cost more than the checks.
const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x100_0000;
const f32Value = new Float32Array(1);
const f32Bytes = new Uint8Array(f32Value.buffer);
function f32(b: Uint8Array, o: number): number {
  f32Bytes[0] = b[o]!;
  f32Bytes[1] = b[o + 1]!;
  f32Bytes[2] = b[o + 2]!;
  f32Bytes[3] = b[o + 3]!;
  return f32Value[0]!;
}

// Ids repeat from frame to frame (every frame of a sensor, of a gateway, of a group), so the string
// of an id's bytes is made once and found again by a hash of the bytes, checked byte for byte.
const INTERNED_MAX = 1 << 16;
const interned = new Map<number, string>();

function sameId(s: string, bytes: Uint8Array, start: number, length: number): boolean {
  if (s.length !== length) return false;
  for (let i = 0; i < length; i++) if (s.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

/** An id's string, its bytes checked; `base` is where the frame starts (errors give offsets within the frame). */
function readId(bytes: Uint8Array, start: number, length: number, field: string, base: number): string {
  let h = 0x811c9dc5;
  for (let i = start; i < start + length; i++) {
    const b = bytes[i]!;
    if (!isIdByte(b)) {
      throw new ProtocolError(
        'EW_PROTO_ID',
        `${field} has byte 0x${b.toString(16).padStart(2, '0')} at offset ${i - base}, outside [A-Za-z0-9_.:-]`,
        { field, offset: i - base },
      );
    }
    h = Math.imul(h ^ b, 0x01000193);
  }
  const key = h & 0x3fffffff;
  const known = interned.get(key);
  if (known !== undefined && sameId(known, bytes, start, length)) return known;
  let s = '';
  for (let i = start; i < start + length; i++) s += String.fromCharCode(bytes[i]!);
  if (interned.size >= INTERNED_MAX) interned.clear();
  interned.set(key, s);
  return s;
}

function range(field: string, offset: number, message: string): ProtocolError {
  return new ProtocolError('EW_PROTO_RANGE', `${field} ${message}`, { field, offset });
}

/** A u64 that must fit a safe integer, at frame offset `rel`. */
function readSafeU64(bytes: Uint8Array, base: number, rel: number, field: string): number {
  const lo = u32(bytes, base + rel);
  const hi = u32(bytes, base + rel + 4);
  if (hi > MAX_SAFE_HI) throw range(field, rel, 'exceeds 2^53-1');
  return hi * TWO_32 + lo;
}

/**
 * Checks magic and version, as far as the input reaches, then that the kind byte exists.
 * Shared by the frame and batch decoders so both name the same first problem.
 */
export function checkPrefix(bytes: Uint8Array, what: 'frame' | 'batch'): void {
  checkPrefixAt(bytes, 0, bytes.length, what);
}

function checkPrefixAt(bytes: Uint8Array, base: number, n: number, what: 'frame' | 'batch'): void {
  const b0 = n > 0 ? bytes[base] : undefined;
  const b1 = n > 1 ? bytes[base + 1] : undefined;
  if ((n > 0 && b0 !== MAGIC_0) || (n > 1 && b1 !== MAGIC_1)) {
    throw new ProtocolError('EW_PROTO_MAGIC', `expected magic 45 57 ("EW"), got ${hex(b0)} ${hex(b1)}`, {
      field: 'magic',
      offset: 0,
    });
  }
  if (n > 2 && bytes[base + 2] !== FRAME_VERSION) {
    throw new ProtocolError('EW_PROTO_VERSION', `${what} version ${bytes[base + 2]} is not supported (this decoder reads ${FRAME_VERSION})`, {
      field: 'version',
      offset: 2,
    });
  }
  if (n < 4) throw new ProtocolError('EW_PROTO_TRUNCATED', `${n} bytes is shorter than a ${what}'s first 4`, { offset: n });
}

/**
 * Checks and reads a frame's header and lengths without touching the payload values.
 * `bytes` must hold exactly one frame.
 */
export function decodeFrameHeader(bytes: Uint8Array, options: DecodeOptions = {}): FrameHeader {
  return decodeFrameHeaderAt(bytes, 0, bytes.length, options);
}

/**
 * `decodeFrameHeader` of the frame that is the `n` bytes of `bytes` from `base` (a batch's entry,
 * without a view of it). Error offsets are within the frame.
 */
export function decodeFrameHeaderAt(bytes: Uint8Array, base: number, n: number, options: DecodeOptions = {}): FrameHeader {
  // Identify what the bytes are before complaining that they are short: a stray text message
  // should read as "not an edgewave frame", not as "truncated".
  checkPrefixAt(bytes, base, n, 'frame');
  const kindByte = bytes[base + 3]!;
  if (kindByte !== KIND_RAW && kindByte !== KIND_FEATURES) {
    throw new ProtocolError(
      'EW_PROTO_KIND',
      kindByte === KIND_BATCH
        ? 'a batch frame where a single frame was expected'
        : `frame kind ${kindByte} is unknown (1 raw, 2 features, 3 batch)`,
      { field: 'kind', offset: 3 },
    );
  }
  if (n < FIXED_HEADER_BYTES) {
    throw new ProtocolError('EW_PROTO_TRUNCATED', `${n} bytes is shorter than the ${FIXED_HEADER_BYTES}-byte fixed header`, {
      offset: n,
    });
  }
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (n > maxFrameBytes) {
    throw new ProtocolError('EW_PROTO_LENGTH', `frame of ${n} bytes exceeds the ${maxFrameBytes}-byte limit`, { offset: 0 });
  }
  const flags = u16(bytes, base + 4);
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new ProtocolError('EW_PROTO_FLAGS', `flags 0x${flags.toString(16)} set bits that version 1 does not define`, {
      field: 'flags',
      offset: 4,
    });
  }
  const headerLength = u16(bytes, base + 6);
  const seq = readSafeU64(bytes, base, 8, 'seq');
  if (bytes[base + 23]! & 0x80) throw range('t0', 16, 'is negative');
  const t0 = readSafeU64(bytes, base, 16, 't0');
  const sampleRate = f32(bytes, base + 24);
  if (!(sampleRate > 0) || sampleRate === Infinity) throw range('sampleRate', 24, `must be finite and > 0, got ${sampleRate}`);
  const count = u32(bytes, base + 28);
  if (count < 1) throw range('count', 28, 'must be >= 1');
  const width = u16(bytes, base + 32);
  if (width < 1) throw range('width', 32, 'must be >= 1');
  const window = u16(bytes, base + 34);
  const hop = u16(bytes, base + 36);
  const kind: FrameKind = kindByte === KIND_RAW ? 'raw' : 'features';
  if (kind === 'raw') {
    if (window !== 0) throw range('window', 34, 'must be 0 in a raw frame');
    if (hop !== 0) throw range('hop', 36, 'must be 0 in a raw frame');
  } else {
    if (window < 1) throw range('window', 34, 'must be >= 1 in a feature frame');
    if (hop < 1 || hop > window) throw range('hop', 36, `must be in 1..window (${window}), got ${hop}`);
    if (flags & FLAG_FEATURES_SENT) throw featuresSentOnFeatures(4);
  }
  if (u16(bytes, base + 38) !== 0) {
    throw new ProtocolError('EW_PROTO_RESERVED', 'reserved bytes 38-39 must be zero', { field: 'reserved', offset: 38 });
  }
  const layoutId = u32(bytes, base + 40);
  const sensorLen = bytes[base + 44]!;
  const gatewayLen = bytes[base + 45]!;
  const groupLen = bytes[base + 46]!;
  if (bytes[base + 47] !== 0) {
    throw new ProtocolError('EW_PROTO_RESERVED', 'reserved byte 47 must be zero', { field: 'reserved', offset: 47 });
  }
  checkIdLength('sensorId', sensorLen, 44);
  checkIdLength('gatewayId', gatewayLen, 45);
  checkIdLength('group', groupLen, 46);
  const expectedHeader = headerLengthFor(sensorLen + gatewayLen + groupLen);
  if (headerLength !== expectedHeader) {
    throw new ProtocolError(
      'EW_PROTO_LENGTH',
      `headerLength ${headerLength} does not match the id lengths (${sensorLen}+${gatewayLen}+${groupLen} bytes need ${expectedHeader})`,
      { field: 'headerLength', offset: 6 },
    );
  }
  if (n < headerLength) {
    throw new ProtocolError('EW_PROTO_TRUNCATED', `${n} bytes is shorter than the ${headerLength}-byte header`, { offset: n });
  }
  const byteLength = headerLength + 4 * count * width;
  if (byteLength !== n) {
    throw new ProtocolError(
      n < byteLength ? 'EW_PROTO_TRUNCATED' : 'EW_PROTO_LENGTH',
      `count ${count} x width ${width} needs ${byteLength} bytes, input has ${n}`,
      { field: 'count', offset: 28, details: { expected: byteLength, actual: n } },
    );
  }
  let p = base + FIXED_HEADER_BYTES;
  const sensorId = readId(bytes, p, sensorLen, 'sensorId', base);
  p += sensorLen;
  const gatewayId = readId(bytes, p, gatewayLen, 'gatewayId', base);
  p += gatewayLen;
  const group = readId(bytes, p, groupLen, 'group', base);
  p += groupLen;
  for (; p < base + headerLength; p++) {
    if (bytes[p] !== 0) throw new ProtocolError('EW_PROTO_RESERVED', `padding byte at offset ${p - base} must be zero`, { field: 'padding', offset: p - base });
  }
  checkAdmission(sensorId, t0, options, true);
  return { kind, flags, sensorId, gatewayId, group, seq, t0, sampleRate, count, width, window, hop, layoutId, headerLength, byteLength };
}

/** FLAG_FEATURES_SENT says a raw frame's samples also travel as features: it means nothing on a feature frame. */
export function featuresSentOnFeatures(offset?: number): ProtocolError {
  return new ProtocolError('EW_PROTO_FLAGS', 'flag FEATURES_SENT (bit 2) is for raw frames only, and this is a feature frame', {
    field: 'flags',
    ...(offset === undefined ? {} : { offset }),
  });
}

function checkIdLength(field: string, len: number, offset: number): void {
  if (len < 1 || len > ID_MAX_LENGTH) {
    throw new ProtocolError('EW_PROTO_ID', `${field} length ${len} is outside 1..${ID_MAX_LENGTH}`, { field, offset });
  }
}

/**
 * The checks that depend on the receiver rather than the bytes: clock skew and registration.
 * Shared by the binary and JSON decoders so both admit exactly the same frames.
 */
export function checkAdmission(sensorId: string, t0: number, options: DecodeOptions, binary = false): void {
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  const nowUs = options.nowUs ?? Date.now() * 1000;
  if (maxFutureMs !== Infinity && t0 - nowUs > maxFutureMs * 1000) {
    throw new ProtocolError(
      'EW_PROTO_FUTURE',
      `t0 ${t0} µs is ${Math.round((t0 - nowUs) / 1000)} ms ahead of now, more than the allowed ${maxFutureMs} ms`,
      binary ? { field: 't0', offset: 16 } : { field: 't0' },
    );
  }
  if (options.isKnownSensor && !options.isKnownSensor(sensorId)) {
    throw new ProtocolError(
      'EW_PROTO_UNKNOWN_SENSOR',
      `sensor ${sensorId} is not registered`,
      binary ? { field: 'sensorId', offset: FIXED_HEADER_BYTES } : { field: 'sensorId' },
    );
  }
}

/** Index of the first NaN or ±Infinity in `data`, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) return i; // NaN - NaN and Inf - Inf are both NaN
  }
  return -1;
}

/**
 * Decodes one frame. The payload is a Float32Array over the input's memory when its offset is
 * 4-byte aligned (frames are padded so that it is whenever the frame itself is), else a copy.
 */
export function decodeFrame(bytes: Uint8Array, options: DecodeOptions = {}): Frame {
  return decodeFrameAt(bytes, 0, bytes.length, options);
}

/** `decodeFrame` of the frame that is the `n` bytes of `bytes` from `base`. Error offsets are within the frame. */
export function decodeFrameAt(bytes: Uint8Array, base: number, n: number, options: DecodeOptions = {}): Frame {
  const header = decodeFrameHeaderAt(bytes, base, n, options);
  const values = header.count * header.width;
  const start = bytes.byteOffset + base + header.headerLength;
  let data: Float32Array;
  if (!options.copy && start % 4 === 0) {
    data = new Float32Array(bytes.buffer, start, values);
  } else {
    data = new Float32Array(values);
    new Uint8Array(data.buffer).set(bytes.subarray(base + header.headerLength, base + header.byteLength));
  }
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    throw new ProtocolError('EW_PROTO_NONFINITE', `value ${bad} of the payload is ${data[bad]}`, {
      field: 'payload',
      offset: header.headerLength + 4 * bad,
      details: { index: bad },
    });
  }
  // Built field by field: object rest/spread here costs more than the whole header check.
  return {
    kind: header.kind, flags: header.flags, sensorId: header.sensorId, gatewayId: header.gatewayId, group: header.group,
    seq: header.seq, t0: header.t0, sampleRate: header.sampleRate, count: header.count, width: header.width,
    window: header.window, hop: header.hop, layoutId: header.layoutId, data,
  };
}

function hex(b: number | undefined): string {
  return b === undefined ? '--' : b.toString(16).padStart(2, '0');
}
