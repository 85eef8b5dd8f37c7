// The TypeScript face of the kernels: configuration errors, layouts and their ids, slots, shapes,
// memory limits, and the loader's two ways in (file bytes in Node, a streamed Response as in a browser).

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  ConfigError, DEFAULT_BANDS, DspError, FEATURE_GROUPS, FeatureExtractor, createExtractor, estimateBytes, featureLayout, loadDsp, parseFeatureConfig, presetSettings, referenceFeatures, simdSupported,
  type FeatureWindows,
} from '../../dsp/src/index.js';
import { decodeFrame, encodeFrame } from '../../protocol/index.js';
import { errorOf } from '../protocol/helpers.js';

const wasmUrl = new URL('../../dist/dsp/dsp.wasm', import.meta.url);

describe('feature config', () => {
  it('fills defaults: IMU channels, window 256, hop 128, every group, acc and gyro axes', () => {
    const c = parseFeatureConfig({ sampleRate: 200 });
    expect(c.channels.map((ch) => ch.name)).toEqual(['ax', 'ay', 'az', 'gx', 'gy', 'gz']);
    expect([c.window, c.hop, c.fftSize, c.maxChunk]).toEqual([256, 128, 256, 256]);
    expect(c.features).toEqual([...FEATURE_GROUPS]);
    expect(c.bands).toEqual(DEFAULT_BANDS);
    expect(c.axes.map((g) => g.name)).toEqual(['acc', 'gyro']);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    [{ sampleRate: 200, window: 300 }, 'window'],
    [{ sampleRate: 200, window: 4096 }, 'window'],
    [{ sampleRate: 200, window: 64, hop: 65 }, 'hop'],
    [{ sampleRate: 200, fftSize: 512 }, 'fftSize'],
    [{ sampleRate: 40, bands: [[1, 30]] }, 'bands.0'],
    [{ sampleRate: 200, axes: [{ name: 'acc', channels: ['ax', 'ay', 'aw'] }] }, 'axes.0.channels.2'],
    [{ sampleRate: 200, filters: [{ type: 'bandpass', channels: ['ax'], cutoff: 3 }] }, 'filters.0.cutoff'],
    [{ sampleRate: 200, filters: [{ type: 'lowpass', channels: ['ax'], cutoff: 150 }] }, 'filters.0.cutoff'],
    [{ sampleRate: 200, features: ['stats', 'wavelets'] }, 'features.1'],
    [{ sampleRate: 200, windw: 256 }, 'windw'],
    [{ sampleRate: 200, derived: [{ name: 'g', from: 'az2' }] }, 'derived.0.from'],
    [{ sampleRate: 200, derived: [{ name: 'az', from: 'az' }] }, 'unique'],
    [{}, 'sampleRate'],
  ])('rejects %j naming %s', (input, field) => {
    const err = errorOf(ConfigError, () => parseFeatureConfig(input as never));
    expect(err.code).toBe('EW_CONFIG_INVALID');
    expect(err.message).toContain(field);
  });
});

describe('feature layout', () => {
  it('names every position with its unit; the id depends on everything that gives a position its meaning', () => {
    const l = featureLayout({ sampleRate: 200 });
    expect(l.width).toBe(6 * 25 + 12);
    expect(l.features[0]).toEqual({ name: 'ax.mean', unit: 'm/s2', group: 'stats', source: 'ax' });
    expect(l.features[17]!.name).toBe('ax.entropy');
    expect(l.features.find((f) => f.name === 'ax.energy')!.unit).toBe('(m/s2)^2');
    expect(l.features.find((f) => f.name === 'gz.jerk_rms')!.unit).toBe('rad/s/s');
    expect(l.features.find((f) => f.name === 'ay.band_1_3hz')!.unit).toBe('(m/s2)^2');
    expect(l.features.at(-1)).toEqual({ name: 'gyro.corr_yz', unit: '1', group: 'axes', source: 'gyro' });
    expect(new Set(l.features.map((f) => f.name)).size).toBe(l.width);
    // The default layout's id is part of the wire contract: it must not change by accident.
    expect(l.id).toBe(0x1eb8a1d9);
    expect(featureLayout({ sampleRate: 200 }).id).toBe(l.id);
    for (const other of [{ sampleRate: 100 }, { sampleRate: 200, hop: 64 }, { sampleRate: 200, bands: [[1, 2]] }, { sampleRate: 200, features: ['stats'] }, { sampleRate: 200, filters: [{ type: 'highpass', channels: ['az'], cutoff: 0.3 }] }]) {
      expect(featureLayout(other as never).id).not.toBe(l.id);
    }
  });
});

