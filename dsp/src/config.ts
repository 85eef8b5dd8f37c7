// Feature extractor configuration: one schema that fills defaults, rejects unknown keys and names
// the bad field. Validated once, when an extractor or a layout is made from it.

import { z } from 'zod';
import { ConfigError, parseConfig, type DeepReadonly } from '../../protocol/config.js';

/** Feature groups, in layout order; each can be switched off. */
export const FEATURE_GROUPS = ['stats', 'order', 'moments', 'crossings', 'jerk', 'spectral', 'bands', 'axes'] as const;
export type FeatureGroup = (typeof FEATURE_GROUPS)[number];

export const IMU6_CHANNELS = [
  { name: 'ax', unit: 'm/s2' },
  { name: 'ay', unit: 'm/s2' },
  { name: 'az', unit: 'm/s2' },
  { name: 'gx', unit: 'rad/s' },
  { name: 'gy', unit: 'rad/s' },
  { name: 'gz', unit: 'rad/s' },
] as const;

export const IMU6_AXES = [
  { name: 'acc', channels: ['ax', 'ay', 'az'] },
  { name: 'gyro', channels: ['gx', 'gy', 'gz'] },
] as const;

/** Band edges in Hz for human motion: posture, walking, running and impacts. */
export const DEFAULT_BANDS: readonly (readonly [number, number])[] = [
  [0.3, 1],
  [1, 3],
  [3, 8],
  [8, 20],
];

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

const channel = z.strictObject({
  name: z.string().regex(NAME, 'a letter, then letters, digits or _ (at most 32)'),
  unit: z.string().min(1).max(16).describe('the unit of the samples, e.g. m/s2 or rad/s'),
});

const filter = z.strictObject({
  type: z.enum(['lowpass', 'highpass', 'bandpass', 'dcblock']).describe('lowpass | highpass | bandpass | dcblock'),
  channels: z.array(z.string()).min(1).describe('names of the channels the filter runs on, before windowing'),
  order: z.number().int().refine((n) => [2, 4, 6, 8].includes(n), 'must be 2, 4, 6 or 8').default(4).describe('Butterworth order: 2, 4, 6 or 8 (ignored by dcblock)'),
  cutoff: z.union([z.number().positive(), z.tuple([z.number().positive(), z.number().positive()])]).describe('Hz; [low, high] for bandpass'),
});

/**
 * Named starting points for a feature configuration. `uplink` is what an edge agent sends and the
 * shipped model reads: 16 features per window chosen for telling the simulator's activities apart
 * (orientation, movement energy, cadence, impacts), one window every 256 samples, so features mode
 * sends the cloud about 60x fewer bytes than raw. `full` is every feature of dsp/ (162 for IMU6).
 */
export const FEATURE_PRESETS = {
  uplink: {
    window: 256,
    hop: 256,
    features: ['stats', 'jerk', 'spectral', 'axes'],
    select: [
      'ax.mean', 'ay.mean', 'az.mean', 'ax.std', 'ay.std', 'az.std', 'az.p2p', 'az.jerk_rms', 'az.dominant_freq',
      'gx.std', 'gy.std', 'gz.std', 'acc.mag_mean', 'acc.mag_std', 'gyro.mag_mean', 'gyro.mag_std',
    ],
  },
  full: {},
} as const satisfies Record<string, Omit<FeatureConfigInput, 'sampleRate'>>;
export type FeaturePreset = keyof typeof FEATURE_PRESETS;

/** A preset's settings with the keys a config sets over it (undefined keys leave the preset's). */
export function presetSettings(preset: FeaturePreset, keys: Partial<Omit<FeatureConfigInput, 'sampleRate'>> = {}): Omit<FeatureConfigInput, 'sampleRate'> {
  const defined = Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined));
  return { ...FEATURE_PRESETS[preset], ...defined } as Omit<FeatureConfigInput, 'sampleRate'>;
}

