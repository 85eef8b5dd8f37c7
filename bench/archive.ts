// The archive's Parquet encoding: an archive object of raw frames (one row a sample) written by the
// archive's own encoder (cloud/store/frames-parquet.ts) against the baseline, the general writer
// the archive used until 2026-12-06 (hyparquet-writer's parquetWriteBuffer, a JavaScript value a
// row for every column, with the same schema, encodings and statistics as it was given then).
// Both objects are read back (hyparquet) and must hold the same rows.
// Then reading an object back into frames (what `edgewave processor replay` does with each one):
// `parquetToFrames`, by column, against the baseline, the reader it used until 2026-12-06
// (hyparquet's parquetReadObjects, an object a row, then frames cut from the rows).
// Run: npm run bench:archive [-- --json] [-- --sensors 250] [-- --frames 20]   (frames of 10 samples, 200 Hz)

import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { framesToParquet, parquetToFrames, partsOf, valueNames, type ArchivePart, type ArchiveRange } from '../cloud/store/archive.js';
import { ImuSignal } from '../edge/imu-signal.js';
import { LAYOUT_IMU6, type Frame } from '../protocol/index.js';
import { bench } from './harness.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const sensors = arg('sensors', 250);
const perSensor = arg('frames', 20);
const count = 10;
const t0 = Date.UTC(2026, 11, 6, 10) * 1000;
const signals = Array.from({ length: sensors }, (_, i) => new ImuSignal(200, (['walking', 'running', 'idle'] as const)[i % 3]!, i));
const frames: Frame[] = [];
for (let k = 0; k < perSensor; k++) {
  for (let s = 0; s < sensors; s++) {
    frames.push({ kind: 'raw', flags: 0, sensorId: `gw1-${String(s).padStart(3, '0')}`, gatewayId: 'gw1', group: `group-${s % 2}`, seq: 5000 + k, t0: t0 + k * 50_000, sampleRate: 200, count, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6, data: signals[s]!.next(count) });
  }
}
const range: ArchiveRange = { source: 'raw', topic: 'edgewave.raw', partition: 0, first: '100', last: '199' };
// One object: the frames of one group (as a flush splits them), the other group's left out.
const part = partsOf(frames, range)[0]!;
const rows = part.frames.reduce((n, f) => n + f.count, 0);

/** The baseline: the general writer, as the archive called it until 2026-12-06. */
function generalWriter(p: ArchivePart): Uint8Array {
  const fs = p.frames;
  const width = fs[0]!.width;
  let n = 0;
  for (const f of fs) n += f.count;
  const sensor: string[] = new Array(n);
  const gateway: string[] = new Array(n);
  const group: string[] = new Array(n);
  const seq = new BigInt64Array(n);
  const idx = new Int32Array(n);
  const t = new BigInt64Array(n);
  const rate = new Float32Array(n);
  const flags = new Int32Array(n);
  const values = Array.from({ length: width }, () => new Float32Array(n));
  let r = 0;
  for (const f of fs) {
    const step = 1e6 / f.sampleRate;
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
      for (let c = 0; c < width; c++) values[c]![r] = f.data[c * f.count + i]!;
    }
  }
  const names = valueNames(p.kind, p.layoutId, width);
  const columnData: ColumnSource[] = [
    { name: 'sensor_id', data: sensor, type: 'STRING', nullable: false },
    { name: 'gateway_id', data: gateway, type: 'STRING', nullable: false },
    { name: 'group', data: group, type: 'STRING', nullable: false },
    { name: 'seq', data: seq, type: 'INT64', nullable: false },
    { name: 'i', data: idx, type: 'INT32', nullable: false },
    { name: 't', data: t, type: 'INT64', nullable: false, encoding: 'PLAIN' },
    { name: 'sample_rate', data: rate, type: 'FLOAT', nullable: false },
    { name: 'flags', data: flags, type: 'INT32', nullable: false },
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
  return new Uint8Array(parquetWriteBuffer({
    columnData: columnData.map(({ type: _type, ...c }) => c),
    schema,
    rowGroupSize: 100_000,
    createdBy: 'edgewave',
    kvMetadata: [{ key: 'edgewave.kind', value: 'raw' }, { key: 'edgewave.layout', value: String(p.layoutId) }],
  }));
}

