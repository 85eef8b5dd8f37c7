// Binary sample and feature frames (version 1): what an edge agent sends and everything downstream reads.
//
// Wire grammar, all integers little-endian, offsets in bytes (protocol/README.md has the full table):
//
//   frame   = header ids padding payload
//   header  =  0 magic        u8[2]  0x45 0x57 ("EW")
//              2 version      u8     1
//              3 kind         u8     1 raw | 2 features
//              4 flags        u16    bit 0 GAP, bit 1 REPLAY, others zero
//              6 headerLength u16    48 + id bytes, rounded up to a multiple of 4
//              8 seq          u64    per-sensor sequence, <= 2^53-1
//             16 t0           i64    microseconds since the Unix epoch, 0 <= t0 <= 2^53-1
//             24 sampleRate   f32    Hz, finite, > 0
//             28 count        u32    raw: samples per channel | features: windows; >= 1
//             32 width        u16    raw: channels | features: features per window; >= 1
//             34 window       u16    features: window length in samples | raw: 0
//             36 hop          u16    features: hop in samples, 1..window | raw: 0
//             38 reserved     u16    0
//             40 layoutId     u32    raw: channel layout | features: feature layout
//             44 sensorIdLen  u8     1..128
//             45 gatewayIdLen u8     1..128
//             46 groupLen     u8     1..128
//             47 reserved     u8     0
//   ids     = sensorId gatewayId group, ASCII [A-Za-z0-9_.:-], back to back
//   padding = zero bytes up to headerLength
//   payload = count * width f32, raw planar (channel c, sample i at c*count + i),
//             features by window (window w, feature f at w*width + f)
//
// The frame's length is exactly headerLength + 4 * count * width; anything else is rejected.

import { ProtocolError } from './errors.js';
import { ID_MAX_LENGTH, checkId, isIdByte } from './ids.js';

export const MAGIC_0 = 0x45; // 'E'
export const MAGIC_1 = 0x57; // 'W'
export const FRAME_VERSION = 1;
export const FIXED_HEADER_BYTES = 48;

export const KIND_RAW = 1;
export const KIND_FEATURES = 2;
export const KIND_BATCH = 3;

export const FLAG_GAP = 1 << 0;
export const FLAG_REPLAY = 1 << 1;
export const KNOWN_FLAGS = FLAG_GAP | FLAG_REPLAY;

/** Channel layouts of raw frames. */
export const LAYOUT_UNSPECIFIED = 0;
/** ax ay az (m/s²) gx gy gz (rad/s): the IMU channel order used throughout edgewave. */
export const LAYOUT_IMU6 = 1;

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_FUTURE_MS = 10 * 60 * 1000;

const MAX_SAFE_HI = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER
const TWO_32 = 0x1_0000_0000;

export type FrameKind = 'raw' | 'features';

export interface Frame {
  kind: FrameKind;
  /** FLAG_GAP | FLAG_REPLAY */
  flags: number;
  sensorId: string;
  gatewayId: string;
  group: string;
  /** Per-sensor sequence number; (sensorId, seq) identifies a frame everywhere downstream. */
  seq: number;
  /** Time of the first sample (raw) or the first window's first sample (features), µs since the epoch. */
  t0: number;
  sampleRate: number;
  /** raw: samples per channel; features: number of windows. */
  count: number;
  /** raw: channels; features: features per window. */
  width: number;
  /** features: window length in samples; raw: 0. */
  window: number;
  /** features: samples between window starts; raw: 0. */
  hop: number;
  layoutId: number;
  /** count * width values: raw planar by channel, features by window. */
  data: Float32Array;
}

/** Everything but the payload, plus where the payload lies: what a bridge checks without decoding. */
export interface FrameHeader extends Omit<Frame, 'data'> {
  headerLength: number;
  byteLength: number;
}

