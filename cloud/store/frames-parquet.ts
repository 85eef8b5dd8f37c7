// The archive's Parquet encoder: frames straight to column chunks, written a frame at a time.
//
// A general writer (hyparquet-writer's parquetWriteBuffer) takes one JavaScript value a row for
// every column and works out each column's encoding, dictionary and statistics value by value:
// about 1 µs a row for the archive's rows, a third of a core at 1,000 raw sensors. Most of the
// archive's columns are the same for every sample of a frame (sensor, gateway, group, seq, rate,
// flags, window, hop), and a frame's channel values are already a Float32Array: here those columns
// are dictionary indexes written as one run a frame, the values are copied as they are, and each
// row's time is written as the two halves of its 64-bit integer. The pages, their headers and the
// footer are Parquet's ordinary ones (data page v2, RLE_DICTIONARY and PLAIN, Snappy), written
// with hyparquet-writer's thrift, Snappy and metadata code; any Parquet reader reads them.

import type { ColumnChunk, ColumnMetaData, Encoding, RowGroup, SchemaElement, Statistics } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import type { Frame } from '../../protocol/index.js';

/** A Parquet key-value metadata entry. */
export interface KeyValue {
  key: string;
  value: string;
}

export interface FramesParquetOptions {
  /** The value columns' names, one per channel (raw) or feature (features). */
  valueNames: readonly string[];
  kvMetadata: KeyValue[];
  /** Rows a row group holds at most, except that a frame is never split: 100,000. */
  rowGroupRows?: number;
  createdBy?: string;
}

type Physical = 'BYTE_ARRAY' | 'INT64' | 'INT32' | 'FLOAT';

/** A column whose value is the same for every row of a frame. */
interface FrameColumn {
  name: string;
  type: Physical;
  value: (f: Frame) => string | number;
}

const FRAME_COLUMNS: readonly FrameColumn[] = [
  { name: 'sensor_id', type: 'BYTE_ARRAY', value: (f) => f.sensorId },
  { name: 'gateway_id', type: 'BYTE_ARRAY', value: (f) => f.gatewayId },
  { name: 'group', type: 'BYTE_ARRAY', value: (f) => f.group },
  { name: 'seq', type: 'INT64', value: (f) => f.seq },
];
const FRAME_COLUMNS_AFTER_T: readonly FrameColumn[] = [
  { name: 'sample_rate', type: 'FLOAT', value: (f) => f.sampleRate },
  { name: 'flags', type: 'INT32', value: (f) => f.flags },
];
const WINDOW_COLUMNS: readonly FrameColumn[] = [
  { name: 'window', type: 'INT32', value: (f) => f.window },
  { name: 'hop', type: 'INT32', value: (f) => f.hop },
];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_32 = 4294967296;
const utf8 = new TextEncoder();

/** The schema of an archive object (see archive.ts for what each column holds). */
export function archiveSchema(kind: 'raw' | 'features', valueNames: readonly string[]): SchemaElement[] {
  const leaf = (name: string, type: Physical): SchemaElement => ({ name, type, repetition_type: 'REQUIRED', ...(type === 'BYTE_ARRAY' ? { converted_type: 'UTF8' as const } : {}) });
  const leaves: SchemaElement[] = [
    ...FRAME_COLUMNS.map((c) => leaf(c.name, c.type)),
    leaf('i', 'INT32'),
    { name: 't', type: 'INT64', repetition_type: 'REQUIRED', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } },
    ...FRAME_COLUMNS_AFTER_T.map((c) => leaf(c.name, c.type)),
    ...(kind === 'raw' ? [] : WINDOW_COLUMNS.map((c) => leaf(c.name, c.type))),
    ...valueNames.map((n) => leaf(n, 'FLOAT')),
  ];
  return [{ name: 'root', num_children: leaves.length }, ...leaves];
}

/**
 * The Parquet bytes of frames that share kind, layout and width: one row per sample (raw) or window
 * (features), in frame order.
 */
