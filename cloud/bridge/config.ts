// The bridge's configuration: one schema that fills defaults, rejects unknown keys and names the
// bad field and what it expects. YAML or JSON files, then EW_BRIDGE_* environment overrides.

import { hostname } from 'node:os';
import { z } from 'zod';
import { applyEnv, logLevelSchema, parseConfig, statusHttpSchema, type DeepReadonly } from '../../protocol/index.js';
import { kafkaConnection, tlsSchema } from '../common/kafka.js';


export const bridgeConfigSchema = z.strictObject({
  mqtt: z.strictObject({
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL').describe('the broker the gateways publish to'),
    username: z.string().optional(),
    password: z.string().optional().describe('or EW_BRIDGE_MQTT__PASSWORD'),
    tls: tlsSchema.optional().describe('file paths of PEM certificates'),
    clientId: z.string().min(1).max(128).optional().describe('default: edgewave-bridge-<hostname>; keep it stable across restarts, so the broker redelivers what was not acknowledged'),
    shareGroup: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a name without / + #').nullable().default('edgewave-bridge').describe('bridges of one share group split the messages ($share/<group>/...); null: a plain subscription (one bridge, or a broker without shared subscriptions)'),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe('MQTT 5 (receive maximum, session expiry), or 4 (3.1.1) for a broker without it: a persistent session, no receive maximum'),
    topicRoot: z.string().regex(/^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/, 'topic levels without wildcards').default('edgewave'),
    subscribe: z.array(z.enum(['batch', 'raw', 'features', 'status'])).min(1).default(['batch', 'raw', 'features', 'status']).describe('which gateway topics to carry'),
    inFlight: z.number().int().min(1).max(65_535).default(2000).describe('most messages received and not yet acknowledged (the MQTT v5 receive maximum)'),
    keepaliveS: z.number().int().min(5).max(3600).default(30),
    sessionExpiryS: z.number().int().min(0).default(86_400).describe('how long the broker keeps this bridge\'s session, and the messages queued for it, while it is away'),
    reconnectMs: z.number().int().min(50).default(1000),
    brokerDroppedTopic: z.string().min(1).nullable().default('$SYS/broker/publish/messages/dropped').describe('where the broker publishes its count of messages it dropped (Mosquitto: over its queue limits, after acknowledging them to the gateways): read on a connection of its own, logged as an error when it rises and exported; null: not read'),
  }),
  kafka: z.strictObject({
    ...kafkaConnection,
    clientId: z.string().min(1).default('edgewave-bridge'),
    topics: z.strictObject({
      raw: z.string().default('edgewave.raw'),
      features: z.string().default('edgewave.features'),
      status: z.string().default('edgewave.status'),
      deadletter: z.string().default('edgewave.deadletter'),
    }).default({ raw: 'edgewave.raw', features: 'edgewave.features', status: 'edgewave.status', deadletter: 'edgewave.deadletter' }),
    producers: z.number().int().min(1).max(16).default(1).describe('idempotent producers, each with one request in flight; a sensor group always uses the same one'),
    compression: z.enum(['none', 'gzip']).default('none').describe('none | gzip (Float32 payloads shrink little; gzip costs CPU)'),
    lingerMs: z.number().int().min(0).max(1000).default(2).describe('how long records wait to fill a batch when the producer is idle'),
    batchBytes: z.number().int().min(1024).default(1024 * 1024).describe('a batch is sent at once when it reaches this size'),
    maxRecordBytes: z.number().int().min(1024).default(1_000_000).describe('the largest record produced (Kafka\'s max.message.bytes); larger groups of frames are split, a larger single frame is dead-lettered'),
    allowAutoTopicCreation: z.boolean().default(false),
    tickMs: z.number().int().min(100).max(10_000).nullable().default(1000).describe('how often a tick record goes into every partition of the raw and features topics while the bridge is connected to the broker and to Kafka (the processor ends the sessions of silent groups by them); null: none'),
  }),
  frames: z.strictObject({
    maxFutureMs: z.number().min(0).default(10 * 60 * 1000).describe('frames that start further ahead of the bridge\'s clock are dead-lettered (EW_PROTO_FUTURE)'),
    json: z.boolean().default(true).describe('accept JSON frames from third-party sensors on per-sensor topics, converted to the binary form'),
  }).default({ maxFutureMs: 10 * 60 * 1000, json: true }),
  http: statusHttpSchema(9465, '/health, /ready and /metrics'),
  drainMs: z.number().int().min(0).default(5000).describe('on SIGTERM, how long to wait for Kafka to take what was received'),
  logLevel: logLevelSchema,
});

export type BridgeConfig = DeepReadonly<z.output<typeof bridgeConfigSchema>>;
export type BridgeConfigInput = z.input<typeof bridgeConfigSchema>;

export function parseBridgeConfig(input: unknown): BridgeConfig {
  return parseConfig('bridge', bridgeConfigSchema, input);
}

/** EW_BRIDGE_* variables over a raw config: EW_BRIDGE_KAFKA__BROKERS='["k:9092"]' sets kafka.brokers. */
export function applyBridgeEnv(input: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  return applyEnv(input, 'EW_BRIDGE_', env, bridgeConfigSchema);
}

export const defaultClientId = (): string => `edgewave-bridge-${hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}`;
