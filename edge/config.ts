// The edge agent's configuration: one schema that fills defaults, rejects unknown keys and names
// the bad field and what it expects. YAML or JSON files, then EW_EDGE_* environment overrides.

import { z } from 'zod';
import { ID_PATTERN, applyEnv, logLevelSchema, parseConfig, statusHttpSchema, type DeepReadonly } from '../protocol/index.js';

const id = (what: string) => z.string().regex(ID_PATTERN, `${what}: 1-128 of A-Z a-z 0-9 _ . : -`);

const mode = z.enum(['raw', 'features', 'both']).describe('raw | features | both');

const groupSettings = z.strictObject({
  mode: mode.default('features'),
  decimate: z.number().int().min(1).max(100).default(1).describe('send every n-th raw sample (the mean of n), 1 = all'),
});

export const simulatorSource = z.strictObject({
  type: z.literal('simulator'),
  sensors: z.number().int().min(1).max(100_000).default(10).describe('simulated sensors, 1-100000'),
  rate: z.number().int().min(1).max(4000).default(200).describe('samples per second per sensor'),
  groups: z.number().int().min(1).max(10_000).default(2).describe('sensors are spread over this many groups'),
  seed: z.number().int().default(1).describe('seed of the signals'),
  prefix: id('prefix').optional().describe('sensor id prefix (default: the gateway id)'),
  dropoutsPerHour: z.number().min(0).default(0).describe('mean dropouts per sensor per hour'),
});

const frameFormat = z.enum(['binary', 'json', 'auto']).default('auto').describe('binary protocol/ frames, their JSON form, or auto (by the first byte)');

export const csvSource = z.strictObject({
  type: z.literal('csv'),
  path: z.string().min(1).describe('the CSV file: a header row, a timestamp column and one column per channel'),
  sensorId: id('sensorId'),
  group: id('group').default('csv'),
  rate: z.number().positive().max(100_000).optional().describe('Hz; default: from the timestamps'),
  timestampColumn: z.string().default('timestamp'),
  timestampUnit: z.enum(['s', 'ms', 'us', 'iso']).default('ms').describe('s | ms | us (numbers) or iso (ISO 8601 text)'),
  channels: z.array(z.string()).length(6).default(['ax', 'ay', 'az', 'gx', 'gy', 'gz']).describe('the six column names: ax ay az (m/s²) gx gy gz (rad/s)'),
  realtime: z.boolean().default(true).describe('true: at the pace of the timestamps; false: as fast as possible'),
  chunk: z.number().int().min(1).max(100_000).default(20).describe('samples handed on at a time'),
});

export const udpSource = z.strictObject({
  type: z.literal('udp'),
  host: z.string().default('127.0.0.1').describe('address to listen on (0.0.0.0 for every interface)'),
  port: z.number().int().min(0).max(65_535),
  format: frameFormat,
});

export const mqttSource = z.strictObject({
  type: z.literal('mqtt'),
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'an mqtt:// URL').describe('the gateway-local broker'),
  topic: z.string().min(1).default('sensors/#').describe('topic filter the sensors publish frames on'),
  format: frameFormat,
  username: z.string().optional(),
  password: z.string().optional(),
});

export const syntheticSource = z.strictObject({
  type: z.literal('synthetic'),
  sensors: z.number().int().min(1).max(100_000).default(1000),
  rate: z.number().int().min(1).max(4000).default(200),
  groups: z.number().int().min(1).max(10_000).default(10),
  seed: z.number().int().default(1),
  signals: z.number().int().min(1).max(1024).default(64).describe('distinct simulator signals, generated at start and cycled through by every sensor'),
  seconds: z.number().int().min(2).max(60).default(4).describe('length of each pre-generated signal'),
  startSpreadS: z.number().min(0).max(3600).default(0).describe('sensor i of n starts i/n of this many seconds after the first, as sensors powered up at different times do (their windows then end at different times); 0: all at once'),
  startPhase: z.strictObject({
    everyMs: z.number().int().min(1).max(3_600_000).describe('the period, e.g. the time of one window hop'),
    atMs: z.number().int().min(0).max(3_600_000).describe('the phase within it, ms'),
  }).refine((p) => p.atMs < p.everyMs, { message: 'atMs must be less than everyMs', path: ['atMs'] }).optional().describe('start the sensors\' clock at the first instant from now whose time since the epoch, in ms, is atMs modulo everyMs (at most everyMs later), so that the sources of several agents end their windows at chosen, repeatable moments; default: at once'),
}).describe('load testing: sensors replay a few pre-generated simulator signals, so generating them costs next to nothing');

