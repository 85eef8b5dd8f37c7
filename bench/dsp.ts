// Feature extraction throughput: dsp.wasm (SIMD and scalar builds) against the plain TypeScript
// reference, streaming, on the default configuration: 6 channels, window 256, hop 128, the full
// standard feature set, 1,000 sensors per call, one thread. Samples/s count channel-samples of input.
// Then the `uplink` preset (what the agents send and the processor computes) against the same
// feature groups computed for every channel, in windows/s.
// Run: npm run bench:dsp [-- --json]

import { FeatureExtractor, ReferenceExtractor, loadDsp, parseFeatureConfig, presetSettings, type SamplesEntry } from '../dsp/src/index.js';
import { ImuSignal } from '../edge/imu-signal.js';
import { bench } from './harness.js';

const json = process.argv.includes('--json');
const sensors = Number(process.env.EW_BENCH_SENSORS ?? 1000);
const referenceSensors = Math.max(1, Math.round(sensors / 10));
const config = parseFeatureConfig({ sampleRate: 200, window: 256, hop: 128, capacity: sensors });
const { hop } = config;
const channels = config.channels.length;
const activities = ['idle', 'walking', 'running'] as const;

/** Per sensor, 16 hops of signal, cycled through: planar chunks of `hop` samples. */
const chunks: Float32Array[][] = Array.from({ length: sensors }, (_, s) => {
  const signal = new ImuSignal(200, activities[s % 3]!, s);
  return Array.from({ length: 16 }, () => signal.next(hop));
});
let tick = 0;
const batch = (n: number): SamplesEntry[] => {
  const k = tick++ % 16;
  return Array.from({ length: n }, (_, s) => ({ slot: s, samples: chunks[s]![k]! }));
};

const simd = await loadDsp({ simd: 'auto' });
const scalar = await loadDsp({ simd: false });
const wasmSimd = new FeatureExtractor(simd, config);
const wasmScalar = new FeatureExtractor(scalar, config);
const reference = new ReferenceExtractor(config);
// Fill every ring so that each call completes one window per sensor.
for (let i = 0; i < 2; i++) {
  wasmSimd.push(batch(sensors));
  wasmScalar.push(batch(sensors));
  reference.push(batch(referenceSensors));
}

const items = sensors * channels * hop;
const results = bench(
  `features: ${sensors} sensors x ${channels} channels, window ${config.window}, hop ${hop}, ${wasmSimd.width} features`,
  'samples',
  { name: `TypeScript reference (${referenceSensors} sensors/call)`, items: referenceSensors * channels * hop, run: () => reference.push(batch(referenceSensors)) },
  [
    { name: `dsp.wasm ${simd.simd ? 'SIMD' : 'scalar (no SIMD here)'}`, items, run: () => wasmSimd.push(batch(sensors)) },
    { name: 'dsp.wasm scalar', items, run: () => wasmScalar.push(batch(sensors)) },
  ],
);
const [ref, fast, slow] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];

// The `uplink` preset, as the edge agents send it and the processor cuts raw frames: windows of
// 256, hop 256, 16 kept features, the sensors' windows in one call of independent windows (the
// processor's `windows()`). Baseline: the same groups with no `select`, every feature of every
// channel computed (the spectrum of all six, where `uplink` keeps one channel's dominant frequency).
const uplinkConfig = parseFeatureConfig({ ...presetSettings('uplink'), sampleRate: 200, capacity: 1 });
const { select: _select, ...uplinkWhole } = uplinkConfig;
const uplinkKept = new FeatureExtractor(simd, uplinkConfig);
const uplinkAll = new FeatureExtractor(simd, uplinkWhole);
const uplinkWindows = new Float32Array(sensors * channels * uplinkConfig.window);
for (let s = 0; s < sensors; s++) {
  for (let ch = 0; ch < channels; ch++) {
    for (let k = 0; k < uplinkConfig.window / hop; k++) uplinkWindows.set(chunks[s]![k]!.subarray(ch * hop, (ch + 1) * hop), (s * channels + ch) * uplinkConfig.window + k * hop);
  }
}
const uplinkItems = sensors;
const uplink = bench(
  `uplink preset: ${sensors} windows a call, ${channels} channels x ${uplinkConfig.window}, ${uplinkKept.width} of ${uplinkKept.kernelWidth} features kept`,
  'windows',
  { name: `every feature computed (${uplinkAll.width}), no select`, items: uplinkItems, run: () => uplinkAll.windows(uplinkWindows) },
  [{ name: `the ${uplinkKept.width} kept, their groups alone`, items: uplinkItems, run: () => uplinkKept.windows(uplinkWindows) }],
);
const [uplinkBase, uplinkFast] = uplink as [(typeof uplink)[0], (typeof uplink)[0]];
const summary = {
  bench: 'dsp.features',
  node: process.version,
  simd: simd.simd,
  window: config.window,
  hop,
  channels,
  features: wasmSimd.width,
  sensors,
  wasm_samples_per_s: Math.round(fast.itemsPerSec),
  wasm_scalar_samples_per_s: Math.round(slow.itemsPerSec),
  reference_samples_per_s: Math.round(ref.itemsPerSec),
  ratio: Number((fast.itemsPerSec / ref.itemsPerSec).toFixed(2)),
  scalar_ratio: Number((slow.itemsPerSec / ref.itemsPerSec).toFixed(2)),
  windows_per_s: Math.round(fast.itemsPerSec / (channels * hop)),
  uplink_windows_per_s: Math.round(uplinkFast.itemsPerSec),
  uplink_all_features_windows_per_s: Math.round(uplinkBase.itemsPerSec),
  uplink_ratio: Number((uplinkFast.itemsPerSec / uplinkBase.itemsPerSec).toFixed(2)),
  results: [...results, ...uplink],
};
if (json) console.log(JSON.stringify(summary));
else console.log(`\nwasm ${(summary.wasm_samples_per_s / 1e6).toFixed(1)} M samples/s (${summary.ratio}x the reference), scalar ${(summary.wasm_scalar_samples_per_s / 1e6).toFixed(1)} M samples/s; ${summary.windows_per_s} sensor-windows/s; uplink ${summary.uplink_windows_per_s} windows/s (${summary.uplink_ratio}x computing every feature)`);
