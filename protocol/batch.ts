// Batch frames: many sensors' frames in one MQTT message (`edgewave/{gateway}/batch`), so that a
// gateway with hundreds of sensors sends a few large messages instead of many small ones.
//
// Wire grammar (version 1), little-endian:
//
//   batch   = header entry{frameCount}
//   header  =  0 magic        u8[2]  0x45 0x57 ("EW")
//              2 version      u8     1
//              3 kind         u8     3 batch
//              4 flags        u16    0 (no flags defined)
//              6 headerLength u16    12
//              8 frameCount   u32    >= 1
//   entry   =  length u32 (a multiple of 4), then one frame (frame.ts) of exactly that length
//
// Every entry starts 4-byte aligned relative to the batch, so frames keep zero-copy payloads.

import { ProtocolError } from './errors.js';
import { checkPrefix, decodeFrame, decodeFrameAt, decodeFrameHeaderAt } from './decode-frame.js';
import { encodeFrameInto } from './encode-frame.js';
import {
  FIXED_HEADER_BYTES,
  FRAME_VERSION,
  KIND_BATCH,
  MAGIC_0,
  MAGIC_1,
  frameByteLength,
  type DecodeOptions,
  type Frame,
  type FrameHeader,
} from './frame.js';

export const BATCH_HEADER_BYTES = 12;
/** Smallest possible entry: length prefix, fixed header, three 1-byte ids padded, one value. */
const MIN_ENTRY_BYTES = 4 + FIXED_HEADER_BYTES + 4 + 4;
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024 * 1024;

export function isBatch(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1 && bytes[3] === KIND_BATCH;
}

export interface BatchEntry {
  /** The frame's bytes, a view into the batch. */
  bytes: Uint8Array;
  /** Offset of the frame within the batch, for error reports. */
  offset: number;
}

/**
 * Checks a batch's framing and returns views of its frames, without decoding them.
 * Errors name the byte offset within the batch.
 */
export function splitBatch(bytes: Uint8Array, options: { maxBatchBytes?: number } = {}): BatchEntry[] {
  const { starts, lengths } = batchEntries(bytes, options);
  return starts.map((start, i) => ({ bytes: bytes.subarray(start, start + lengths[i]!), offset: start }));
}

/** Checks a batch's framing; where its entries' frames start and how long they are. */
function batchEntries(bytes: Uint8Array, options: { maxBatchBytes?: number } = {}): { starts: number[]; lengths: number[] } {
  const n = bytes.length;
  checkPrefix(bytes, 'batch');
  if (bytes[3] !== KIND_BATCH) {
    throw new ProtocolError('EW_PROTO_KIND', `expected a batch (kind 3), got kind ${bytes[3]}`, { field: 'kind', offset: 3 });
  }
  if (n < BATCH_HEADER_BYTES) {
    throw new ProtocolError('EW_PROTO_TRUNCATED', `${n} bytes is shorter than the ${BATCH_HEADER_BYTES}-byte batch header`, { offset: n });
  }
  const max = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  if (n > max) throw new ProtocolError('EW_PROTO_LENGTH', `batch of ${n} bytes exceeds the ${max}-byte limit`, { offset: 0 });
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  if (view.getUint16(4, true) !== 0) {
    throw new ProtocolError('EW_PROTO_FLAGS', 'batch flags must be zero in version 1', { field: 'flags', offset: 4 });
  }
  const headerLength = view.getUint16(6, true);
  if (headerLength !== BATCH_HEADER_BYTES) {
    throw new ProtocolError('EW_PROTO_LENGTH', `batch headerLength must be ${BATCH_HEADER_BYTES}, got ${headerLength}`, {
      field: 'headerLength',
      offset: 6,
    });
  }
  const frameCount = view.getUint32(8, true);
  if (frameCount < 1) throw new ProtocolError('EW_PROTO_RANGE', 'frameCount must be >= 1', { field: 'frameCount', offset: 8 });
  // Bound the work and the array by what the input can hold before looking at any entry.
  if (frameCount > (n - BATCH_HEADER_BYTES) / MIN_ENTRY_BYTES) {
    throw new ProtocolError('EW_PROTO_LENGTH', `frameCount ${frameCount} cannot fit in ${n} bytes`, { field: 'frameCount', offset: 8 });
  }
  const starts: number[] = [];
  const lengths: number[] = [];
  let p = BATCH_HEADER_BYTES;
  for (let i = 0; i < frameCount; i++) {
    if (p + 4 > n) throw new ProtocolError('EW_PROTO_TRUNCATED', `batch ends inside the length of entry ${i}`, { offset: p });
    const length = view.getUint32(p, true);
    if (length % 4 !== 0 || length < FIXED_HEADER_BYTES) {
      throw new ProtocolError('EW_PROTO_LENGTH', `entry ${i} length ${length} is not a multiple of 4 of at least ${FIXED_HEADER_BYTES}`, {
        field: 'length',
        offset: p,
      });
    }
    if (p + 4 + length > n) {
      throw new ProtocolError('EW_PROTO_TRUNCATED', `entry ${i} needs ${length} bytes, ${n - p - 4} remain`, { offset: p });
    }
    starts.push(p + 4);
    lengths.push(length);
    p += 4 + length;
  }
  if (p !== n) {
    throw new ProtocolError('EW_PROTO_LENGTH', `${n - p} bytes follow the last of ${frameCount} entries`, { offset: p });
  }
  return { starts, lengths };
}

