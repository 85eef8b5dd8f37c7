import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ROW_STATS_WIDTH, loadDsp, rowStatsReference } from '../../dsp/src/index.js';
import { ImuSignal } from '../../edge/imu-signal.js';

describe('dsp.wasm rowStats', () => {
  it('equals the TypeScript reference bit for bit on IMU signals', async () => {
    const dsp = await loadDsp();
    const n = 256;
    const data = new ImuSignal(200, 'running', 3).next(n);
    const wasm = dsp.rowStats(data, 6, n);
    const ref = rowStatsReference(data, 6, n);
    expect(Buffer.from(wasm.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    // And the reference is itself right: gravity on az, min <= mean <= max.
    const az = Array.from(ref.subarray(2 * ROW_STATS_WIDTH, 3 * ROW_STATS_WIDTH));
    expect(az[0]).toBeGreaterThan(8);
    expect(az[3]! <= az[0]! && az[0]! <= az[4]!).toBe(true);
  });

  it('matches exact values on a small case', async () => {
    const dsp = await loadDsp();
    const out = dsp.rowStats(Float32Array.from([1, 2, 3, 4, -2, -2, 2, 2]), 2, 4);
    expect(Array.from(out)).toEqual([2.5, Math.fround(Math.sqrt(1.25)), Math.fround(Math.sqrt(7.5)), 1, 4, 0, 2, 2, -2, 2]);
  });

  it('equals the reference for any finite input, many rows per call, growing memory as needed', async () => {
    const dsp = await loadDsp();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 64 }),
        (rows, count, seed) => {
          const data = Float32Array.from({ length: rows * count }, (_, i) => seed[i % seed.length]!);
          expect(Array.from(dsp.rowStats(data, rows, count))).toEqual(Array.from(rowStatsReference(data, rows, count)));
        },
      ),
      { numRuns: 300 },
    );
    const big = new Float32Array(6 * 200_000).fill(1.5);
    expect(Array.from(dsp.rowStats(big, 6, 200_000).subarray(0, 5))).toEqual([1.5, 0, 1.5, 1.5, 1.5]);
  });

  it('rejects a shape that does not fit the data', async () => {
    const dsp = await loadDsp();
    expect(() => dsp.rowStats(new Float32Array(10), 3, 3)).toThrow(expect.objectContaining({ code: 'EW_DSP_SHAPE' }));
  });
});