describe('select', () => {
  it('keeps the features whose names match, in layout order, with their own layout id and the same bits', async () => {
    const full = await createExtractor({ sampleRate: 200, capacity: 1 });
    const some = await createExtractor({ sampleRate: 200, capacity: 1, select: ['*.std', 'acc.*', 'az.band_*'] });
    expect(some.layout.features.map((f) => f.name)).toEqual([
      'ax.std', 'ay.std', 'az.std', 'az.band_0.3_1hz', 'az.band_1_3hz', 'az.band_3_8hz', 'az.band_8_20hz', 'gx.std', 'gy.std', 'gz.std',
      'acc.mag_mean', 'acc.mag_std', 'acc.mag_rms', 'acc.corr_xy', 'acc.corr_xz', 'acc.corr_yz',
    ]);
    expect([some.width, some.kernelWidth]).toEqual([16, 162]);
    expect(some.layout.id).not.toBe(full.layout.id);
    const data = Float32Array.from({ length: 6 * 256 * 3 }, (_, i) => Math.sin(i / 11) * (1 + (i % 7)));
    const a = full.windows(data);
    const b = some.windows(data);
    expect(b.count).toBe(3);
    for (let r = 0; r < 3; r++) {
      some.layout.features.forEach((f, k) => expect(b.features[r * b.width + k]).toBe(a.features[r * a.width + full.layout.index.get(f.name)!]));
    }
    const ref = referenceFeatures(some.config, data.subarray(0, 6 * 256));
    expect(ref.length).toBe(16);
    expect(Math.abs(ref[0]! - b.features[0]!)).toBeLessThan(1e-5);
    expect(errorOf(ConfigError, () => featureLayout({ sampleRate: 200, select: ['*.std', 'nothing.*'] })).message).toContain('select.1');
  });
});

describe.each(simdSupported() ? [true, false] : [false])('select leaves out what it does not keep (simd %s)', (simd) => {
  // Each channel computes only the groups some kept column of its own needs: `uplink` reads the
  // spectrum and jerk of az alone, so the other five channels run no FFT. The kept columns must be
  // the same bits as the whole computation's, in one call of independent windows and streaming
  // (where the median's sorted halves carry over from window to window).
  const data = Float32Array.from({ length: 6 * 256 * 9 }, (_, i) => Math.sin(i / 13) * (1 + (i % 5)) + Math.cos(i / 3.7));
  const selects = [
    { preset: 'uplink' as const },
    { preset: 'full' as const, hop: 128, select: ['az.median', 'gx.iqr', 'ay.band_*', 'gz.entropy', 'ax.kurtosis', 'gy.mcr', 'acc.*'] },
  ];
  it.each(selects)('%j', async (keys) => {
    const dsp = await loadDsp({ simd });
    const cfg = { ...presetSettings(keys.preset, 'select' in keys ? { hop: keys.hop, select: keys.select } : {}), sampleRate: 200, capacity: 2 };
    const { select: _select, ...whole } = cfg as typeof cfg & { select?: unknown };
    const some = new FeatureExtractor(dsp, cfg);
    const all = new FeatureExtractor(dsp, whole);
    expect(some.width).toBeLessThan(some.kernelWidth);
    let compared = 0;
    const same = (a: FeatureWindows, b: FeatureWindows) => {
      expect(b.count).toBe(a.count);
      compared += a.count;
      for (let r = 0; r < a.count; r++) {
        some.layout.features.forEach((f, k) => expect(Object.is(b.features[r * b.width + k], a.features[r * a.width + all.layout.index.get(f.name)!]), `${f.name} of window ${r}`).toBe(true));
      }
    };
    same(all.windows(data), some.windows(data));
    expect(compared).toBe(9);
    // Streaming, two sensors, in uneven chunks (planar: each channel's samples of the chunk in turn).
    for (const [from, to] of [[0, 200], [200, 700], [700, 1500]] as const) {
      const chunk = (k: number) => Float32Array.from({ length: 6 * (to - from) }, (_, j) => {
        const ch = Math.floor(j / (to - from));
        const i = from + (j % (to - from));
        return Math.sin((i * (k + 1)) / (7 + ch)) * (1 + ch) + ((i * 31 + ch) % 17) / 40;
      });
      const entries = [{ slot: 0, samples: chunk(0) }, { slot: 1, samples: chunk(1) }];
      same(copy(all.push(entries)), copy(some.push(entries)));
    }
    // Both sensors' windows of 1,500 samples: 5 at hop 256, 10 at hop 128.
    expect(compared).toBe(9 + 2 * ((1500 - 256) / cfg.hop! + 1 | 0));
  });
});

function copy(w: FeatureWindows): FeatureWindows {
  return { ...w, features: w.features.slice() };
}

describe('feature frames', () => {
  it('carry the layout id, width, window and hop of the extractor, and come back bit for bit', async () => {
    const ex = await createExtractor({ sampleRate: 200, window: 64, capacity: 1 });
    const w = ex.push([{ slot: 0, samples: Float32Array.from({ length: 6 * 160 }, (_, i) => Math.sin(i / 9)) }]);
    expect(w.count).toBe(4); // windows end at samples 64, 96, 128 and 160
    const bytes = encodeFrame({
      kind: 'features', flags: 0, sensorId: 'imu-1', gatewayId: 'gw-1', group: 'line-1', seq: 1, t0: 1_700_000_000_000_000,
      sampleRate: 200, count: w.count, width: w.width, window: ex.config.window, hop: ex.config.hop, layoutId: ex.layout.id, data: w.features,
    });
    const frame = decodeFrame(bytes);
    expect(frame.layoutId).toBe(featureLayout(ex.config).id);
    expect([frame.width, frame.window, frame.hop]).toEqual([ex.layout.width, 64, 32]);
    expect(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength).equals(Buffer.from(w.features.buffer, w.features.byteOffset, w.features.byteLength))).toBe(true);
  });
});