export const edgeConfigSchema = z.strictObject({
  gatewayId: id('gatewayId').describe('this gateway\'s id, used in topics and frames'),
  dataDir: z.string().min(1).default('./data/edge').describe('where the outbox and sequence state live'),
  mqtt: z.strictObject({
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL').describe('the broker, e.g. mqtt://broker:1883'),
    username: z.string().optional(),
    password: z.string().optional().describe('or EW_EDGE_MQTT__PASSWORD'),
    clientId: z.string().min(1).max(128).optional().describe('default: edgewave-<gatewayId>'),
    topicRoot: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'topic levels without wildcards').default('edgewave'),
    keepaliveS: z.number().int().min(5).max(3600).default(30),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe('MQTT 5, or 4 (3.1.1) for a broker without it'),
    inFlight: z.number().int().min(1).max(65_535).default(64).describe('most unacknowledged publishes'),
    backoff: z.strictObject({ minMs: z.number().int().min(10).default(500), maxMs: z.number().int().min(10).default(30_000) }).default({ minMs: 500, maxMs: 30_000 }),
    tls: z.strictObject({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional(), rejectUnauthorized: z.boolean().default(true) }).optional().describe('file paths of PEM certificates'),
  }),
  outbox: z.strictObject({
    maxBytes: z.number().int().min(1024).default(256 * 2 ** 20).describe('bound of the on-disk backlog in bytes; past it, oldest raw frames are dropped first'),
    segmentBytes: z.number().int().min(1024).default(8 * 2 ** 20),
    fsync: z.enum(['batch', 'interval', 'none']).default('batch').describe('batch: each flush is on disk before it is published; interval; none'),
    fsyncIntervalMs: z.number().int().min(1).default(100),
  }).default({ maxBytes: 256 * 2 ** 20, segmentBytes: 8 * 2 ** 20, fsync: 'batch', fsyncIntervalMs: 100 }),
  flushMs: z.number().int().min(5).max(10_000).default(50).describe('milliseconds between batches'),
  windowFlush: z.boolean().default(true).describe('send a sensor\'s samples as soon as they complete a window (features.window and hop, as the cloud cuts raw frames too) instead of at the next flushMs: a window\'s result comes up to flushMs sooner, for about one frame more per window'),
  windowFlushGapMs: z.number().int().min(0).max(1000).default(10).describe('with windowFlush, at most one such early batch per this many milliseconds: windows completed within it share one (fewer, larger messages)'),
  sources: z.array(z.discriminatedUnion('type', [simulatorSource, csvSource, udpSource, mqttSource, syntheticSource])).min(1).describe('where samples come from: simulator | csv | udp | mqtt | synthetic'),
  maxSensors: z.number().int().min(1).max(1_000_000).default(1000).describe('most sensors learned from csv, udp and mqtt sources'),
  groups: z.strictObject({
    default: groupSettings.default({ mode: 'features', decimate: 1 }),
    byGroup: z.record(z.string(), groupSettings).default({}).describe('settings per sensor group, by group name'),
  }).default({ default: { mode: 'features', decimate: 1 }, byGroup: {} }),
  features: z.strictObject({
    preset: z.enum(['uplink', 'full']).default('uplink').describe('uplink (16 features per 256 samples, what the model reads) | full (every dsp/ feature); the keys below override it'),
    window: z.number().int().optional(),
    hop: z.number().int().optional(),
    fftSize: z.number().int().optional(),
    features: z.array(z.string()).optional(),
    bands: z.array(z.tuple([z.number(), z.number()])).optional(),
    select: z.array(z.string()).optional(),
  }).default({ preset: 'uplink' }).describe('dsp/ feature settings (preset, window, hop, fftSize, features, bands, select); the sample rate comes from each source'),
  uplink: z.strictObject({
    adaptive: z.boolean().default(true).describe('send features only for both-mode sensors while the backlog is large'),
    featuresOnlyAboveBytes: z.number().int().min(0).default(8 * 2 ** 20),
    resumeBelowBytes: z.number().int().min(0).default(1 * 2 ** 20),
  }).default({ adaptive: true, featuresOnlyAboveBytes: 8 * 2 ** 20, resumeBelowBytes: 2 ** 20 }),
  http: statusHttpSchema(9464, '/health and /metrics'),
  logLevel: logLevelSchema,
});

export type EdgeConfig = DeepReadonly<z.output<typeof edgeConfigSchema>>;

/** Validates an agent config (EW_CONFIG_INVALID names every bad field). */
export function parseEdgeConfig(input: unknown): EdgeConfig {
  return parseConfig('edge', edgeConfigSchema, input);
}

/** EW_EDGE_* variables over a raw config: EW_EDGE_MQTT__URL=mqtt://x sets mqtt.url (protocol/config.ts). */
export function applyEnvOverrides(input: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  return applyEnv(input, 'EW_EDGE_', env, edgeConfigSchema);
}
