// The archive's file format and object names: raw and feature frames as Parquet, one object per
// (kind, date, hour, group, layout, width) of each flushed range of one Kafka partition.
//
//   <prefix>/<kind>/date=YYYY-MM-DD/hour=HH/group=<group>/<source>-p<partition>-<first>-<last>-<layout>-w<width>.parquet
//
// `source` is the input topic's role (raw or features), `first`/`last` the Kafka offsets the flush
// covered (zero-padded, so names sort), `layout` the frames' layout id in hex, `width` their values
// per sample or window. Date and hour are the UTC time of each frame's first sample. A flush that
// is replayed covers the same offsets (the archiver commits its plan first, archiver.ts), so it
// writes the same names: it overwrites, never duplicates.
//
// Rows: one per sample (raw) or per window (features), in Kafka order, then in frame order:
//   sensor_id, gateway_id, group  STRING
//   seq                           INT64   the frame's per-sensor sequence number
//   i                             INT32   sample (raw) or window (features) index in the frame
//   t                             INT64   TIMESTAMP(MICROS, UTC): that sample's or window's start
//   sample_rate                   FLOAT   Hz
//   flags                         INT32   frame flags (GAP, REPLAY, FEATURES_SENT)
//   window, hop                   INT32   features only: window length and hop in samples
//   one FLOAT column per channel (raw IMU6: ax ay az gx gy gz) or per feature (its layout name)
// Row groups of up to 100,000 rows (a frame is never split); the columns that hold one value a
// frame (sensor_id, gateway_id, group, seq, sample_rate, flags, window, hop) dictionary encoded, i, t
// and the values plain, every page Snappy compressed; min/max statistics on every column but the
// values (frames-parquet.ts).
// Key-value metadata: edgewave.kind, edgewave.layout, edgewave.topic, edgewave.partition,
// edgewave.first_offset, edgewave.last_offset. Frames come back whole from these rows
// (`parquetToFrames`), so the archive can be replayed.

import { parquetMetadata, parquetRead } from 'hyparquet';
import { LAYOUT_IMU6, type Frame, type FrameKind } from '../../protocol/index.js';
import { encodeFramesParquet } from './frames-parquet.js';

export const IMU6_CHANNELS = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;

/** Where a flushed range came from. */
export interface ArchiveRange {
  /** The input topic's role. */
  source: 'raw' | 'features';
  topic: string;
  partition: number;
  first: string;
  last: string;
}

/** One archive object: its key (below the prefix) and its frames. */
export interface ArchivePart {
  key: string;
  kind: FrameKind;
  layoutId: number;
  frames: Frame[];
}

const pad = (offset: string) => offset.padStart(20, '0');
const hex = (n: number) => n.toString(16).padStart(8, '0');

/** What an archive object's name says (below the prefix). */
export interface ArchiveKey {
  kind: FrameKind;
  date: string;
  hour: string;
  group: string;
  source: 'raw' | 'features';
  partition: number;
  first: bigint;
  last: bigint;
}

const KEY = /(?:^|\/)(raw|features)\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/group=([^/]+)\/(raw|features)-p(\d+)-(\d+)-(\d+)-[0-9a-f]{8}-w\d+\.parquet$/;

/** Reads an archive object's name; null for a name the archive does not write. */
export function parseArchiveKey(key: string): ArchiveKey | null {
  const m = KEY.exec(key);
  if (!m) return null;
  return { kind: m[1] as FrameKind, date: m[2]!, hour: m[3]!, group: m[4]!, source: m[5] as 'raw' | 'features', partition: Number(m[6]), first: BigInt(m[7]!), last: BigInt(m[8]!) };
}

