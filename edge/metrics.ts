// The agent's Prometheus metrics (prom-client), in one registry per agent. Names live here only.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC = {
  frames: 'edgewave_edge_frames_total',
  bytes: 'edgewave_edge_bytes_total',
  samples: 'edgewave_edge_samples_total',
  windows: 'edgewave_edge_windows_total',
  flushes: 'edgewave_edge_flushes_total',
  badChunks: 'edgewave_edge_bad_chunks_total',
  rejected: 'edgewave_edge_rejected_total',
  outboxRecords: 'edgewave_edge_outbox_records',
  outboxBytes: 'edgewave_edge_outbox_bytes',
  dropped: 'edgewave_edge_outbox_dropped_total',
  droppedBytes: 'edgewave_edge_outbox_dropped_bytes_total',
  published: 'edgewave_edge_published_total',
  acked: 'edgewave_edge_acked_total',
  publishLatency: 'edgewave_edge_publish_latency_seconds',
  connected: 'edgewave_edge_connected',
  reconnects: 'edgewave_edge_reconnects_total',
  featuresOnly: 'edgewave_edge_uplink_features_only',
} as const;

export interface EdgeMetrics {
  registry: Registry;
  frames: Counter<'kind'>;
  bytes: Counter<'kind'>;
  samples: Counter;
  windows: Counter;
  flushes: Counter<'trigger'>;
  badChunks: Counter;
  rejected: Counter<'code'>;
  dropped: Counter<'kind'>;
  droppedBytes: Counter<'kind'>;
  publishLatency: Histogram;
}

export function createMetrics(gauges: {
  outbox: () => { depthRecords: number; depthBytes: number };
  publisher: () => { connected: boolean; reconnects: number; published: number; acked: number };
  featuresOnly: () => boolean;
}): EdgeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'edgewave_edge_' });
  const m: EdgeMetrics = {
    registry,
    frames: new Counter({ name: METRIC.frames, help: 'frames put in the outbox, by kind', labelNames: ['kind'], registers: [registry] }),
    bytes: new Counter({ name: METRIC.bytes, help: 'payload bytes put in the outbox, by kind', labelNames: ['kind'], registers: [registry] }),
    samples: new Counter({ name: METRIC.samples, help: 'samples taken in from sources', registers: [registry] }),
    windows: new Counter({ name: METRIC.windows, help: 'feature windows computed and sent', registers: [registry] }),
    flushes: new Counter({ name: METRIC.flushes, help: 'batches of frames made: every flushMs (interval), or early for sensors that completed a window (window)', labelNames: ['trigger'], registers: [registry] }),
    badChunks: new Counter({ name: METRIC.badChunks, help: 'raw chunks left out because they held NaN or Infinity', registers: [registry] }),
    rejected: new Counter({ name: METRIC.rejected, help: 'source inputs refused (bad frames, CSV lines), by reason code', labelNames: ['code'], registers: [registry] }),
    dropped: new Counter({ name: METRIC.dropped, help: 'outbox records dropped at the byte bound, by kind', labelNames: ['kind'], registers: [registry] }),
    droppedBytes: new Counter({ name: METRIC.droppedBytes, help: 'outbox bytes dropped at the byte bound, by kind', labelNames: ['kind'], registers: [registry] }),
    publishLatency: new Histogram({ name: METRIC.publishLatency, help: 'publish to PUBACK', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
  };
  new Gauge({ name: METRIC.outboxRecords, help: 'records waiting in the outbox', registers: [registry], collect() { this.set(gauges.outbox().depthRecords); } });
  new Gauge({ name: METRIC.outboxBytes, help: 'bytes waiting in the outbox', registers: [registry], collect() { this.set(gauges.outbox().depthBytes); } });
  new Gauge({ name: METRIC.connected, help: '1 while connected to the broker', registers: [registry], collect() { this.set(gauges.publisher().connected ? 1 : 0); } });
  // Counters kept by the publisher, brought up to date at each scrape.
  const seen = { reconnects: 0, published: 0, acked: 0 };
  const follow = (name: string, help: string, key: keyof typeof seen) =>
    new Counter({
      name, help, registers: [registry],
      collect() {
        const now = gauges.publisher()[key];
        if (now > seen[key]) this.inc(now - seen[key]);
        seen[key] = now;
      },
    });
  follow(METRIC.reconnects, 'reconnects to the broker', 'reconnects');
  follow(METRIC.published, 'publishes sent (re-sends after a reconnect included)', 'published');
  follow(METRIC.acked, 'publishes the broker acknowledged', 'acked');
  new Gauge({ name: METRIC.featuresOnly, help: '1 while both-mode sensors send features only (adaptive uplink)', registers: [registry], collect() { this.set(gauges.featuresOnly() ? 1 : 0); } });
  return m;
}