export const featureConfigSchema = z
  .strictObject({
    sampleRate: z.number().positive().max(100_000).describe('samples per second of every channel, e.g. 200'),
    channels: z.array(channel).min(1).max(64).default(IMU6_CHANNELS.map((c) => ({ ...c }))).describe('channel names and units, in sample order'),
    window: z.number().refine(isPow2, 'must be a power of two').refine((n) => n >= 32 && n <= 2048, 'must be 32..2048').default(256).describe('window length in samples: a power of two from 32 to 2048'),
    hop: z.number().int().positive().optional().describe('samples between window starts, 1..window (default window/2)'),
    fftSize: z.number().refine(isPow2, 'must be a power of two').refine((n) => n >= 32, 'must be at least 32').optional().describe('FFT frame, a power of two <= window; smaller frames are Welch-averaged with 50% overlap (default: the window)'),
    features: z.array(z.enum(FEATURE_GROUPS)).default([...FEATURE_GROUPS]).describe(`feature groups to compute: ${FEATURE_GROUPS.join(', ')}`),
    bands: z.array(z.tuple([z.number().nonnegative(), z.number().positive()])).max(32).default(DEFAULT_BANDS.map((b) => [...b] as [number, number])).describe('band-power bands as [low, high) in Hz, high <= sampleRate/2'),
    derived: z.array(z.strictObject({
      name: z.string().regex(NAME, 'a letter, then letters, digits or _ (at most 32)'),
      from: z.string().describe('the input channel it copies before its own filters'),
      unit: z.string().min(1).max(16).optional().describe('default: the unit of its input channel'),
    })).max(32).default([]).describe('channels computed from an input channel by their own filters, e.g. gravity (lowpass) next to body acceleration (highpass)'),
    axes: z.array(z.strictObject({ name: z.string().regex(NAME), channels: z.tuple([z.string(), z.string(), z.string()]) })).max(8).optional().describe('3-axis groups (magnitude and correlations); default acc and gyro when the IMU channel names are used'),
    select: z.array(z.string().min(1)).min(1).optional().describe('keep only features whose names match these patterns (* matches anything): "*.std", "acc.*", "az.band_*" (default: all)'),
    filters: z.array(filter).default([]).describe('streaming IIR filters per channel, e.g. a highpass at 0.3 Hz to remove gravity'),
    capacity: z.number().int().positive().max(1_000_000).default(64).describe('most sensors one extractor holds state for'),
    sortCache: z.boolean().default(true).describe('with hop = window/2, keep each series\' sorted newer half for the next window: faster median and IQR for window/2 floats per series'),
    maxChunk: z.number().int().positive().optional().describe('most samples per sensor taken in per kernel call (default: the window); larger pushes are split'),
  })
  .superRefine((c, ctx) => {
    const inputs = c.channels.map((ch) => ch.name);
    const names = [...inputs, ...c.derived.map((d) => d.name)];
    const nyquist = c.sampleRate / 2;
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', path: ['channels'], message: 'channel names (with derived ones) must be unique' });
    c.derived.forEach((d, i) => {
      if (!inputs.includes(d.from)) ctx.addIssue({ code: 'custom', path: ['derived', i, 'from'], message: `no input channel named ${JSON.stringify(d.from)}` });
    });
    if (c.hop !== undefined && c.hop > c.window) ctx.addIssue({ code: 'custom', path: ['hop'], message: `must be at most the window (${c.window})` });
    if (c.fftSize !== undefined && c.fftSize > c.window) ctx.addIssue({ code: 'custom', path: ['fftSize'], message: `must be at most the window (${c.window})` });
    c.bands.forEach(([lo, hi], i) => {
      if (!(hi > lo)) ctx.addIssue({ code: 'custom', path: ['bands', i], message: `high edge ${hi} must be above the low edge ${lo}` });
      if (hi > nyquist) ctx.addIssue({ code: 'custom', path: ['bands', i], message: `high edge ${hi} Hz is above the Nyquist frequency ${nyquist} Hz` });
    });
    (c.axes ?? []).forEach((g, i) => {
      g.channels.forEach((n, j) => {
        if (!names.includes(n)) ctx.addIssue({ code: 'custom', path: ['axes', i, 'channels', j], message: `no channel named ${JSON.stringify(n)}` });
      });
    });
    c.filters.forEach((f, i) => {
      f.channels.forEach((n, j) => {
        if (!names.includes(n)) ctx.addIssue({ code: 'custom', path: ['filters', i, 'channels', j], message: `no channel named ${JSON.stringify(n)}` });
      });
      const cut = typeof f.cutoff === 'number' ? [f.cutoff] : f.cutoff;
      if ((f.type === 'bandpass') !== (cut.length === 2)) ctx.addIssue({ code: 'custom', path: ['filters', i, 'cutoff'], message: f.type === 'bandpass' ? 'bandpass needs [low, high]' : `${f.type} needs one cutoff` });
      if (cut.some((x) => x >= nyquist)) ctx.addIssue({ code: 'custom', path: ['filters', i, 'cutoff'], message: `must be below the Nyquist frequency ${nyquist} Hz` });
      if (cut.length === 2 && !(cut[1]! > cut[0]!)) ctx.addIssue({ code: 'custom', path: ['filters', i, 'cutoff'], message: 'high must be above low' });
      const sections = f.type === 'dcblock' ? 1 : f.type === 'bandpass' ? f.order : f.order / 2;
      if (sections > 8) ctx.addIssue({ code: 'custom', path: ['filters', i, 'order'], message: 'bandpass order must be at most 8' });
    });
  })
  .transform((c) => {
    const names = c.channels.map((ch) => ch.name);
    const imu = IMU6_AXES.every((g) => g.channels.every((n) => names.includes(n)));
    return {
      ...c,
      hop: c.hop ?? c.window / 2,
      fftSize: c.fftSize ?? c.window,
      maxChunk: c.maxChunk ?? c.window,
      axes: c.axes ?? (imu ? IMU6_AXES.map((g) => ({ name: g.name, channels: [...g.channels] as [string, string, string] })) : []),
    };
  });

export interface FeatureChannel {
  name: string;
  unit: string;
  /** The input channel it reads: itself for an input, its `from` for a derived channel. */
  input: number;
}

/** Every channel features are computed for: the inputs, then the derived ones, each with the input it reads. */
export function featureChannels(c: FeatureConfig): FeatureChannel[] {
  const names = c.channels.map((ch) => ch.name);
  return [
    ...c.channels.map((ch, i) => ({ name: ch.name, unit: ch.unit, input: i })),
    ...c.derived.map((d) => {
      const input = names.indexOf(d.from);
      return { name: d.name, unit: d.unit ?? c.channels[input]!.unit, input };
    }),
  ];
}

export type FeatureConfigInput = z.input<typeof featureConfigSchema>;
export type FeatureConfig = DeepReadonly<z.output<typeof featureConfigSchema>>;

/** Validates a feature configuration (EW_CONFIG_INVALID names every bad field); already-parsed configs pass through. */
export function parseFeatureConfig(input: FeatureConfigInput | FeatureConfig): FeatureConfig {
  if (Object.isFrozen(input) && PARSED.has(input as object)) return input as FeatureConfig;
  const config = parseConfig('features', featureConfigSchema, input);
  PARSED.add(config as object);
  return config;
}

const PARSED = new WeakSet<object>();

export { ConfigError };
