// The archive's file format and object names: raw and feature frames as Parquet, one object per
// (kind, date, hour, group, layout) of each flushed range of one Kafka partition.
//
//   <prefix>/<kind>/date=YYYY-MM-DD/hour=HH/group=<group>/<source>-p<partition>-<first>-<last>-<layout>.parquet
//
// `source` is the input topic's role (raw or features), `first`/`last` the Kafka offsets the flush
// covered (zero-padded, so names sort), `layout` the frames' layout id in hex. Date and hour are
// the UTC time of each frame's first sample. A flush that is replayed covers the same offsets (the
// archiver commits its plan first, archiver.ts), so it writes the same names: it overwrites, never
// duplicates.
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
// Key-value metadata: edgewave.kind, edgewave.layout, edgewave.topic, edgewave.partition,
// edgewave.first_offset, edgewave.last_offset. Frames come back whole from these rows
// (`parquetToFrames`), so the archive can be replayed.

import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { LAYOUT_IMU6, type Frame, type FrameKind } from '../../protocol/index.js';

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

/** Date and hour (UTC) of a µs timestamp: the archive's partition folders. */
export function dateHour(tUs: number): { date: string; hour: string } {
  const iso = new Date(Math.floor(tUs / 1000)).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** Splits a flushed range's frames into archive objects. */
export function partsOf(frames: readonly Frame[], range: ArchiveRange): ArchivePart[] {
  const parts = new Map<string, ArchivePart>();
  // The frames of a flush mostly share one hour: its folders are worked out once.
  let hourOf = NaN;
  let folders = { date: '', hour: '' };
  for (const f of frames) {
    const h = Math.floor(f.t0 / 3_600_000_000);
    if (h !== hourOf) {
      hourOf = h;
      folders = dateHour(f.t0);
    }
    const { date, hour } = folders;
    const key = `${f.kind}/date=${date}/hour=${hour}/group=${f.group}/${range.source}-p${range.partition}-${pad(range.first)}-${pad(range.last)}-${hex(f.layoutId)}-w${f.width}.parquet`;
    let p = parts.get(key);
    if (!p) parts.set(key, (p = { key, kind: f.kind, layoutId: f.layoutId, frames: [] }));
    p.frames.push(f);
  }
  return [...parts.values()];
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
  const raw = part.kind === 'raw';
  let rows = 0;
  for (const f of frames) {
    if (f.kind !== part.kind || f.layoutId !== part.layoutId || f.width !== width) throw new Error(`archive part ${part.key}: mixed frames`);
    rows += f.count;
  }
  const sensor: string[] = new Array(rows);
  const gateway: string[] = new Array(rows);
  const group: string[] = new Array(rows);
  const seq = new BigInt64Array(rows);
  const idx = new Int32Array(rows);
  const t = new BigInt64Array(rows);
  const rate = new Float32Array(rows);
  const flags = new Int32Array(rows);
  const win = new Int32Array(rows);
  const hop = new Int32Array(rows);
  const values = Array.from({ length: width }, () => new Float32Array(rows));
  let r = 0;
  for (const f of frames) {
    const step = (raw ? 1 : f.hop) * 1e6 / f.sampleRate;
    const s = BigInt(f.seq);
    for (let i = 0; i < f.count; i++, r++) {
      sensor[r] = f.sensorId;
      gateway[r] = f.gatewayId;
      group[r] = f.group;
      seq[r] = s;
      idx[r] = i;
      t[r] = BigInt(f.t0 + Math.round(i * step));
      rate[r] = f.sampleRate;
      flags[r] = f.flags;
      win[r] = f.window;
      hop[r] = f.hop;
      // raw: planar by channel; features: by window
      for (let c = 0; c < width; c++) values[c]![r] = raw ? f.data[c * f.count + i]! : f.data[i * width + c]!;
    }
  }
  const names = valueNames(part.kind, part.layoutId, width, featureNames);
  const columnData: ColumnSource[] = [
    { name: 'sensor_id', data: sensor, type: 'STRING', nullable: false },
    { name: 'gateway_id', data: gateway, type: 'STRING', nullable: false },
    { name: 'group', data: group, type: 'STRING', nullable: false },
    { name: 'seq', data: seq, type: 'INT64', nullable: false },
    { name: 'i', data: idx, type: 'INT32', nullable: false },
    // Each row's own time: a dictionary never fits it, so none is tried.
    { name: 't', data: t, type: 'INT64', nullable: false, encoding: 'PLAIN' },
    { name: 'sample_rate', data: rate, type: 'FLOAT', nullable: false },
    { name: 'flags', data: flags, type: 'INT32', nullable: false },
    ...(raw ? [] : [{ name: 'window', data: win, type: 'INT32', nullable: false } as ColumnSource, { name: 'hop', data: hop, type: 'INT32', nullable: false } as ColumnSource]),
    // Plain floats without statistics: a dictionary never fits sensor values, and min/max of each
    // page took a sixth of the encoding (a CPU profile) for what few readers of an archive ask.
    ...values.map((data, c): ColumnSource => ({ name: names[c]!, data, type: 'FLOAT', nullable: false, encoding: 'PLAIN', statistics: false })),
  ];
  const schema = [
    { name: 'root', num_children: columnData.length },
    ...columnData.map((c) =>
      c.name === 't'
        ? { name: 't', type: 'INT64' as const, repetition_type: 'REQUIRED' as const, logical_type: { type: 'TIMESTAMP' as const, isAdjustedToUTC: true, unit: 'MICROS' as const } }
        : { name: c.name, type: ({ STRING: 'BYTE_ARRAY', INT64: 'INT64', INT32: 'INT32', FLOAT: 'FLOAT' } as const)[c.type as 'STRING' | 'INT64' | 'INT32' | 'FLOAT'], repetition_type: 'REQUIRED' as const, ...(c.type === 'STRING' ? { converted_type: 'UTF8' as const } : {}) },
    ),
  ];
  const buf = parquetWriteBuffer({
    columnData: columnData.map(({ type: _type, ...c }) => c),
    schema,
    rowGroupSize: 100_000,
    createdBy: 'edgewave',
    kvMetadata: [
      { key: 'edgewave.kind', value: part.kind },
      { key: 'edgewave.layout', value: String(part.layoutId) },
      { key: 'edgewave.topic', value: range.topic },
      { key: 'edgewave.partition', value: String(range.partition) },
      { key: 'edgewave.first_offset', value: range.first },
      { key: 'edgewave.last_offset', value: range.last },
    ],
  });
  return new Uint8Array(buf);
}

/** The frames of one archive object, as they were archived. */
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
  const rows = (await parquetReadObjects({ file, utf8: true, parsers: { timestampFromMicroseconds: (v: bigint) => v } as never })) as Record<string, unknown>[];
  const frames: Frame[] = [];
  let k = 0;
  while (k < rows.length) {
    const head = rows[k]!;
    let n = 1;
    while (k + n < rows.length && rows[k + n]!.sensor_id === head.sensor_id && rows[k + n]!.seq === head.seq && (rows[k + n]!.i as number) === n) n++;
    const data = new Float32Array(n * width);
    for (let i = 0; i < n; i++) {
      const row = rows[k + i]!;
      for (let c = 0; c < width; c++) data[kind === 'raw' ? c * n + i : i * width + c] = row[valueColumns[c]!] as number;
    }
    frames.push({
      kind,
      flags: head.flags as number,
      sensorId: head.sensor_id as string,
      gatewayId: head.gateway_id as string,
      group: head.group as string,
      seq: Number(head.seq as bigint),
      t0: Number(head.t as bigint),
      sampleRate: head.sample_rate as number,
      count: n,
      width,
      window: kind === 'raw' ? 0 : (head.window as number),
      hop: kind === 'raw' ? 0 : (head.hop as number),
      layoutId,
      data,
    });
    k += n;
  }
  return frames;
}