export interface DecodeOptions {
  /** Current time in µs since the epoch; default Date.now() * 1000. */
  nowUs?: number;
  /** Largest accepted t0 - now, in ms; default 10 minutes. Infinity turns the check off. */
  maxFutureMs?: number;
  /** When given, a sensor for which this returns false is rejected with EW_PROTO_UNKNOWN_SENSOR. */
  isKnownSensor?: (sensorId: string) => boolean;
  /** Largest accepted frame, in bytes; default 16 MiB. */
  maxFrameBytes?: number;
  /** Always copy the payload instead of viewing the input's memory. */
  copy?: boolean;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function headerLengthFor(idBytes: number): number {
  return (FIXED_HEADER_BYTES + idBytes + 3) & ~3;
}

/** Byte length of the encoded frame. */
export function frameByteLength(frame: Pick<Frame, 'sensorId' | 'gatewayId' | 'group' | 'count' | 'width'>): number {
  return (
    headerLengthFor(frame.sensorId.length + frame.gatewayId.length + frame.group.length) +
    4 * frame.count * frame.width
  );
}

function readAscii(bytes: Uint8Array, start: number, length: number, field: string): string {
  let s = '';
  for (let i = start; i < start + length; i++) {
    const b = bytes[i]!;
    if (!isIdByte(b)) {
      throw new ProtocolError(
        'EW_PROTO_ID',
        `${field} has byte 0x${b.toString(16).padStart(2, '0')} at offset ${i}, outside [A-Za-z0-9_.:-]`,
        { field, offset: i },
      );
    }
    s += String.fromCharCode(b);
  }
  return s;
}

function range(field: string, offset: number, message: string): ProtocolError {
  return new ProtocolError('EW_PROTO_RANGE', `${field} ${message}`, { field, offset });
}

function readSafeU64(view: DataView, offset: number, field: string): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > MAX_SAFE_HI) throw range(field, offset, 'exceeds 2^53-1');
  return hi * TWO_32 + lo;
}

/**
 * Checks magic and version, as far as the input reaches, then that the kind byte exists.
 * Shared by the frame and batch decoders so both name the same first problem.
 */
