// Feature layouts: the names, order and units of the values in a feature row, and the id that
// feature frames carry (protocol/ frame field layoutId), so edge, cloud and browser agree on what
// position 17 means. The id is a hash of everything that gives a position its meaning.

import { ConfigError, FEATURE_PRESETS, featureChannels, parseFeatureConfig, presetSettings, type FeatureConfig, type FeatureConfigInput, type FeatureGroup, type FeaturePreset } from './config.js';

export interface FeatureInfo {
  /** e.g. "ax.mean", "ax.band_0.3_1hz", "acc.corr_xy" */
  name: string;
  unit: string;
  group: FeatureGroup;
  /** The channel or 3-axis group it describes. */
  source: string;
}

export interface FeatureLayout {
  id: number;
  width: number;
  /** Features the kernels compute before `select` keeps some: positions index into those. */
  kernelWidth: number;
  /** For each feature, its column among the kernels' output (identity without `select`). */
  columns: readonly number[];
  features: readonly FeatureInfo[];
  /** Position of each name. */
  index: ReadonlyMap<string, number>;
  config: FeatureConfig;
}

const sq = (u: string) => `(${u})^2`;

/** Per-channel features of each group, with their unit as a function of the channel unit. */
export const CHANNEL_FEATURES: Readonly<Record<Exclude<FeatureGroup, 'bands' | 'axes'>, readonly (readonly [string, (unit: string) => string])[]>> = {
  stats: [['mean', (u) => u], ['std', (u) => u], ['rms', (u) => u], ['min', (u) => u], ['max', (u) => u], ['p2p', (u) => u], ['energy', sq]],
  order: [['median', (u) => u], ['iqr', (u) => u]],
  moments: [['skewness', () => '1'], ['kurtosis', () => '1']],
  crossings: [['zcr', () => '1'], ['mcr', () => '1']],
  jerk: [['jerk_rms', (u) => `${u}/s`]],
  spectral: [['dominant_freq', () => 'Hz'], ['centroid', () => 'Hz'], ['spread', () => 'Hz'], ['entropy', () => '1'], ['flatness', () => '1'], ['spectral_skewness', () => '1'], ['spectral_kurtosis', () => '1']],
};

export const AXES_FEATURES = ['mag_mean', 'mag_std', 'mag_rms', 'corr_xy', 'corr_xz', 'corr_yz'] as const;

export const bandName = (lo: number, hi: number) => `band_${lo}_${hi}hz`;

/** The layout of a configuration: same config, same names, same id, on every host. */
export function featureLayout(input: FeatureConfigInput | FeatureConfig): FeatureLayout {
  const config = parseFeatureConfig(input);
  const on = new Set(config.features);
  const features: FeatureInfo[] = [];
  for (const ch of featureChannels(config)) {
    for (const group of ['stats', 'order', 'moments', 'crossings', 'jerk', 'spectral'] as const) {
      if (!on.has(group)) continue;
      for (const [name, unit] of CHANNEL_FEATURES[group]) features.push({ name: `${ch.name}.${name}`, unit: unit(ch.unit), group, source: ch.name });
    }
    if (on.has('bands')) {
      for (const [lo, hi] of config.bands as readonly (readonly [number, number])[]) features.push({ name: `${ch.name}.${bandName(lo, hi)}`, unit: sq(ch.unit), group: 'bands', source: ch.name });
    }
  }
  if (on.has('axes')) {
    for (const g of config.axes) {
      const unit = featureChannels(config).find((c) => c.name === g.channels[0])!.unit;
      for (const name of AXES_FEATURES) features.push({ name: `${g.name}.${name}`, unit: name.startsWith('corr') ? '1' : unit, group: 'axes', source: g.name });
    }
  }
  const kernelWidth = features.length;
  let columns = features.map((_, i) => i);
  if (config.select) {
    const patterns = config.select.map((p, i) => {
      const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      if (!features.some((f) => re.test(f.name))) {
        throw new ConfigError('EW_CONFIG_INVALID', `features config is invalid:\n  - select.${i}: ${JSON.stringify(p)} matches no feature of this configuration`, { component: 'features', fields: [`select.${i}`] });
      }
      return re;
    });
    columns = columns.filter((i) => patterns.some((re) => re.test(features[i]!.name)));
  }
  const kept = columns.map((i) => features[i]!);
  features.length = 0;
  features.push(...kept);
  const canonical = JSON.stringify({
    v: 1,
    sampleRate: config.sampleRate,
    window: config.window,
    hop: config.hop,
    fftSize: config.fftSize,
    features: features.map((f) => [f.name, f.unit]),
    derived: config.derived,
    axes: config.axes,
    filters: config.filters,
  });
  return Object.freeze({
    id: layoutIdOf(canonical),
    width: features.length,
    kernelWidth,
    columns: Object.freeze(columns),
    features: Object.freeze(features),
    index: new Map(features.map((f, i) => [f.name, i])),
    config,
  });
}

/** FNV-1a, 32 bits, over the UTF-16 code units of the canonical description; never 0. */
function layoutIdOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

/** Sample rates the preset layouts are known at (`presetLayoutNames`). */
export const COMMON_RATES: readonly number[] = [25, 50, 100, 200, 250, 400, 500, 800, 1000];

/**
 * Feature names by layout id, for every preset at the common rates: how a reader that only has a
 * frame's or a record's layout id names its values. Rates a preset's bands do not fit are left out.
 */
export function presetLayoutNames(rates: readonly number[] = COMMON_RATES): Map<number, readonly string[]> {
  const out = new Map<number, readonly string[]>();
  for (const preset of Object.keys(FEATURE_PRESETS) as FeaturePreset[]) {
    for (const sampleRate of rates) {
      try {
        const l = featureLayout(parseFeatureConfig({ ...presetSettings(preset), sampleRate }));
        out.set(l.id, l.features.map((f) => f.name));
      } catch {
        // the preset's bands do not fit this rate: no such layout
      }
    }
  }
  return out;
}