/** A frame's error with its offset shifted to the batch and the entry index named. */
function inEntry(err: unknown, start: number, index: number): unknown {
  if (!(err instanceof ProtocolError)) return err;
  return new ProtocolError(err.code, `batch entry ${index}: ${err.message}`, {
    offset: err.offset === undefined ? start : start + err.offset,
    ...(err.field === undefined ? {} : { field: err.field }),
    details: { ...err.details, entry: index },
    cause: err,
  });
}

/** Each entry's frame through `decode`, its errors placed in the batch. */
function decodeEntries<T>(bytes: Uint8Array, entries: { starts: number[]; lengths: number[] }, decode: (bytes: Uint8Array, start: number, length: number) => T): T[] {
  const { starts, lengths } = entries;
  const out: T[] = [];
  for (let i = 0; i < starts.length; i++) {
    try {
      out.push(decode(bytes, starts[i]!, lengths[i]!));
    } catch (err) {
      throw inEntry(err, starts[i]!, i);
    }
  }
  return out;
}

/** Checks every entry's header (not the payload values) and returns them. */
export function decodeBatchHeaders(bytes: Uint8Array, options: DecodeOptions = {}): FrameHeader[] {
  return decodeEntries(bytes, batchEntries(bytes), (b, start, length) => decodeFrameHeaderAt(b, start, length, options));
}

/**
 * Decodes every frame of a batch; payloads are views into `bytes` when it starts 4-byte aligned.
 * Otherwise (a Kafka record's value is a slice of a fetch response, anywhere), or with `copy`, the
 * batch is copied once to aligned memory and the payloads are views into that: one copy instead of
 * a buffer per frame, which cost more than decoding the frame.
 */
export function decodeBatch(bytes: Uint8Array, options: DecodeOptions = {}): Frame[] {
  const entries = batchEntries(bytes);
  const aligned = options.copy || bytes.byteOffset % 4 !== 0 ? new Uint8Array(bytes) : bytes;
  const o = { ...options, copy: false };
  return decodeEntries(aligned, entries, (b, start, length) => decodeFrameAt(b, start, length, o));
}

/** The frames of one record as the bridge writes them to Kafka: a batch frame's frames, or the one frame. */
export function decodeRecord(bytes: Uint8Array, options: DecodeOptions = {}): Frame[] {
  return isBatch(bytes) ? decodeBatch(bytes, options) : [decodeFrame(bytes, options)];
}

export function batchByteLength(frames: readonly Frame[]): number {
  let n = BATCH_HEADER_BYTES;
  for (const f of frames) n += 4 + frameByteLength(f);
  return n;
}

/** Encodes frames (of any sensors) into one batch. */
export function encodeBatch(frames: readonly Frame[]): Uint8Array {
  if (frames.length < 1) throw new ProtocolError('EW_PROTO_RANGE', 'a batch needs at least one frame', { field: 'frameCount' });
  const out = new Uint8Array(batchByteLength(frames));
  const view = new DataView(out.buffer);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = FRAME_VERSION;
  out[3] = KIND_BATCH;
  view.setUint16(4, 0, true);
  view.setUint16(6, BATCH_HEADER_BYTES, true);
  view.setUint32(8, frames.length, true);
  let p = BATCH_HEADER_BYTES;
  for (const f of frames) {
    const written = encodeFrameInto(f, out, p + 4);
    view.setUint32(p, written, true);
    p += 4 + written;
  }
  return out;
}

/** A batch of frames that are already encoded (each a whole frame, as `splitBatch` returns them). */
export function batchOfEncoded(frames: readonly Uint8Array[]): Uint8Array {
  if (frames.length < 1) throw new ProtocolError('EW_PROTO_RANGE', 'a batch needs at least one frame', { field: 'frameCount' });
  let n = BATCH_HEADER_BYTES;
  for (const f of frames) n += 4 + f.length;
  const out = new Uint8Array(n);
  const view = new DataView(out.buffer);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = FRAME_VERSION;
  out[3] = KIND_BATCH;
  view.setUint16(6, BATCH_HEADER_BYTES, true);
  view.setUint32(8, frames.length, true);
  let p = BATCH_HEADER_BYTES;
  for (const f of frames) {
    view.setUint32(p, f.length, true);
    out.set(f, p + 4);
    p += 4 + f.length;
  }
  return out;
}

/** Offset of the first NaN or ±Infinity among the little-endian float32 values in bytes[from, to), or -1. Any alignment. */
export function firstNonFiniteBytes(bytes: Uint8Array, from: number, to: number): number {
  // All eight exponent bits set: byte 3 holds the top seven (after the sign), byte 2 the last.
  for (let p = from + 3; p < to; p += 4) {
    if ((bytes[p]! & 0x7f) === 0x7f && (bytes[p - 1]! & 0x80) !== 0) return p - 3;
  }
  return -1;
}