/** Date and hour (UTC) of a µs timestamp: the archive's partition folders. */
export function dateHour(tUs: number): { date: string; hour: string } {
  const iso = new Date(Math.floor(tUs / 1000)).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** Splits a flushed range's frames into archive objects. */
export function partsOf(frames: readonly Frame[], range: ArchiveRange): ArchivePart[] {
  const parts: ArchivePart[] = [];
  // A group's parts (usually one: one kind, hour and layout), so that a frame finds its part without
  // making its name.
  const byGroup = new Map<string, { part: ArchivePart; hour: number; width: number }[]>();
  // The frames of a flush mostly share one hour: its folders are worked out once.
  let hourOf = NaN;
  let folders = { date: '', hour: '' };
  for (const f of frames) {
    const h = Math.floor(f.t0 / 3_600_000_000);
    let list = byGroup.get(f.group);
    if (!list) byGroup.set(f.group, (list = []));
    let entry = list.find((e) => e.hour === h && e.width === f.width && e.part.kind === f.kind && e.part.layoutId === f.layoutId);
    if (!entry) {
      if (h !== hourOf) {
        hourOf = h;
        folders = dateHour(f.t0);
      }
      const { date, hour } = folders;
      const key = `${f.kind}/date=${date}/hour=${hour}/group=${f.group}/${range.source}-p${range.partition}-${pad(range.first)}-${pad(range.last)}-${hex(f.layoutId)}-w${f.width}.parquet`;
      entry = { part: { key, kind: f.kind, layoutId: f.layoutId, frames: [] }, hour: h, width: f.width };
      list.push(entry);
      parts.push(entry.part);
    }
    entry.part.frames.push(f);
  }
  return parts;
}

/** The value columns' names: IMU6 channels, the layout's feature names when known, else c0.. / f0... */
export function valueNames(kind: FrameKind, layoutId: number, width: number, featureNames?: readonly string[]): string[] {
  if (kind === 'raw' && layoutId === LAYOUT_IMU6 && width === IMU6_CHANNELS.length) return [...IMU6_CHANNELS];
  if (kind === 'features' && featureNames && featureNames.length === width) return [...featureNames];
  return Array.from({ length: width }, (_, i) => `${kind === 'raw' ? 'c' : 'f'}${i}`);
}

/** The Parquet bytes of one archive object. All frames must share kind, layout and width. */
export function framesToParquet(part: ArchivePart, range: ArchiveRange, featureNames?: readonly string[]): Uint8Array {
  const frames = part.frames;
  const width = frames[0]!.width;
  for (const f of frames) {
    if (f.kind !== part.kind || f.layoutId !== part.layoutId || f.width !== width) throw new Error(`archive part ${part.key}: mixed frames`);
  }
  return encodeFramesParquet(frames, {
    valueNames: valueNames(part.kind, part.layoutId, width, featureNames),
    kvMetadata: [
      { key: 'edgewave.kind', value: part.kind },
      { key: 'edgewave.layout', value: String(part.layoutId) },
      { key: 'edgewave.topic', value: range.topic },
      { key: 'edgewave.partition', value: String(range.partition) },
      { key: 'edgewave.first_offset', value: range.first },
      { key: 'edgewave.last_offset', value: range.last },
    ],
  });
}

/**
 * The frames of one archive object, as they were archived. Read by column (hyparquet decodes each
 * column chunk to an array; any writer's encodings), then cut into frames where the sensor, the seq
 * or the run of `i` changes: no object a row, and a raw frame's channels copied a channel at a time.
 */
export async function parquetToFrames(bytes: Uint8Array): Promise<Frame[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(file);
  const kv = new Map((meta.key_value_metadata ?? []).map((e) => [e.key, e.value ?? '']));
  const kind = kv.get('edgewave.kind') as FrameKind | undefined;
  if (kind !== 'raw' && kind !== 'features') throw new Error('not an edgewave archive object (no edgewave.kind metadata)');
  const layoutId = Number(kv.get('edgewave.layout'));
  const fixed = new Set(['sensor_id', 'gateway_id', 'group', 'seq', 'i', 't', 'sample_rate', 'flags', 'window', 'hop']);
  const valueColumns = meta.schema.slice(1).map((e) => e.name).filter((n) => !fixed.has(n));
  const width = valueColumns.length;
  const rows = Number(meta.num_rows);
  // Each column's chunks (a row group's pages may come as several), then the column whole.
  const chunks = new Map<string, { rowStart: number; data: ArrayLike<unknown> }[]>();
  await parquetRead({
    file,
    metadata: meta,
    utf8: true,
    parsers: { timestampFromMicroseconds: (v: bigint) => v } as never,
    onChunk: ({ columnName, columnData, rowStart }) => {
      let list = chunks.get(columnName);
      if (!list) chunks.set(columnName, (list = []));
      list.push({ rowStart, data: columnData as ArrayLike<unknown> });
    },
  });
  const column = <T>(name: string): ArrayLike<T> => {
    const list = chunks.get(name);
    if (!list) throw new Error(`archive object: no column ${name}`);
    if (list.length === 1 && list[0]!.rowStart === 0 && list[0]!.data.length >= rows) return list[0]!.data as ArrayLike<T>;
    const first = list[0]!.data;
    const whole: { [i: number]: unknown; length: number } = ArrayBuffer.isView(first) ? new (first.constructor as new (n: number) => { [i: number]: unknown; length: number })(rows) : new Array<unknown>(rows);
    for (const c of list) {
      const n = Math.min(c.data.length, rows - c.rowStart);
      if (ArrayBuffer.isView(c.data) && ArrayBuffer.isView(whole) && c.data.constructor === whole.constructor) (whole as unknown as Float32Array).set((c.data as unknown as Float32Array).subarray(0, n), c.rowStart);
      else for (let i = 0; i < n; i++) whole[c.rowStart + i] = c.data[i];
    }
    return whole as ArrayLike<T>;
  };
  const sensor = column<string>('sensor_id');
  const gateway = column<string>('gateway_id');
  const group = column<string>('group');
  const seq = column<bigint | number>('seq');
  const index = column<number>('i');
  const t = column<bigint | number>('t');
  const rate = column<number>('sample_rate');
  const flags = column<number>('flags');
  // Window and hop: feature objects only.
  const windowCol = kind === 'features' ? column<number>('window') : null;
  const hopCol = kind === 'features' ? column<number>('hop') : null;
  const values = valueColumns.map((name) => column<number>(name));
  const frames: Frame[] = [];
  let k = 0;
  while (k < rows) {
    const id = sensor[k]!;
    const s = seq[k]!;
    let n = 1;
    while (k + n < rows && sensor[k + n] === id && seq[k + n] === s && index[k + n] === n) n++;
    const data = new Float32Array(n * width);
    for (let c = 0; c < width; c++) {
      const v = values[c]!;
      if (kind === 'raw' && v instanceof Float32Array) data.set(v.subarray(k, k + n), c * n);
      else if (kind === 'raw') for (let i = 0; i < n; i++) data[c * n + i] = v[k + i]!;
      else for (let i = 0; i < n; i++) data[i * width + c] = v[k + i]!;
    }
    frames.push({
      kind,
      flags: flags[k]!,
      sensorId: id,
      gatewayId: gateway[k]!,
      group: group[k]!,
      seq: Number(s),
      t0: Number(t[k]!),
      sampleRate: rate[k]!,
      count: n,
      width,
      window: windowCol ? windowCol[k]! : 0,
      hop: hopCol ? hopCol[k]! : 0,
      layoutId,
      data,
    });
    k += n;
  }
  return frames;
}
