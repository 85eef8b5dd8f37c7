// MQTT and Kafka topic names of DESIGN.md, built and parsed in one place.
//
//   MQTT  {root}/{gateway}/{sensor}/raw | {root}/{gateway}/{sensor}/features
//         {root}/{gateway}/status       | {root}/{gateway}/batch
//   Kafka edgewave.raw, .features, .status, .inferences, .sessions, .deadletter, .processor-state

import { ProtocolError } from './errors.js';
import { ID_PATTERN, checkId } from './ids.js';

export const DEFAULT_MQTT_ROOT = 'edgewave';

export type MqttTopicKind = 'raw' | 'features' | 'status' | 'batch';

export interface ParsedMqttTopic {
  kind: MqttTopicKind;
  gatewayId: string;
  /** Present for raw and features topics. */
  sensorId?: string;
}

export interface MqttTopics {
  root: string;
  raw(gatewayId: string, sensorId: string): string;
  features(gatewayId: string, sensorId: string): string;
  status(gatewayId: string): string;
  batch(gatewayId: string): string;
  /** Filters that match every gateway's topics of one kind (for a bridge's subscription). */
  filters: Record<MqttTopicKind, string>;
  /** Filters for one gateway's own topics (what its ACL allows). */
  gatewayPrefix(gatewayId: string): string;
  parse(topic: string): ParsedMqttTopic;
}

export function mqttTopics(root: string = DEFAULT_MQTT_ROOT): MqttTopics {
  if (!/^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/.test(root)) {
    throw new ProtocolError('EW_PROTO_TOPIC', `MQTT root ${JSON.stringify(root)} must be topic levels of [A-Za-z0-9_.:-] without wildcards`, {
      field: 'root',
    });
  }
  const rootLevels = root.split('/').length;
  return {
    root,
    raw: (g, s) => `${root}/${checkId(g, 'gatewayId')}/${checkId(s, 'sensorId')}/raw`,
    features: (g, s) => `${root}/${checkId(g, 'gatewayId')}/${checkId(s, 'sensorId')}/features`,
    status: (g) => `${root}/${checkId(g, 'gatewayId')}/status`,
    batch: (g) => `${root}/${checkId(g, 'gatewayId')}/batch`,
    filters: {
      raw: `${root}/+/+/raw`,
      features: `${root}/+/+/features`,
      status: `${root}/+/status`,
      batch: `${root}/+/batch`,
    },
    gatewayPrefix: (g) => `${root}/${checkId(g, 'gatewayId')}/#`,
    parse(topic: string): ParsedMqttTopic {
      const levels = topic.split('/');
      const bad = (why: string) => new ProtocolError('EW_PROTO_TOPIC', `MQTT topic ${JSON.stringify(topic)} ${why}`, { field: 'topic' });
      if (levels.slice(0, rootLevels).join('/') !== root) throw bad(`is not under ${root}/`);
      const rest = levels.slice(rootLevels);
      const [gatewayId, a, b] = rest;
      if (gatewayId === undefined || !ID_PATTERN.test(gatewayId)) throw bad('has no valid gateway level');
      if (rest.length === 2 && (a === 'status' || a === 'batch')) return { kind: a, gatewayId };
      if (rest.length === 3 && (b === 'raw' || b === 'features')) {
        if (!ID_PATTERN.test(a!)) throw bad('has no valid sensor level');
        return { kind: b, gatewayId, sensorId: a! };
      }
      throw bad('is not {gateway}/status, {gateway}/batch, {gateway}/{sensor}/raw or {gateway}/{sensor}/features');
    },
  };
}

export const DEFAULT_KAFKA_TOPICS = {
  raw: 'edgewave.raw',
  features: 'edgewave.features',
  status: 'edgewave.status',
  inferences: 'edgewave.inferences',
  sessions: 'edgewave.sessions',
  deadletter: 'edgewave.deadletter',
  processorState: 'edgewave.processor-state',
} as const;

export type KafkaTopicName = keyof typeof DEFAULT_KAFKA_TOPICS;
export type KafkaTopics = Record<KafkaTopicName, string>;

const KAFKA_TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;

/** Kafka topic names with overrides; every name is checked against Kafka's own rules. */
export function kafkaTopics(overrides: Partial<KafkaTopics> = {}): KafkaTopics {
  const topics = { ...DEFAULT_KAFKA_TOPICS, ...overrides };
  for (const [key, name] of Object.entries(topics)) {
    if (!KAFKA_TOPIC_PATTERN.test(name) || name === '.' || name === '..') {
      throw new ProtocolError('EW_PROTO_TOPIC', `Kafka topic for ${key} must be 1-249 characters of [A-Za-z0-9._-], got ${JSON.stringify(name)}`, {
        field: key,
      });
    }
  }
  return topics;
}

/**
 * The header of a bridge's tick record: a record with no key and no value that a bridge writes
 * into every partition of the raw and features topics while it is connected to both the MQTT broker
 * and Kafka. The header's value is the bridge's tick interval in milliseconds; the record's Kafka
 * timestamp is when it was written. A partition's ticks say its input is flowing even when no
 * gateway sends anything into it, so the processor can tell a silent group from an outage.
 */
export const TICK_HEADER = 'ew-tick';

/** Whether a Kafka record is a tick (see TICK_HEADER), by its headers. */
export function isTick(headers: Record<string, unknown> | undefined): boolean {
  return headers !== undefined && headers[TICK_HEADER] !== undefined;
}

/** The tick interval a tick record states, ms (NaN when it states none that is usable). */
export function tickIntervalMs(headers: Record<string, unknown> | undefined): number {
  const v = headers?.[TICK_HEADER];
  const n = Number(v === undefined ? NaN : String(v));
  return Number.isFinite(n) && n > 0 ? n : NaN;
}
