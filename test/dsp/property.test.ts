// Random configurations, signals and call splits: every window the stream yields equals the same
// window computed on its own, bit for bit, and the float64 reference within the stated tolerance.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FEATURE_GROUPS, FeatureExtractor, loadDsp, referenceFeatures, type FeatureConfigInput } from '../../dsp/src/index.js';
import { compareRow, gaussian } from './helpers.js';

const RUNS = Math.max(1, Math.round(Number(process.env.EW_FUZZ_RUNS ?? 3000) / 100));

const arbConfig = fc
  .record({
    logWindow: fc.integer({ min: 5, max: 9 }),
    hopFraction: fc.double({ min: 0.01, max: 1, noNaN: true }),
    logFftDown: fc.integer({ min: 0, max: 2 }),
    sampleRate: fc.constantFrom(50, 100, 200, 400, 1000),
    features: fc.subarray([...FEATURE_GROUPS], { minLength: 1 }),
  })
  .map(({ logWindow, hopFraction, logFftDown, sampleRate, features }): FeatureConfigInput => {
    const window = 2 ** logWindow;
    return {
      sampleRate,
      window,
      hop: Math.max(1, Math.round(window * hopFraction)),
      fftSize: Math.max(32, window >> logFftDown),
      features,
      bands: [[0, sampleRate / 8], [sampleRate / 8, sampleRate / 2]],
      capacity: 3,
    };
  });

describe('random configurations', () => {
  it('stream = independent windows (bits) ≈ reference (tolerance)', async () => {
    const dsp = await loadDsp();
    await fc.assert(
      fc.asyncProperty(arbConfig, fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 12 }), async (config, seed, pieces) => {
        const ex = new FeatureExtractor(dsp, config);
        const { window } = ex.config;
        const g = gaussian(seed);
        const level = (seed % 7) - 3;
        const n = pieces.reduce((s, p) => s + p, 0);
        const signal = Float32Array.from({ length: 6 * n }, (_, i) => level * 3 + Math.sin(i / (5 + (seed % 11))) + 0.3 * g());
        const rows: { start: number; features: Float32Array }[] = [];
        let at = 0;
        for (const p of pieces) {
          const chunk = new Float32Array(6 * p);
          for (let c = 0; c < 6; c++) chunk.set(signal.subarray(c * n + at, c * n + at + p), c * p);
          const w = ex.push([{ slot: 1, samples: chunk }]);
          for (let i = 0; i < w.count; i++) rows.push({ start: w.starts[i]!, features: w.features.slice(i * w.width, (i + 1) * w.width) });
          at += p;
        }
        expect(rows.length).toBe(n < window ? 0 : Math.floor((n - window) / ex.config.hop) + 1);
        for (const r of rows.slice(0, 4)) {
          const win = new Float32Array(6 * window);
          for (let c = 0; c < 6; c++) win.set(signal.subarray(c * n + r.start, c * n + r.start + window), c * window);
          const alone = ex.windows(win).features;
          expect(Buffer.from(r.features.buffer).equals(Buffer.from(alone.buffer, alone.byteOffset, alone.byteLength))).toBe(true);
          expect(compareRow(ex.layout, r.features, referenceFeatures(ex.config, win), win)).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