export function encodeFramesParquet(frames: readonly Frame[], o: FramesParquetOptions): Uint8Array {
  if (frames.length === 0) throw new Error('archive object: no frames');
  const kind = frames[0]!.kind;
  const width = frames[0]!.width;
  if (o.valueNames.length !== width) throw new Error(`archive object: ${o.valueNames.length} value names for width ${width}`);
  const schema = archiveSchema(kind, o.valueNames);
  let rows = 0;
  for (const f of frames) rows += f.count;
  // Sized for the whole file (plain values, time, index, runs, headers), so that it is never copied
  // to grow; Snappy rarely adds to a page.
  const w = new ByteWriter(rows * (4 * width + 16) + 65_536);
  w.appendUint32(0x31524150); // PAR1
  const rowGroups: RowGroup[] = [];
  const limit = o.rowGroupRows ?? 100_000;
  for (let a = 0; a < frames.length; ) {
    let b = a;
    let groupRows = 0;
    while (b < frames.length && (b === a || groupRows + frames[b]!.count <= limit)) groupRows += frames[b++]!.count;
    rowGroups.push(writeRowGroup(w, frames, a, b, groupRows, kind, o.valueNames));
    a = b;
  }
  writeMetadata(w, {
    version: 2,
    schema,
    num_rows: BigInt(rows),
    row_groups: rowGroups,
    key_value_metadata: o.kvMetadata,
    created_by: o.createdBy ?? 'edgewave',
  } as never);
  w.appendUint32(0x31524150);
  return new Uint8Array(w.getBuffer()); // its own buffer, exactly the file
}

function writeRowGroup(w: ByteWriter, frames: readonly Frame[], a: number, b: number, rows: number, kind: 'raw' | 'features', valueNames: readonly string[]): RowGroup {
  const width = valueNames.length;
  const start = w.offset;
  const columns: ColumnChunk[] = [];
  for (const c of FRAME_COLUMNS) columns.push(frameColumn(w, c, frames, a, b, rows));
  columns.push(indexColumn(w, frames, a, b, rows));
  columns.push(timeColumn(w, frames, a, b, rows, kind === 'raw'));
  for (const c of FRAME_COLUMNS_AFTER_T) columns.push(frameColumn(w, c, frames, a, b, rows));
  if (kind !== 'raw') for (const c of WINDOW_COLUMNS) columns.push(frameColumn(w, c, frames, a, b, rows));
  const values = new Float32Array(rows);
  const bytes = new Uint8Array(values.buffer);
  for (let c = 0; c < width; c++) {
    let r = 0;
    for (let k = a; k < b; k++) {
      const f = frames[k]!;
      const n = f.count;
      // raw: planar by channel, a channel's samples are one run; features: by window
      const data = f.data;
      if (kind === 'raw') for (let i = 0, j = c * n; i < n; i++) values[r + i] = data[j + i]!;
      else for (let i = 0; i < n; i++) values[r + i] = data[i * width + c]!;
      r += n;
    }
    columns.push(plainColumn(w, valueNames[c]!, 'FLOAT', LITTLE_ENDIAN ? bytes : floatsLittleEndian(values), rows, undefined));
  }
  let uncompressed = 0n;
  for (const c of columns) uncompressed += c.meta_data!.total_uncompressed_size;
  return { columns, total_byte_size: uncompressed, num_rows: BigInt(rows), total_compressed_size: BigInt(w.offset - start) };
}

/** Writes a page (header, then its compressed body); returns the uncompressed size with the header. */
function writePage(w: ByteWriter, body: Uint8Array, header: (compressedSize: number) => Parameters<typeof writePageHeader>[1]): number {
  const packed = snappyCompress(body);
  const at = w.offset;
  writePageHeader(w, header(packed.length));
  const headerSize = w.offset - at;
  w.appendBytes(packed);
  return headerSize + body.length;
}

function dataPage(w: ByteWriter, body: Uint8Array, rows: number, encoding: Encoding): number {
  return writePage(w, body, (compressed) => ({
    type: 'DATA_PAGE_V2',
    uncompressed_page_size: body.length,
    compressed_page_size: compressed,
    data_page_header_v2: { num_values: rows, num_nulls: 0, num_rows: rows, encoding, definition_levels_byte_length: 0, repetition_levels_byte_length: 0, is_compressed: true },
  }));
}