export function checkPrefix(bytes: Uint8Array, what: 'frame' | 'batch'): void {
  const n = bytes.length;
  if ((n > 0 && bytes[0] !== MAGIC_0) || (n > 1 && bytes[1] !== MAGIC_1)) {
    throw new ProtocolError('EW_PROTO_MAGIC', `expected magic 45 57 ("EW"), got ${hex(bytes[0])} ${hex(bytes[1])}`, {
      field: 'magic',
      offset: 0,
    });
  }
  if (n > 2 && bytes[2] !== FRAME_VERSION) {
    throw new ProtocolError('EW_PROTO_VERSION', `${what} version ${bytes[2]} is not supported (this decoder reads ${FRAME_VERSION})`, {
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
  const n = bytes.length;
  // Identify what the bytes are before complaining that they are short: a stray text message
  // should read as "not an edgewave frame", not as "truncated".
  checkPrefix(bytes, 'frame');
  const kindByte = bytes[3]!;
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const flags = view.getUint16(4, true);
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new ProtocolError('EW_PROTO_FLAGS', `flags 0x${flags.toString(16)} set bits that version 1 does not define`, {
      field: 'flags',
      offset: 4,
    });
  }
  const headerLength = view.getUint16(6, true);
  const seq = readSafeU64(view, 8, 'seq');
  const t0Hi = view.getInt32(20, true);
  if (t0Hi < 0) throw range('t0', 16, 'is negative');
  const t0 = readSafeU64(view, 16, 't0');
  const sampleRate = view.getFloat32(24, true);
  if (!(sampleRate > 0) || sampleRate === Infinity) throw range('sampleRate', 24, `must be finite and > 0, got ${sampleRate}`);
  const count = view.getUint32(28, true);
  if (count < 1) throw range('count', 28, 'must be >= 1');
  const width = view.getUint16(32, true);
  if (width < 1) throw range('width', 32, 'must be >= 1');
  const window = view.getUint16(34, true);
  const hop = view.getUint16(36, true);
  const kind: FrameKind = kindByte === KIND_RAW ? 'raw' : 'features';
  if (kind === 'raw') {
    if (window !== 0) throw range('window', 34, 'must be 0 in a raw frame');
    if (hop !== 0) throw range('hop', 36, 'must be 0 in a raw frame');
  } else {
    if (window < 1) throw range('window', 34, 'must be >= 1 in a feature frame');
    if (hop < 1 || hop > window) throw range('hop', 36, `must be in 1..window (${window}), got ${hop}`);
  }
  if (view.getUint16(38, true) !== 0) {
    throw new ProtocolError('EW_PROTO_RESERVED', 'reserved bytes 38-39 must be zero', { field: 'reserved', offset: 38 });
  }
  const layoutId = view.getUint32(40, true);
  const sensorLen = bytes[44]!;
  const gatewayLen = bytes[45]!;
  const groupLen = bytes[46]!;
  if (bytes[47] !== 0) {
    throw new ProtocolError('EW_PROTO_RESERVED', 'reserved byte 47 must be zero', { field: 'reserved', offset: 47 });
  }
  for (const [field, len, off] of [['sensorId', sensorLen, 44], ['gatewayId', gatewayLen, 45], ['group', groupLen, 46]] as const) {
    if (len < 1 || len > ID_MAX_LENGTH) {
      throw new ProtocolError('EW_PROTO_ID', `${field} length ${len} is outside 1..${ID_MAX_LENGTH}`, { field, offset: off });
    }
  }
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
  let p = FIXED_HEADER_BYTES;
  const sensorId = readAscii(bytes, p, sensorLen, 'sensorId');
  p += sensorLen;
  const gatewayId = readAscii(bytes, p, gatewayLen, 'gatewayId');
  p += gatewayLen;
  const group = readAscii(bytes, p, groupLen, 'group');
  p += groupLen;
  for (; p < headerLength; p++) {
    if (bytes[p] !== 0) throw new ProtocolError('EW_PROTO_RESERVED', `padding byte at offset ${p} must be zero`, { field: 'padding', offset: p });
  }
  checkAdmission(sensorId, t0, options, true);
  return { kind, flags, sensorId, gatewayId, group, seq, t0, sampleRate, count, width, window, hop, layoutId, headerLength, byteLength };
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
  const header = decodeFrameHeader(bytes, options);
  const values = header.count * header.width;
  const start = bytes.byteOffset + header.headerLength;
  let data: Float32Array;
  if (!options.copy && LITTLE_ENDIAN && start % 4 === 0) {
    data = new Float32Array(bytes.buffer, start, values);
  } else {
    data = new Float32Array(values);
    new Uint8Array(data.buffer).set(bytes.subarray(header.headerLength, header.byteLength));
    if (!LITTLE_ENDIAN) swap32(data);
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

/** Checks a frame built in memory against the same rules the decoder applies. */
export function validateFrame(frame: Frame): void {
  if (frame.kind !== 'raw' && frame.kind !== 'features') {
    throw new ProtocolError('EW_PROTO_KIND', `kind must be "raw" or "features", got ${JSON.stringify(frame.kind)}`, { field: 'kind' });
  }
  if (!Number.isInteger(frame.flags) || (frame.flags & ~KNOWN_FLAGS) !== 0 || frame.flags < 0) {
    throw new ProtocolError('EW_PROTO_FLAGS', `flags ${frame.flags} set bits that version 1 does not define`, { field: 'flags' });
  }
  checkId(frame.sensorId, 'sensorId');
  checkId(frame.gatewayId, 'gatewayId');
  checkId(frame.group, 'group');
  intIn(frame.seq, 'seq', 0, Number.MAX_SAFE_INTEGER);
  intIn(frame.t0, 't0', 0, Number.MAX_SAFE_INTEGER);
  if (!(frame.sampleRate > 0) || !Number.isFinite(Math.fround(frame.sampleRate))) {
    throw new ProtocolError('EW_PROTO_RANGE', `sampleRate must be finite and > 0 as float32, got ${frame.sampleRate}`, { field: 'sampleRate' });
  }
  intIn(frame.count, 'count', 1, 0xffffffff);
  intIn(frame.width, 'width', 1, 0xffff);
  intIn(frame.layoutId, 'layoutId', 0, 0xffffffff);
  if (frame.kind === 'raw') {
    intIn(frame.window, 'window', 0, 0);
    intIn(frame.hop, 'hop', 0, 0);
  } else {
    intIn(frame.window, 'window', 1, 0xffff);
    intIn(frame.hop, 'hop', 1, frame.window);
  }
  if (!(frame.data instanceof Float32Array) || frame.data.length !== frame.count * frame.width) {
    throw new ProtocolError(
      'EW_PROTO_LENGTH',
      `data must be a Float32Array of count x width = ${frame.count * frame.width} values, got ${frame.data?.length}`,
      { field: 'data' },
    );
  }
  const bad = firstNonFinite(frame.data);
  if (bad >= 0) {
    throw new ProtocolError('EW_PROTO_NONFINITE', `data[${bad}] is ${frame.data[bad]}`, { field: 'data', details: { index: bad } });
  }
}

function intIn(v: number, field: string, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError('EW_PROTO_RANGE', `${field} must be an integer in ${min}..${max}, got ${v}`, { field });
  }
}

/**
 * Writes `frame` into `target` at `offset` (which should be 4-byte aligned so that readers get
 * zero-copy payloads) and returns the number of bytes written. Validates first.
 */
export function encodeFrameInto(frame: Frame, target: Uint8Array, offset = 0): number {
  validateFrame(frame);
  const idBytes = frame.sensorId.length + frame.gatewayId.length + frame.group.length;
  const headerLength = headerLengthFor(idBytes);
  const byteLength = headerLength + 4 * frame.data.length;
  if (offset + byteLength > target.length) {
    throw new RangeError(`target has ${target.length - offset} bytes from offset ${offset}, frame needs ${byteLength}`);
  }
  const view = new DataView(target.buffer, target.byteOffset + offset, byteLength);
  target[offset] = MAGIC_0;
  target[offset + 1] = MAGIC_1;
  target[offset + 2] = FRAME_VERSION;
  target[offset + 3] = frame.kind === 'raw' ? KIND_RAW : KIND_FEATURES;
  view.setUint16(4, frame.flags, true);
  view.setUint16(6, headerLength, true);
  view.setUint32(8, frame.seq % TWO_32, true);
  view.setUint32(12, Math.floor(frame.seq / TWO_32), true);
  view.setUint32(16, frame.t0 % TWO_32, true);
  view.setUint32(20, Math.floor(frame.t0 / TWO_32), true);
  view.setFloat32(24, frame.sampleRate, true);
  view.setUint32(28, frame.count, true);
  view.setUint16(32, frame.width, true);
  view.setUint16(34, frame.window, true);
  view.setUint16(36, frame.hop, true);
  view.setUint16(38, 0, true);
  view.setUint32(40, frame.layoutId, true);
  target[offset + 44] = frame.sensorId.length;
  target[offset + 45] = frame.gatewayId.length;
  target[offset + 46] = frame.group.length;
  target[offset + 47] = 0;
  let p = offset + FIXED_HEADER_BYTES;
  for (const id of [frame.sensorId, frame.gatewayId, frame.group]) {
    for (let i = 0; i < id.length; i++) target[p++] = id.charCodeAt(i);
  }
  target.fill(0, p, offset + headerLength);
  const payload = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  target.set(payload, offset + headerLength);
  if (!LITTLE_ENDIAN) swap32Bytes(target, offset + headerLength, frame.data.length);
  return byteLength;
}

/** Encodes one frame into a new buffer. */
export function encodeFrame(frame: Frame): Uint8Array {
  const out = new Uint8Array(frameByteLength(frame));
  encodeFrameInto(frame, out, 0);
  return out;
}

function hex(b: number | undefined): string {
  return b === undefined ? '--' : b.toString(16).padStart(2, '0');
}

function swap32(data: Float32Array): void {
  swap32Bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.length);
}

function swap32Bytes(bytes: Uint8Array, offset: number, words: number): void {
  for (let i = 0; i < words; i++) {
    const p = offset + 4 * i;
    const a = bytes[p]!;
    const b = bytes[p + 1]!;
    bytes[p] = bytes[p + 3]!;
    bytes[p + 1] = bytes[p + 2]!;
    bytes[p + 2] = b;
    bytes[p + 3] = a;
  }
}
