// The processor's configuration: one schema that fills defaults, rejects unknown keys and names the
// bad field and what it expects. YAML or JSON files, then EW_PROCESSOR_* environment overrides.

import { z } from 'zod';
import { SHIPPED_MODEL } from '../model/shipped.js';
import { applyEnv, logLevelSchema, parseConfig, statusHttpSchema, type DeepReadonly } from '../../protocol/index.js';
import { kafkaConnection } from '../common/kafka.js';
import { S3_CONNECTION_DEFAULT, s3Connection, s3UrlSchema } from '../common/s3.js';

/** An archive location: an S3 URL or a directory's file:// URL. */
export const archiveUrlSchema = z.union([s3UrlSchema, z.string().regex(/^file:\/\/\/\S+$/, 'file:///path')], { error: 's3://bucket/prefix or file:///path' });

export { SHIPPED_MODEL };

export const processorConfigSchema = z.strictObject({
  kafka: z.strictObject({
    ...kafkaConnection,
    clientId: z.string().min(1).default('edgewave-processor'),
    groupId: z.string().min(1).default('edgewave-processor').describe('processors of one group split the partitions'),
    transactionalIdPrefix: z.string().min(1).default('edgewave-processor').describe('two transactional producers per input partition, used in turn: <prefix>-<partition> and <prefix>-<partition>.b'),
    topics: z.strictObject({
      raw: z.string().default('edgewave.raw'),
      features: z.string().default('edgewave.features'),
      inferences: z.string().default('edgewave.inferences'),
      sessions: z.string().default('edgewave.sessions'),
      deadletter: z.string().default('edgewave.deadletter'),
      processorState: z.string().default('edgewave.processor-state'),
    }).default({ raw: 'edgewave.raw', features: 'edgewave.features', inferences: 'edgewave.inferences', sessions: 'edgewave.sessions', deadletter: 'edgewave.deadletter', processorState: 'edgewave.processor-state' }),
    transactionTimeoutMs: z.number().int().min(1000).default(60_000),
    partitionsConcurrently: z.number().int().min(1).default(4).describe('partitions whose batches are processed at the same time (one waits on Kafka while another computes)'),
    commitIntervalMs: z.number().int().min(0).default(100).describe('batches processed within this long share one transaction: results reach read_committed readers up to this much later, and the state changelog is written once per interval'),
    sessionTimeoutMs: z.number().int().min(3000).default(30_000).describe('a processor that stops answering loses its partitions after this long'),
    maxRecordBytes: z.number().int().min(8192).default(1_000_000).describe('the largest record produced (the topics\' max.message.bytes): a dead letter\'s original bytes are cut to 4 KiB less, with their length in ew-bytes; inference records hold up to 64 KiB of windows, or 4 KiB less than this; a session event over 4 KiB less than this goes in parts; produce requests stay under it'),
  }),
  model: z.strictObject({
    path: z.string().min(1).default(SHIPPED_MODEL).describe('the ONNX model: a file path or an s3://bucket/key URL (default: the shipped activity model)'),
    backend: z.enum(['auto', 'node', 'web']).default('auto').describe('onnxruntime-node when installed (auto), or onnxruntime-web'),
    reloadS: z.number().min(0).default(30).describe('how often to check the model for a new version, seconds (0: never)'),
  }).default({ path: SHIPPED_MODEL, backend: 'auto', reloadS: 30 }),
  features: z.strictObject({
    preset: z.enum(['uplink', 'full']).default('uplink').describe('the dsp/ settings raw frames are cut into windows with; the model reads the uplink layout'),
  }).default({ preset: 'uplink' }),
  sequencer: z.strictObject({
    maxPending: z.number().int().min(0).default(32).describe('frames held per sensor stream while a missing one is awaited'),
    maxSpanMs: z.number().int().min(0).default(5000).describe('sample time held before a missing frame is given up on'),
  }).default({ maxPending: 32, maxSpanMs: 5000 }),
  sessions: z.strictObject({
    minSensors: z.number().int().min(1).default(2).describe('k: sensors of a group active together to start a session'),
    startAfterS: z.number().min(0).default(5).describe('t: seconds they must stay active together'),
    idleGapS: z.number().min(0).default(30).describe('g: seconds without an active sensor that end a session'),
    updateEveryS: z.number().min(0).default(10).describe('at most one updated event per session per this many seconds of sample time, each session at a phase of its own from its id (its first comes up to this long after started)'),
    summaries: z.array(z.string()).default(['acc.mag_mean', 'acc.mag_std']).describe('features summarised per sensor in a session'),
    activeClasses: z.array(z.string()).optional().describe('model classes that count as active (default: all but idle)'),
    staleMs: z.number().int().min(0).default(3000).describe('a sensor whose latest window ended longer ago than this is not active'),
    silentGraceS: z.number().min(0).nullable().default(60).describe('a group that sends nothing more has its session ended once its partition\'s newest window (in a partition that receives no frames: its input time, which the bridges\' ticks carry on) is idleGapS + this past its last active moment; later windows of the group start a new session; null: kept open until the group sends'),
  }).default({ minSensors: 2, startAfterS: 5, idleGapS: 30, updateEveryS: 10, summaries: ['acc.mag_mean', 'acc.mag_std'], staleMs: 3000, silentGraceS: 60 }),
  mongodb: z.strictObject({
    url: z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// URL'),
    database: z.string().min(1).default('edgewave'),
    collection: z.string().min(1).default('sessions'),
    groupId: z.string().min(1).optional().describe('the sink\'s consumer group (default: <kafka.groupId>-sessions)'),
  }).optional().describe('where sessions are kept (upserted by session id); without it, sessions go to Kafka only'),
  s3: s3Connection.default(S3_CONNECTION_DEFAULT).describe('the S3 API for the archive and s3:// model URLs'),
  archive: z.strictObject({
    url: archiveUrlSchema.describe('where the archive is written: s3://bucket/prefix, or file:///path for a directory'),
    flushBytes: z.number().int().min(1024).default(8 << 20).describe('flush a partition when its buffered records reach this many bytes'),
    flushS: z.number().min(0.1).default(60).describe('... or when its oldest buffered record is this old, seconds'),
    groupId: z.string().min(1).optional().describe('the archive\'s consumer group (default: <kafka.groupId>-archive)'),
    runIn: z.enum(['process', 'thread', 'inline']).default('process').describe('where the archive runs: a child process (shares nothing with the processor), a worker thread, or inline on the processor\'s own thread, where each flush holds up the windows behind it'),
    nice: z.number().int().min(0).max(19).default(10).describe('how much lower the archive\'s CPU priority is than the processor\'s (added to its nice value and, in a process of its own, to its session\'s where Linux shares the CPU by session; Linux): it yields the cores to windows when both want them'),
  }).optional().describe('raw and feature frames archived to S3 as Parquet; without it, nothing is archived'),
  http: statusHttpSchema(9466, '/health, /ready and /metrics'),
  logLevel: logLevelSchema,
});

export type ProcessorConfig = DeepReadonly<z.output<typeof processorConfigSchema>>;
export type ProcessorConfigInput = z.input<typeof processorConfigSchema>;

export function parseProcessorConfig(input: unknown): ProcessorConfig {
  return parseConfig('processor', processorConfigSchema, input);
}

/** The consumer groups of a processor's configuration: its own, its session sink's and its archive's. */
export function consumerGroups(config: ProcessorConfig): { processor: string; sessions: string; archive: string } {
  const g = config.kafka.groupId;
  return { processor: g, sessions: config.mongodb?.groupId ?? `${g}-sessions`, archive: config.archive?.groupId ?? `${g}-archive` };
}

export function applyProcessorEnv(input: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  return applyEnv(input, 'EW_PROCESSOR_', env, processorConfigSchema);
}
