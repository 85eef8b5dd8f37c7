// dsp.wasm against the plain TypeScript reference of the same kernel, one call over many rows.
// Run: npx tsx bench/dsp.ts [--json]   (needs `npm run build` for dist/dsp/dsp.wasm)

import { loadDsp, rowStatsReference } from '../dsp/src/index.js';
import { ImuSignal } from '../edge/imu-signal.js';
import { bench } from './harness.js';

const sensors = 50;
const count = 256;
const data = new Float32Array(sensors * 6 * count);
for (let s = 0; s < sensors; s++) data.set(new ImuSignal(200, 'running', s).next(count), s * 6 * count);
const dsp = await loadDsp();

const results = bench(
  `rowStats over ${sensors} sensors x 6 channels x ${count} samples per call`,
  'samples',
  { name: 'TypeScript reference', items: data.length, run: () => rowStatsReference(data, sensors * 6, count) },
  [{ name: 'dsp.wasm (copy in + kernel + copy out)', items: data.length, run: () => dsp.rowStats(data, sensors * 6, count) }],
);
if (process.argv.includes('--json')) console.log(JSON.stringify({ bench: 'dsp.rowStats', node: process.version, results }));