/** The baseline reader: an object a row (hyparquet's parquetReadObjects), as replay read objects until 2026-12-06. */
async function rowObjectReader(bytes: Uint8Array): Promise<Frame[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const names = valueNames('raw', LAYOUT_IMU6, 6);
  const rs = (await parquetReadObjects({ file, utf8: true, parsers: { timestampFromMicroseconds: (v: bigint) => v } as never })) as Record<string, unknown>[];
  const out: Frame[] = [];
  let k = 0;
  while (k < rs.length) {
    const head = rs[k]!;
    let n = 1;
    while (k + n < rs.length && rs[k + n]!.sensor_id === head.sensor_id && rs[k + n]!.seq === head.seq && (rs[k + n]!.i as number) === n) n++;
    const data = new Float32Array(n * 6);
    for (let i = 0; i < n; i++) for (let c = 0; c < 6; c++) data[c * n + i] = rs[k + i]![names[c]!] as number;
    out.push({ kind: 'raw', flags: head.flags as number, sensorId: head.sensor_id as string, gatewayId: head.gateway_id as string, group: head.group as string, seq: Number(head.seq as bigint), t0: Number(head.t as bigint), sampleRate: head.sample_rate as number, count: n, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6, data });
    k += n;
  }
  return out;
}

/** Rows a second of an async reader, over about `ms` of repeated reads (after one to warm up). */
async function readRate(read: (b: Uint8Array) => Promise<Frame[]>, bytes: Uint8Array, ms: number): Promise<number> {
  await read(bytes);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await read(bytes);
    n++;
  }
  return (n * rows * 1000) / (performance.now() - start);
}

// The same rows either way.
const ours = framesToParquet(part, range);
const theirs = generalWriter(part);
const [a, b] = await Promise.all([parquetToFrames(ours), parquetToFrames(theirs)]);
const same = a.length === part.frames.length && b.length === a.length && a.every((f, i) => f.sensorId === b[i]!.sensorId && f.seq === b[i]!.seq && f.data.every((v, j) => Object.is(v, b[i]!.data[j])));
if (!same) throw new Error('bench:archive: the two encoders wrote different rows');

const results = bench(
  `archive Parquet encoding, one object of ${part.frames.length} raw frames (${rows} rows, one a sample)`,
  'rows',
  { name: 'general writer (hyparquet-writer)', items: rows, run: () => generalWriter(part) },
  [{ name: 'frame at a time (frames-parquet.ts)', items: rows, run: () => framesToParquet(part, range) }],
);
const usPerRow = results.map((r) => 1e6 / r.itemsPerSec);
const sizes = { general_bytes_per_row: theirs.length / rows, frames_bytes_per_row: ours.length / rows };

// Reading back: both readers give the same frames, then each is timed (alternating, twice each).
const byRows = await rowObjectReader(ours);
const same2 = byRows.length === a.length && byRows.every((f, i) => f.sensorId === a[i]!.sensorId && f.seq === a[i]!.seq && f.t0 === a[i]!.t0 && f.count === a[i]!.count && f.data.every((v, j) => Object.is(v, a[i]!.data[j])));
if (!same2) throw new Error('bench:archive: the two readers gave different frames');
const readMs = Number(process.env.EW_BENCH_MS ?? 1000);
const rates = { rows: [] as number[], columns: [] as number[] };
for (let r = 0; r < 2; r++) {
  rates.rows.push(await readRate(rowObjectReader, ours, readMs));
  rates.columns.push(await readRate(parquetToFrames, ours, readMs));
}
const rowsPerS = { objects: Math.max(...rates.rows), columns: Math.max(...rates.columns) };
const readRatio = rowsPerS.columns / rowsPerS.objects;

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ bench: 'archive', rows, frames: part.frames.length, node: process.version, general_us_per_row: usPerRow[0], frames_us_per_row: usPerRow[1], ratio: results[1]!.ratioToBaseline, ...sizes, read_objects_us_per_row: 1e6 / rowsPerS.objects, read_columns_us_per_row: 1e6 / rowsPerS.columns, read_ratio: readRatio, results }));
} else {
  console.log(`\nµs a row: general ${usPerRow[0]!.toFixed(3)}, frame at a time ${usPerRow[1]!.toFixed(3)}; bytes a row: ${sizes.general_bytes_per_row.toFixed(1)} and ${sizes.frames_bytes_per_row.toFixed(1)}`);
  console.log(`\nreading the object back into frames (replay), rows/s (best of two, about ${readMs} ms each):`);
  console.log(`${'case'.padEnd(44)} ${'rows/s'.padStart(14)} ${'µs a row'.padStart(10)} ${'x baseline'.padStart(11)}`);
  console.log(`${'an object a row (parquetReadObjects)'.padEnd(44)} ${rowsPerS.objects.toExponential(3).padStart(14)} ${(1e6 / rowsPerS.objects).toFixed(3).padStart(10)} ${'1.00'.padStart(11)}`);
  console.log(`${'by column (parquetToFrames)'.padEnd(44)} ${rowsPerS.columns.toExponential(3).padStart(14)} ${(1e6 / rowsPerS.columns).toFixed(3).padStart(10)} ${readRatio.toFixed(2).padStart(11)}`);
}
