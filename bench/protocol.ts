// Protocol codec throughput: binary batch frames against their JSON form (the baseline a
// third-party sensor would use), on the demo's traffic shape: many IMU sensors, 100 ms frames.
// Run: npx tsx bench/protocol.ts [--json] [--sensors N] [--rate HZ]

import { LAYOUT_IMU6, decodeBatch, decodeBatchHeaders, decodeJsonFrame, encodeBatch, encodeJsonFrame, type Frame } from '../protocol/index.js';
import { ImuSignal } from '../edge/imu-signal.js';
import { bench } from './harness.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const sensors = arg('sensors', 50);
const rate = arg('rate', 200);
const samples = Math.round(rate / 10);
const frames: Frame[] = Array.from({ length: sensors }, (_, i) => ({
  kind: 'raw', flags: 0, sensorId: `imu-${i}`, gatewayId: 'gw-1', group: `group-${i % 5}`, seq: 1000 + i, t0: 1_764_000_000_000_000,
  sampleRate: rate, count: samples, width: 6, window: 0, hop: 0, layoutId: LAYOUT_IMU6, data: new ImuSignal(rate, 'walking', i).next(samples),
}));
const batch = encodeBatch(frames);
const jsons = frames.map(encodeJsonFrame);
const jsonBytes = jsons.reduce((n, j) => n + Buffer.byteLength(j), 0);
const opts = { maxFutureMs: Infinity };

const results = bench(
  `protocol codec, ${sensors} sensors x ${samples} samples x 6 channels per batch`,
  'frames',
  { name: 'JSON decode (per-frame JSON form)', items: sensors, run: () => jsons.map((j) => decodeJsonFrame(j, opts)) },
  [
    { name: 'JSON encode', items: sensors, run: () => frames.map(encodeJsonFrame) },
    { name: 'binary batch encode', items: sensors, run: () => encodeBatch(frames) },
    { name: 'binary batch decode (zero-copy payloads)', items: sensors, run: () => decodeBatch(batch, opts) },
    { name: 'binary batch header check (bridge path)', items: sensors, run: () => decodeBatchHeaders(batch, opts) },
  ],
);

const sizes = { binaryBatchBytes: batch.length, jsonBytes, binaryToJson: batch.length / jsonBytes };
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ bench: 'protocol', sensors, rate, samplesPerFrame: samples, node: process.version, sizes, results }));
} else {
  console.log(`\nsize per batch: binary ${sizes.binaryBatchBytes} B, JSON ${sizes.jsonBytes} B (binary is ${(sizes.binaryToJson * 100).toFixed(1)}% of JSON)`);
}
