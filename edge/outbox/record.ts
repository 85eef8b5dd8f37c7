// One outbox record on disk: a frame (or batch) ready to publish, with its topic and an id.
//
// Wire grammar, little-endian, offsets in bytes:
//
//   record = 0 length   u32   bytes after this field (16 + topicLength + payload length)
//            4 crc      u32   CRC-32 (zlib) of the bytes after this field
//            8 version  u8    1
//            9 kind     u8    1 raw | 2 features | 3 other (status, JSON, ...)
//           10 topicLen u16
//           12 id       u64   outbox id, strictly increasing, <= 2^53 - 1
//           20 topic    UTF-8, topicLen bytes
//              payload  the MQTT payload, the rest
//
// A record whose length runs past the end of its file, or whose CRC does not match, is a torn write
// (power cut during append): recovery truncates the file there.

import { crc32 } from 'node:zlib';

export const RECORD_VERSION = 1;
export const RECORD_HEADER_BYTES = 20;

export const KIND_CODES = { raw: 1, features: 2, other: 3 } as const;
export type RecordKind = keyof typeof KIND_CODES;
const KIND_NAMES: Record<number, RecordKind> = { 1: 'raw', 2: 'features', 3: 'other' };

export interface OutboxRecord {
  id: number;
  kind: RecordKind;
  topic: string;
  payload: Uint8Array;
}

export function encodedLength(topicBytes: number, payloadBytes: number): number {
  return RECORD_HEADER_BYTES + topicBytes + payloadBytes;
}

/** Writes the record at `out[at..]`; returns the bytes written. */
export function encodeRecord(out: Buffer, at: number, id: number, kind: RecordKind, topic: Buffer, payload: Uint8Array): number {
  const total = encodedLength(topic.length, payload.length);
  out.writeUInt32LE(total - 4, at);
  out.writeUInt8(RECORD_VERSION, at + 8);
  out.writeUInt8(KIND_CODES[kind], at + 9);
  out.writeUInt16LE(topic.length, at + 10);
  out.writeBigUInt64LE(BigInt(id), at + 12);
  topic.copy(out, at + RECORD_HEADER_BYTES);
  out.set(payload, at + RECORD_HEADER_BYTES + topic.length);
  out.writeUInt32LE(crc32(out.subarray(at + 8, at + total)), at + 4);
  return total;
}

export interface ScannedRecord {
  id: number;
  kind: RecordKind;
  offset: number;
  /** Whole record length, header included. */
  length: number;
  topicLength: number;
}

/**
 * Reads records from a segment's bytes. Stops at the first record that is incomplete or fails its
 * CRC and returns where the valid data ends, so recovery can truncate a torn tail.
 */
export function scanRecords(bytes: Buffer): { records: ScannedRecord[]; validEnd: number; problem?: string } {
  const records: ScannedRecord[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_HEADER_BYTES) return { records, validEnd: at, problem: `${bytes.length - at} trailing bytes, less than a record header` };
    const length = bytes.readUInt32LE(at) + 4;
    if (length < RECORD_HEADER_BYTES || at + length > bytes.length) return { records, validEnd: at, problem: `record at ${at} claims ${length} bytes, ${bytes.length - at} remain` };
    if (bytes.readUInt32LE(at + 4) !== crc32(bytes.subarray(at + 8, at + length))) return { records, validEnd: at, problem: `record at ${at} fails its CRC` };
    const kind = KIND_NAMES[bytes.readUInt8(at + 9)];
    if (bytes.readUInt8(at + 8) !== RECORD_VERSION || !kind) return { records, validEnd: at, problem: `record at ${at} has version ${bytes.readUInt8(at + 8)} kind ${bytes.readUInt8(at + 9)}` };
    const topicLength = bytes.readUInt16LE(at + 10);
    records.push({ id: Number(bytes.readBigUInt64LE(at + 12)), kind, offset: at, length, topicLength });
    at += length;
  }
  return { records, validEnd: at };
}

/** Topic and payload of a record read back whole. */
export function decodeBody(bytes: Buffer, topicLength: number): { topic: string; payload: Uint8Array } {
  const topic = bytes.toString('utf8', RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + topicLength);
  return { topic, payload: new Uint8Array(bytes.buffer, bytes.byteOffset + RECORD_HEADER_BYTES + topicLength, bytes.length - RECORD_HEADER_BYTES - topicLength) };
}