describe('FeatureExtractor', () => {
  it('hands out slots and says when they run out', async () => {
    const ex = await createExtractor({ sampleRate: 200, capacity: 2 });
    expect([ex.slotOf('a'), ex.slotOf('b'), ex.slotOf('a')]).toEqual([0, 1, 0]);
    expect(errorOf(DspError, () => ex.slotOf('c')).code).toBe('EW_DSP_CAPACITY');
    ex.release('b');
    expect(ex.slotOf('c')).toBe(1);
  });

  it('rejects bad slots and shapes with stable codes, taking nothing in', async () => {
    const ex = await createExtractor({ sampleRate: 200, window: 32, hop: 32, capacity: 2 });
    expect(errorOf(DspError, () => ex.push([{ slot: 2, samples: new Float32Array(6) }])).code).toBe('EW_DSP_SLOT');
    expect(errorOf(DspError, () => ex.push([{ slot: 0, samples: new Float32Array(6) }, { slot: -1, samples: new Float32Array(6) }])).code).toBe('EW_DSP_SLOT');
    expect(errorOf(DspError, () => ex.push([{ slot: 0, samples: new Float32Array(7) }])).code).toBe('EW_DSP_SHAPE');
    expect(errorOf(DspError, () => ex.write([{ slot: 0, count: 33 }])).code).toBe('EW_DSP_SHAPE');
    expect(errorOf(DspError, () => ex.commit()).code).toBe('EW_DSP_SHAPE');
    expect(errorOf(DspError, () => ex.windows(new Float32Array(6 * 31))).code).toBe('EW_DSP_SHAPE');
    expect(ex.samplesSeen(0)).toBe(0);
  });

  it('refuses a configuration that would not fit in WebAssembly memory, before allocating', async () => {
    const config = parseFeatureConfig({ sampleRate: 200, window: 2048, capacity: 100_000 });
    expect(estimateBytes(config)).toBeGreaterThan(2 ** 31);
    const err = errorOf(DspError, () => new FeatureExtractor(undefined as never, config));
    expect(err.code).toBe('EW_DSP_MEMORY');
    expect(err.message).toMatch(/MiB/);
    const dsp = await loadDsp();
    expect(errorOf(DspError, () => new FeatureExtractor(dsp, config)).code).toBe('EW_DSP_MEMORY');
  });

  it('windows() takes more windows than one kernel call holds', async () => {
    const ex = await createExtractor({ sampleRate: 200, window: 32, hop: 32, capacity: 1, maxChunk: 32 });
    const count = 10;
    const data = Float32Array.from({ length: count * 6 * 32 }, (_, i) => Math.sin(i));
    const w = ex.windows(data);
    expect(w.count).toBe(count);
    expect(Array.from(w.starts)).toEqual([...Array(count).keys()]);
    const one = ex.windows(data.subarray(9 * 6 * 32));
    expect(Array.from(w.features.subarray(9 * w.width))).toEqual(Array.from(one.features));
  });
});

describe('loader', () => {
  it('loads from a streamed Response, as browsers do, and from bytes, with the same results', async () => {
    const bytes = await readFile(wasmUrl);
    const streamed = await loadDsp({ source: new Response(bytes, { headers: { 'content-type': 'application/wasm' } }) });
    const fromBytes = await loadDsp({ source: bytes });
    const fromFile = await loadDsp({ simd: false });
    expect([streamed.simd, fromBytes.simd, fromFile.simd]).toEqual([false, false, false]);
    const data = Float32Array.from({ length: 6 * 256 }, (_, i) => Math.cos(i / 5) * 3);
    const rows = [streamed, fromBytes, fromFile].map((d) => Array.from(new FeatureExtractor(d, { sampleRate: 200, capacity: 1 }).windows(data).features));
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[2]).toEqual(rows[0]);
  });

  it('loads once per build', async () => {
    expect(await loadDsp({ simd: false })).toBe(await loadDsp({ simd: false }));
  });

  it('rejects bytes that are not dsp.wasm with EW_DSP_LOAD', async () => {
    await expect(loadDsp({ source: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) })).rejects.toMatchObject({ code: 'EW_DSP_LOAD' });
    await expect(loadDsp({ source: new Uint8Array([1, 2, 3]) })).rejects.toMatchObject({ code: 'EW_DSP_LOAD' });
    await expect(loadDsp({ source: new URL('file:///nonexistent/dsp.wasm') })).rejects.toMatchObject({ code: 'EW_DSP_LOAD' });
  });
});
