// The bridge's Prometheus metrics (prom-client), in one registry per bridge. Names live here only.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const BRIDGE_METRIC = {
  messages: 'edgewave_bridge_messages_total',
  bytes: 'edgewave_bridge_bytes_total',
  frames: 'edgewave_bridge_frames_total',
  records: 'edgewave_bridge_records_total',
  deadLetters: 'edgewave_bridge_dead_letters_total',
  acked: 'edgewave_bridge_acked_total',
  redelivered: 'edgewave_bridge_redelivered_total',
  inFlight: 'edgewave_bridge_in_flight',
  kafkaLatency: 'edgewave_bridge_kafka_latency_seconds',
  ackLatency: 'edgewave_bridge_ack_latency_seconds',
  kafkaErrors: 'edgewave_bridge_kafka_errors_total',
  mqttConnected: 'edgewave_bridge_mqtt_connected',
  kafkaConnected: 'edgewave_bridge_kafka_connected',
  reconnects: 'edgewave_bridge_mqtt_reconnects_total',
  receiveMaximumExceeded: 'edgewave_bridge_receive_maximum_exceeded_total',
  keepalivesHeld: 'edgewave_bridge_keepalives_held_total',
  ticks: 'edgewave_bridge_ticks_total',
  brokerDropped: 'edgewave_bridge_broker_dropped',
} as const;

export interface BridgeMetrics {
  registry: Registry;
  messages: Counter<'topic_kind'>;
  bytes: Counter;
  frames: Counter<'kind'>;
  records: Counter<'topic'>;
  deadLetters: Counter<'reason'>;
  acked: Counter;
  redelivered: Counter;
  kafkaLatency: Histogram;
  ackLatency: Histogram;
  kafkaErrors: Counter;
  reconnects: Counter;
  receiveMaximumExceeded: Counter;
  keepalivesHeld: Counter;
  ticks: Counter;
}

export function createBridgeMetrics(gauges: { inFlight: () => number; mqttConnected: () => boolean; kafkaConnected: () => boolean; brokerDropped: () => number | undefined }): BridgeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'edgewave_bridge_' });
  const r = [registry];
  const m: BridgeMetrics = {
    registry,
    messages: new Counter({ name: BRIDGE_METRIC.messages, help: 'MQTT messages received, by topic kind (batch, raw, features, status)', labelNames: ['topic_kind'], registers: r }),
    bytes: new Counter({ name: BRIDGE_METRIC.bytes, help: 'MQTT payload bytes received', registers: r }),
    frames: new Counter({ name: BRIDGE_METRIC.frames, help: 'frames accepted and produced to Kafka, by kind', labelNames: ['kind'], registers: r }),
    records: new Counter({ name: BRIDGE_METRIC.records, help: 'Kafka records acknowledged by Kafka, by topic', labelNames: ['topic'], registers: r }),
    deadLetters: new Counter({ name: BRIDGE_METRIC.deadLetters, help: 'frames or messages refused and sent to the dead-letter topic, by reason code', labelNames: ['reason'], registers: r }),
    acked: new Counter({ name: BRIDGE_METRIC.acked, help: 'MQTT messages acknowledged to the broker (after Kafka had them)', registers: r }),
    redelivered: new Counter({ name: BRIDGE_METRIC.redelivered, help: 'MQTT messages the broker delivered again (DUP set)', registers: r }),
    kafkaLatency: new Histogram({ name: BRIDGE_METRIC.kafkaLatency, help: 'one Kafka produce request, sent to acknowledged', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: r }),
    ackLatency: new Histogram({ name: BRIDGE_METRIC.ackLatency, help: 'one MQTT message, received to acknowledged (every record of it in Kafka)', buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: r }),
    kafkaErrors: new Counter({ name: BRIDGE_METRIC.kafkaErrors, help: 'Kafka produce requests that failed (and were tried again)', registers: r }),
    reconnects: new Counter({ name: BRIDGE_METRIC.reconnects, help: 'MQTT connections after the first', registers: r }),
    receiveMaximumExceeded: new Counter({ name: BRIDGE_METRIC.receiveMaximumExceeded, help: 'QoS 1 messages the broker sent past the receive maximum (mqtt.inFlight of the connection unacknowledged): it does not keep MQTT 5 flow control', registers: r }),
    ticks: new Counter({ name: BRIDGE_METRIC.ticks, help: 'rounds of tick records written (one into every partition of the raw and features topics each)', registers: r }),
    keepalivesHeld: new Counter({ name: BRIDGE_METRIC.keepalivesHeld, help: 'keepalive periods with the broker\'s answer unread behind a message the bridge held: pinged again instead of reconnecting', registers: r }),
  };
  new Gauge({ name: BRIDGE_METRIC.inFlight, help: 'MQTT messages received and not yet acknowledged', registers: r, collect() { this.set(gauges.inFlight()); } });
  new Gauge({ name: BRIDGE_METRIC.mqttConnected, help: '1 while connected to the MQTT broker', registers: r, collect() { this.set(gauges.mqttConnected() ? 1 : 0); } });
  new Gauge({
    name: BRIDGE_METRIC.brokerDropped,
    help: 'messages the MQTT broker says it dropped since it started (mqtt.brokerDroppedTopic; Mosquitto: over its queue limits, after acknowledging them): above 0, frames were lost before the bridge',
    registers: r,
    collect() {
      const n = gauges.brokerDropped();
      if (n !== undefined) this.set(n);
    },
  });
  new Gauge({ name: BRIDGE_METRIC.kafkaConnected, help: '1 while the Kafka producer is connected and its last request succeeded', registers: r, collect() { this.set(gauges.kafkaConnected() ? 1 : 0); } });
  return m;
}