function chunk(w: ByteWriter, start: number, meta: Omit<ColumnMetaData, 'codec' | 'total_compressed_size' | 'total_uncompressed_size'>, uncompressed: number): ColumnChunk {
  return {
    file_offset: BigInt(start),
    meta_data: { ...meta, codec: 'SNAPPY', total_uncompressed_size: BigInt(uncompressed), total_compressed_size: BigInt(w.offset - start) },
  };
}

/** A column of plain values, one data page. */
function plainColumn(w: ByteWriter, name: string, type: Physical, body: Uint8Array, rows: number, statistics: Statistics | undefined): ColumnChunk {
  const start = w.offset;
  const size = dataPage(w, body, rows, 'PLAIN');
  return chunk(w, start, { type, encodings: ['PLAIN'], path_in_schema: [name], num_values: BigInt(rows), data_page_offset: BigInt(start), statistics }, size);
}

/**
 * A column that has one value a frame: a dictionary page of its distinct values, then a data page
 * of RLE runs of their indexes, a run a frame (runs of equal neighbours merged).
 */
function frameColumn(w: ByteWriter, c: FrameColumn, frames: readonly Frame[], a: number, b: number, rows: number): ColumnChunk {
  const index = new Map<string | number, number>();
  const dictionary: (string | number)[] = [];
  const runIndex = new Uint32Array(b - a);
  const runLength = new Uint32Array(b - a);
  let runs = 0;
  let last = -1;
  for (let k = a; k < b; k++) {
    const f = frames[k]!;
    const v = c.value(f);
    let d = index.get(v);
    if (d === undefined) {
      d = dictionary.length;
      dictionary.push(v);
      index.set(v, d);
    }
    if (d === last && runs > 0) runLength[runs - 1] = runLength[runs - 1]! + f.count;
    else if (f.count > 0) {
      runIndex[runs] = d;
      runLength[runs++] = f.count;
      last = d;
    }
  }
  // Dictionary page: PLAIN values (strings as their UTF-8 bytes, which also order their bounds).
  const type = c.type;
  let dict: Uint8Array;
  let statistics: Statistics;
  if (type === 'BYTE_ARRAY') {
    const bytes = dictionary.map((v) => utf8.encode(v as string));
    dict = plainByteArrays(bytes);
    statistics = stringBounds(dictionary as string[], bytes);
  } else {
    dict = plainValues(type, dictionary as number[]);
    statistics = bounds(type, dictionary as number[]);
  }
  // Data page: bit width, then RLE runs (header varint(length << 1), the index in whole bytes).
  const bitWidth = Math.max(1, Math.ceil(Math.log2(dictionary.length)));
  const indexBytes = Math.ceil(bitWidth / 8);
  const body = new Uint8Array(1 + runs * (5 + indexBytes));
  body[0] = bitWidth;
  let p = 1;
  for (let r = 0; r < runs; r++) {
    let h = runLength[r]! * 2;
    while (h >= 0x80) {
      body[p++] = (h & 0x7f) | 0x80;
      h = Math.floor(h / 128);
    }
    body[p++] = h;
    for (let i = 0, v = runIndex[r]!; i < indexBytes; i++, v >>>= 8) body[p++] = v & 0xff;
  }
  const start = w.offset;
  let size = writePage(w, dict, (compressed) => ({
    type: 'DICTIONARY_PAGE',
    uncompressed_page_size: dict.length,
    compressed_page_size: compressed,
    dictionary_page_header: { num_values: dictionary.length, encoding: 'PLAIN' },
  }));
  const dataAt = w.offset;
  size += dataPage(w, body.subarray(0, p), rows, 'RLE_DICTIONARY');
  return chunk(w, start, {
    type: c.type,
    encodings: ['PLAIN', 'RLE_DICTIONARY'],
    path_in_schema: [c.name],
    num_values: BigInt(rows),
    data_page_offset: BigInt(dataAt),
    dictionary_page_offset: BigInt(start),
    statistics: rows > 0 ? statistics : undefined,
  }, size);
}

