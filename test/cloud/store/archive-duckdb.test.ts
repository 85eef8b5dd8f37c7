// The archive's Parquet read by another engine: DuckDB's own Parquet reader (C++, no code shared with
// the encoder in cloud/store/frames-parquet.ts) finds every row, every float bit, each row group's
// statistics, and row groups that never split a frame.

import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framesToParquet, partsOf, valueNames, type ArchiveRange } from '../../../cloud/store/archive.js';
import { encodeFramesParquet } from '../../../cloud/store/frames-parquet.js';
import { featureLayout, parseFeatureConfig, presetSettings } from '../../../dsp/src/index.js';
import { FLAG_GAP, LAYOUT_IMU6, type Frame } from '../../../protocol/index.js';
import { edgeFrames } from './edge-frames.js';

const dir = mkdtempSync(join(tmpdir(), 'edgewave-archive-duckdb-'));
let db: DuckDBConnection;
beforeAll(async () => {
  db = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(() => {
  db?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 10, 25, 9, 59, 50) * 1000;
const range: ArchiveRange = { source: 'raw', topic: 'edgewave.raw', partition: 1, first: '7', last: '90' };
let files = 0;

function save(bytes: Uint8Array): string {
  const path = join(dir, `${files++}.parquet`);
  writeFileSync(path, bytes);
  return path;
}

/** The rows a reader should find for these frames, as plain values (floats as their bits). */
function expectedRows(frames: readonly Frame[], names: readonly string[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const bits = new Uint32Array(1);
  const f32 = new Float32Array(bits.buffer);
  for (const f of frames) {
    const step = (f.kind === 'raw' ? 1 : f.hop) * 1e6 / f.sampleRate;
    for (let i = 0; i < f.count; i++) {
      const row: Record<string, unknown> = {
        sensor_id: f.sensorId, gateway_id: f.gatewayId, group: f.group, seq: BigInt(f.seq), i,
        t: BigInt(f.t0 + Math.round(i * step)), sample_rate: f.sampleRate, flags: f.flags,
        ...(f.kind === 'features' ? { window: f.window, hop: f.hop } : {}),
      };
      names.forEach((n, c) => {
        f32[0] = f.kind === 'raw' ? f.data[c * f.count + i]! : f.data[i * f.width + c]!;
        row[n] = bits[0];
      });
      rows.push(row);
    }
  }
  return rows;
}

/** Every row of a file as DuckDB reads it, in file order, floats as their bits. */
async function duckRows(path: string, names: readonly string[], features: boolean): Promise<Record<string, unknown>[]> {
  const cols = ['sensor_id', 'gateway_id', '"group"', 'seq', 'i', 'epoch_us(t) AS t', 'sample_rate', 'flags', ...(features ? ['"window"', 'hop'] : []), ...names.map((n) => `"${n}"`)];
  const reader = await db.runAndReadAll(`SELECT ${cols.join(', ')} FROM read_parquet('${path}', file_row_number = true) ORDER BY file_row_number`);
  const bits = new Uint32Array(1);
  const f32 = new Float32Array(bits.buffer);
  return reader.getRowObjects().map((r) => {
    const row: Record<string, unknown> = { ...r };
    for (const n of names) {
      f32[0] = r[n] as number;
      row[n] = bits[0];
    }
    return row;
  });
}

describe('archive objects read by DuckDB', () => {
  it('every row and every float bit of raw and feature frames', async () => {
    const frames = await edgeFrames({ dir, sensors: 5, seed: 9, flushes: 300, t0: T0 });
    const names = featureLayout(parseFeatureConfig({ ...presetSettings('uplink'), sampleRate: 200 })).features.map((f) => f.name);
    const parts = partsOf(frames, range);
    expect(new Set(parts.map((p) => p.kind))).toEqual(new Set(['raw', 'features']));
    for (const part of parts) {
      const cols = valueNames(part.kind, part.layoutId, part.frames[0]!.width, part.kind === 'features' ? names : undefined);
      const path = save(framesToParquet(part, range, part.kind === 'features' ? names : undefined));
      expect(await duckRows(path, cols, part.kind === 'features')).toEqual(expectedRows(part.frames, cols));
      const kv = await db.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${path}')`);
      expect(kv.getRowObjects()).toContainEqual({ k: 'edgewave.first_offset', v: '7' });
    }
  });

  it('row groups that keep frames whole, with each one\'s bounds', async () => {
    const base = { kind: 'raw' as const, gatewayId: 'gw', sampleRate: 250, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6 };
    // 40 frames of 7 samples; odd values on purpose: NaN, ±0, infinities, the float extremes.
    const frames: Frame[] = Array.from({ length: 40 }, (_, k) => ({
      ...base,
      flags: k % 5 === 0 ? FLAG_GAP : 0,
      sensorId: `sensor-${['ｱ', '𝄞', 'é'][k % 3]}-${k % 4}`,
      group: `g${k % 2}`,
      seq: 2 ** 53 - 1 - k,
      t0: T0 + k * 28_000,
      count: 7,
      data: Float32Array.from({ length: 42 }, (_, i) => [NaN, -0, 0, Infinity, -Infinity, 3.4028234663852886e38, 1e-45][(i + k) % 7]! * (i % 3 === 0 ? 1 : -1)),
    }));
    const names = valueNames('raw', LAYOUT_IMU6, 6);
    const path = save(encodeFramesParquet(frames, { valueNames: names, kvMetadata: [], rowGroupRows: 50 }));
    expect(await duckRows(path, names, false)).toEqual(expectedRows(frames, names));
    const groups = (await db.runAndReadAll(`SELECT row_group_id AS g, path_in_schema AS c, row_group_num_rows AS n, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata('${path}') WHERE path_in_schema IN ('t', 'seq', 'sensor_id', 'i', 'flags') ORDER BY g`)).getRowObjects();
    // 7 whole frames (49 rows) a group, the last 5 frames alone.
    const sizes = [...new Map(groups.map((r) => [r.g, Number(r.n)])).values()];
    expect(sizes).toEqual([49, 49, 49, 49, 49, 35]);
    for (let g = 0; g < sizes.length; g++) {
      const fs = frames.slice(g * 7, g * 7 + 7);
      const of = (c: string) => groups.find((r) => Number(r.g) === g && r.c === c)!;
      const t = of('t');
      expect([t.lo, t.hi]).toEqual([new Date(fs[0]!.t0 / 1000).toISOString().replace('T', ' ').replace(/\.?0*Z$/, '+00'), new Date((fs.at(-1)!.t0 + 24_000) / 1000).toISOString().replace('T', ' ').replace(/\.?0*Z$/, '+00')]);
      expect([of('seq').lo, of('seq').hi]).toEqual([String(fs.at(-1)!.seq), String(fs[0]!.seq)]);
      // Strings bound by their UTF-8 bytes: 'é' (C3 A9) < 'ｱ' (EF BD B1) < '𝄞' (F0 9D 84 9E), where
      // JavaScript's own order (UTF-16) puts '𝄞' (D834 DD1E) before 'ｱ' (FF71).
      const ids = fs.map((f) => f.sensorId).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect([of('sensor_id').lo, of('sensor_id').hi]).toEqual([ids[0], ids.at(-1)]);
      expect([of('i').lo, of('i').hi]).toEqual(['0', '6']);
      expect([of('flags').lo, of('flags').hi]).toEqual(fs.some((f) => f.flags) ? ['0', String(FLAG_GAP)] : ['0', '0']);
    }
  });
});
