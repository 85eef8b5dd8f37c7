// The archive's Parquet form: frames written and read back are the same frames (every field, every
// float bit), objects split by kind, hour, group and layout, and names carry the offset range.

import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { afterAll, describe, expect, it } from 'vitest';
import { framesToParquet, parquetToFrames, partsOf, type ArchiveRange } from '../../../cloud/store/archive.js';
import { featureLayout, parseFeatureConfig, presetSettings } from '../../../dsp/src/index.js';
import { FLAG_GAP, LAYOUT_IMU6, type Frame } from '../../../protocol/index.js';
import { edgeFrames } from './edge-frames.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-archive-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T0 = Date.UTC(2026, 10, 25, 9, 59, 50) * 1000; // ten seconds before an hour ends

const range: ArchiveRange = { source: 'raw', topic: 'edgewave.raw', partition: 3, first: '1200', last: '1299' };
const plain = (f: Frame) => ({ ...f, data: Array.from(f.data, (v) => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v)) });

describe('archive objects', () => {
  it('read back equal to the frames written, split by kind, hour, group and layout', async () => {
    const frames = await edgeFrames({ dir, sensors: 6, seed: 4, flushes: 400, t0: T0 });
    expect(new Set(frames.map((f) => f.kind))).toEqual(new Set(['raw', 'features']));
    const parts = partsOf(frames, range);
    // 2 kinds x 2 hours x 2 groups
    expect(parts.length).toBe(8);
    for (const part of parts) {
      expect(part.key).toMatch(/^(raw|features)\/date=2026-11-25\/hour=(09|10)\/group=[^/]+\/raw-p3-0{16}1200-0{16}1299-[0-9a-f]{8}-w\d+\.parquet$/);
      const names = part.kind === 'features' ? featureLayout(parseFeatureConfig({ ...presetSettings('uplink'), sampleRate: 200 })).features.map((f) => f.name) : undefined;
      const bytes = framesToParquet(part, range, names);
      const back = await parquetToFrames(bytes);
      expect(back.map(plain)).toEqual(part.frames.map(plain));
      // Readable as ordinary columns by any Parquet reader.
      const meta = parquetMetadata(bytes.buffer as ArrayBuffer);
      const cols = meta.schema.slice(1).map((e) => e.name);
      if (part.kind === 'raw') expect(cols.slice(-6)).toEqual(['ax', 'ay', 'az', 'gx', 'gy', 'gz']);
      else expect(cols).toContain('acc.mag_mean');
      expect(meta.key_value_metadata).toContainEqual({ key: 'edgewave.last_offset', value: '1299' });
    }
    // Every frame is in exactly one object.
    expect(parts.reduce((n, p) => n + p.frames.length, 0)).toBe(frames.length);
  });

  it('keeps odd frames whole: gaps, NaN, other widths, unknown layouts, one sample', async () => {
    const base = { flags: 0, sensorId: 's:1', gatewayId: 'gw', group: 'g.1', sampleRate: 333.25, window: 0, hop: 0 };
    const frames: Frame[] = [
      { ...base, kind: 'raw', seq: 2 ** 53 - 1, t0: T0, count: 1, width: 6, layoutId: LAYOUT_IMU6, data: new Float32Array([1, -0, NaN, Infinity, -1e-45, 3.4e38]) },
      { ...base, kind: 'raw', flags: FLAG_GAP, seq: 0, t0: T0 + 7, count: 3, width: 2, layoutId: 0, data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      { ...base, kind: 'features', seq: 5, t0: T0, count: 2, width: 3, window: 64, hop: 32, layoutId: 0xdeadbeef, data: new Float32Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]) },
    ];
    for (const part of partsOf(frames, range)) {
      const back = await parquetToFrames(framesToParquet(part, range));
      expect(back.map(plain)).toEqual(part.frames.map(plain));
    }
    const [unknown] = partsOf([frames[2]!], range);
    const rows = await parquetReadObjects({ file: framesToParquet(unknown!, range).buffer as ArrayBuffer });
    expect(Object.keys(rows[0]!)).toEqual(['sensor_id', 'gateway_id', 'group', 'seq', 'i', 't', 'sample_rate', 'flags', 'window', 'hop', 'f0', 'f1', 'f2']);
  });

  it('reads back objects of several row groups, and objects another writer made with its own encodings and row groups that split frames', async () => {
    // 250,000 rows: three row groups of the archive's encoder.
    const many: Frame[] = [];
    for (let k = 0; k < 25; k++) {
      for (let s = 0; s < 1000; s++) {
        const data = new Float32Array(60);
        for (let i = 0; i < 60; i++) data[i] = Math.fround(Math.sin(s * 7 + k * 13 + i) * 9.81);
        many.push({ kind: 'raw', flags: k % 7 === 0 ? FLAG_GAP : 0, sensorId: `gw-${s}`, gatewayId: `gw-${s >> 8}`, group: 'g', seq: k, t0: T0 + k * 50_000, sampleRate: 200, count: 10, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6, data });
      }
    }
    const [part] = partsOf(many, range);
    const bytes = framesToParquet(part!, range);
    expect(parquetMetadata(bytes.buffer as ArrayBuffer).row_groups.length).toBe(3);
    expect((await parquetToFrames(bytes)).map(plain)).toEqual(part!.frames.map(plain));

    // The same rows from a general writer: its default encodings, row groups of 7 rows (frames of
    // 10 samples split across them), several pages a column chunk.
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const fs = part!.frames.slice(0, 300);
    const n = fs.length * 10;
    const col = <T>(f: (fr: Frame, i: number) => T): T[] => fs.flatMap((fr) => Array.from({ length: fr.count }, (_, i) => f(fr, i)));
    const other = new Uint8Array(parquetWriteBuffer({
      columnData: [
        { name: 'sensor_id', data: col((f) => f.sensorId), type: 'STRING', nullable: false },
        { name: 'gateway_id', data: col((f) => f.gatewayId), type: 'STRING', nullable: false },
        { name: 'group', data: col((f) => f.group), type: 'STRING', nullable: false },
        { name: 'seq', data: BigInt64Array.from(col((f) => BigInt(f.seq))), type: 'INT64', nullable: false },
        { name: 'i', data: Int32Array.from(col((_f, i) => i)), type: 'INT32', nullable: false },
        { name: 't', data: BigInt64Array.from(col((f, i) => BigInt(f.t0 + i * 5000))), type: 'INT64', nullable: false },
        { name: 'sample_rate', data: Float32Array.from(col((f) => f.sampleRate)), type: 'FLOAT', nullable: false },
        { name: 'flags', data: Int32Array.from(col((f) => f.flags)), type: 'INT32', nullable: false },
        ...['ax', 'ay', 'az', 'gx', 'gy', 'gz'].map((name, c) => ({ name, data: Float32Array.from(col((f, i) => f.data[c * f.count + i]!)), type: 'FLOAT' as const, nullable: false })),
      ],
      rowGroupSize: 7,
      pageSize: 64,
      kvMetadata: [{ key: 'edgewave.kind', value: 'raw' }, { key: 'edgewave.layout', value: String(LAYOUT_IMU6) }],
    }));
    expect(parquetMetadata(other.buffer as ArrayBuffer).row_groups.length).toBe(Math.ceil(n / 7));
    expect((await parquetToFrames(other)).map(plain)).toEqual(fs.map(plain));
  });

  it('refuses bytes that are no archive object', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const other = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'x', data: [1, 2], type: 'INT32' }] }));
    await expect(parquetToFrames(other)).rejects.toThrow(/not an edgewave archive object/);
  });
});