/** `i`, each row's sample or window index in its frame: plain INT32 (Snappy takes its repeats). */
function indexColumn(w: ByteWriter, frames: readonly Frame[], a: number, b: number, rows: number): ColumnChunk {
  const buf = new Uint8Array(rows * 4);
  const view = new DataView(buf.buffer);
  let r = 0;
  let max = -1;
  for (let k = a; k < b; k++) {
    const n = frames[k]!.count;
    for (let i = 0; i < n; i++, r++) view.setInt32(r * 4, i, true);
    if (n - 1 > max) max = n - 1;
  }
  return plainColumn(w, 'i', 'INT32', buf, rows, rows > 0 ? { min_value: 0, max_value: max, null_count: 0n } : undefined);
}

/** `t`, each row's time in µs: plain INT64, written as two 32-bit halves. */
function timeColumn(w: ByteWriter, frames: readonly Frame[], a: number, b: number, rows: number, raw: boolean): ColumnChunk {
  const buf = new Uint8Array(rows * 8);
  const view = new DataView(buf.buffer);
  let r = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let k = a; k < b; k++) {
    const f = frames[k]!;
    const step = (raw ? 1 : f.hop) * 1e6 / f.sampleRate;
    for (let i = 0; i < f.count; i++, r++) {
      const t = f.t0 + Math.round(i * step);
      if (!Number.isSafeInteger(t)) throw new RangeError(`archive object: frame ${f.sensorId}/${f.seq} has time ${t} µs, not a 64-bit integer`);
      const hi = Math.floor(t / TWO_32);
      view.setUint32(r * 8, t - hi * TWO_32, true);
      view.setInt32(r * 8 + 4, hi, true);
      if (t < min) min = t;
      if (t > max) max = t;
    }
  }
  return plainColumn(w, 't', 'INT64', buf, rows, rows > 0 ? { min_value: BigInt(min), max_value: BigInt(max), null_count: 0n } : undefined);
}

/** PLAIN BYTE_ARRAY values: each one's length (u32), then its bytes. */
function plainByteArrays(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let p = 0;
  for (const part of parts) {
    view.setUint32(p, part.length, true);
    out.set(part, p + 4);
    p += 4 + part.length;
  }
  return out;
}

function plainValues(type: Exclude<Physical, 'BYTE_ARRAY'>, values: readonly number[]): Uint8Array {
  const size = type === 'INT64' ? 8 : 4;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (type === 'INT64') view.setBigInt64(i * 8, BigInt(v), true);
    else if (type === 'INT32') view.setInt32(i * 4, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return out;
}

/** Min and max of distinct strings, as Parquet orders them: by their UTF-8 bytes. */
function stringBounds(values: readonly string[], bytes: readonly Uint8Array[]): Statistics {
  let lo = 0;
  let hi = 0;
  for (let i = 1; i < bytes.length; i++) {
    if (Buffer.compare(bytes[i]!, bytes[lo]!) < 0) lo = i;
    if (Buffer.compare(bytes[i]!, bytes[hi]!) > 0) hi = i;
  }
  return { min_value: values[lo], max_value: values[hi], null_count: 0n };
}

/** Min and max of distinct numbers, as Parquet orders them (NaN left out). */
function bounds(type: Exclude<Physical, 'BYTE_ARRAY'>, values: readonly number[]): Statistics {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    const x = type === 'FLOAT' ? Math.fround(v) : v;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (min === Infinity) return { null_count: 0n }; // all NaN: no bounds
  if (type === 'INT64') return { min_value: BigInt(min), max_value: BigInt(max), null_count: 0n };
  // Parquet's rule for zeros: a min of zero is -0, a max of zero is +0.
  return { min_value: min === 0 ? -0 : min, max_value: max === 0 ? 0 : max, null_count: 0n };
}

function floatsLittleEndian(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}
