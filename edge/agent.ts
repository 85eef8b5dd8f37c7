// The edge agent: sources → Pipeline (dsp/ features, raw frames, batched across sensors) → durable
// Outbox → Publisher (MQTT v5, QoS 1). Also the adaptive uplink, /health and /metrics, and a clean
// stop that flushes what it has and says so on the status topic.

import { join } from 'node:path';
import { loadDsp, presetSettings, type FeatureConfigInput } from '../dsp/src/index.js';
import { createLogger, mqttTopics, type Logger } from '../protocol/index.js';
import { listenStatus } from '../protocol/node-support.js';
import type { EdgeConfig } from './config.js';
import { EdgeError } from './errors.js';
import { createMetrics, type EdgeMetrics } from './metrics.js';
import { Outbox } from './outbox/outbox.js';
import { Pipeline } from './pipeline.js';
import { Publisher } from './publisher.js';
import { SeqStore } from './seq-store.js';
import { startCsvSource } from './sources/csv-source.js';
import { startMqttSource } from './sources/mqtt-source.js';
import { startSimulatorSource } from './sources/simulator-source.js';
import { startSyntheticSource } from './sources/synthetic-source.js';
import type { RunningSource, SourceContext } from './sources/source.js';
import { startUdpSource } from './sources/udp-source.js';

export interface AgentHandle {
  readonly config: EdgeConfig;
  /** Where /health and /metrics answer. */
  readonly httpUrl: string;
  readonly outbox: Outbox;
  readonly publisher: Publisher;
  readonly metrics: EdgeMetrics;
  featuresOnly(): boolean;
  /** Resolves when every finite source (CSV replays) has delivered all it had. */
  sourcesDone(): Promise<void>;
  /** Stops sources, flushes, waits up to `drainMs` for the broker to take the backlog, closes. */
  stop(drainMs?: number): Promise<void>;
}

export async function startAgent(config: EdgeConfig, log: Logger = createLogger('edge', { level: config.logLevel })): Promise<AgentHandle> {
  const dsp = await loadDsp();
  const topics = mqttTopics(config.mqtt.topicRoot);
  let featuresOnly = false;
  let metrics: EdgeMetrics | undefined;
  const outbox = Outbox.open(join(config.dataDir, 'outbox'), {
    cacheBytes: 4 * 2 ** 20,
    ...config.outbox,
    onDrop: (d) => {
      metrics?.dropped.inc({ kind: d.kind }, d.records);
      metrics?.droppedBytes.inc({ kind: d.kind }, d.bytes);
      log.warn(d, 'outbox full: dropped the oldest records of this kind');
    },
    onError: (err) => log.error({ err: err.message }, 'outbox background write failed; retrying'),
  });
  const seq = SeqStore.open(join(config.dataDir, 'seq.json'));
  const known = (s: EdgeConfig['sources'][number]) => (s.type === 'simulator' || s.type === 'synthetic' ? s.sensors : 0);
  const sensorCount = config.sources.reduce((n, s) => n + known(s), 0);
  const capacity = sensorCount + (config.sources.some((s) => known(s) === 0) ? config.maxSensors : 0);
  const pipeline = new Pipeline({
    gatewayId: config.gatewayId,
    topicRoot: config.mqtt.topicRoot,
    dsp,
    seq,
    features: featureSettings(config.features),
    capacity: Math.max(1, capacity),
  });
  // Feature layouts in use, so receivers can name every position of a feature frame.
  const pipelineLayouts = () => [...new Set(config.sources.flatMap((s) => (s.type === 'simulator' || s.type === 'synthetic' ? [s.rate] : s.type === 'csv' && s.rate ? [s.rate] : [])))].map((rate) => {
    const l = pipeline.extractorFor(rate).layout;
    return { id: l.id, sampleRate: rate, window: l.config.window, hop: l.config.hop, names: l.features.map((f) => f.name), units: l.features.map((f) => f.unit) };
  });
  const publisher = new Publisher(
    outbox,
    {
      url: config.mqtt.url,
      clientId: config.mqtt.clientId ?? `edgewave-${config.gatewayId}`,
      username: config.mqtt.username,
      password: config.mqtt.password,
      tls: config.mqtt.tls,
      keepaliveS: config.mqtt.keepaliveS,
      inFlight: config.mqtt.inFlight,
      protocolVersion: config.mqtt.protocolVersion,
      backoff: config.mqtt.backoff,
      statusTopic: topics.status(config.gatewayId),
      birth: () => ({ gatewayId: config.gatewayId, sensors: sensorCount, featuresOnly, backlogBytes: outbox.stats().depthBytes, layouts: pipelineLayouts() }),
    },
    log,
    (ms) => metrics?.publishLatency.observe(ms / 1000),
  );
  metrics = createMetrics({ outbox: () => outbox.stats(), publisher: () => publisher.stats, featuresOnly: () => featuresOnly });

  const registered = new Set<string>();
  const lastWarned = new Map<string, number>();
  const ctx: SourceContext = {
    register: ({ sensorId, group, sampleRate }) => {
      if (registered.has(sensorId)) return;
      if (registered.size >= capacity) throw new EdgeError('EW_EDGE_SENSORS', `more than ${capacity} sensors: raise maxSensors`);
      const g = config.groups.byGroup[group] ?? config.groups.default;
      pipeline.register({ sensorId, group, sampleRate, mode: g.mode, decimate: g.decimate });
      registered.add(sensorId);
    },
    add: (sensorId, samples, t0Us, gap) => pipeline.add(sensorId, samples, t0Us, gap),
    reject: (source, code, message) => {
      metrics!.rejected.inc({ code });
      const last = lastWarned.get(code) ?? 0;
      if (Date.now() - last > 10_000) {
        lastWarned.set(code, Date.now());
        log.warn({ source, code }, `refused input: ${message} (further ones of this kind are counted in ${'edgewave_edge_rejected_total'} for 10 s)`);
      }
    },
    metrics: metrics!,
    log,
  };
  const sources: RunningSource[] = [];
  try {
    for (const [i, src] of config.sources.entries()) {
      if (src.type === 'simulator') sources.push(startSimulatorSource({ ...src, prefix: src.prefix ?? config.gatewayId }, config.flushMs, ctx));
      else if (src.type === 'synthetic') sources.push(startSyntheticSource({ ...src, prefix: config.gatewayId }, config.flushMs, ctx));
      else if (src.type === 'csv') sources.push(startCsvSource(src, ctx));
      else if (src.type === 'udp') sources.push(await startUdpSource(src, ctx));
      else sources.push(await startMqttSource(src, `edgewave-${config.gatewayId}-source-${i}`, ctx));
    }
  } catch (err) {
    await Promise.all(sources.map((s) => s.stop()));
    await outbox.close();
    throw err;
  }

  // One flush per tick: frames of everything that came in, appended to the outbox, then published.
  let flushing = Promise.resolve();
  const flush = () => {
    flushing = flushing.then(async () => {
      // The backlog as it stands, before this flush adds to it.
      updateUplink();
      for (const src of sources) src.poll?.();
      const r = pipeline.flush(featuresOnly);
      metrics!.windows.inc(r.windows);
      metrics!.badChunks.inc(r.badChunks);
      if (!r.items.length) return;
      await outbox.append(r.items);
      for (const it of r.items) {
        metrics!.frames.inc({ kind: it.kind }, 1);
        metrics!.bytes.inc({ kind: it.kind }, it.payload.length);
      }
      publisher.wake();
    }).catch((err: unknown) => log.error({ err: (err as Error).message }, 'flush failed'));
  };
  const updateUplink = () => {
    if (!config.uplink.adaptive) return;
    const depth = outbox.stats().depthBytes;
    const next = featuresOnly ? depth > config.uplink.resumeBelowBytes : depth > config.uplink.featuresOnlyAboveBytes;
    if (next !== featuresOnly) {
      featuresOnly = next;
      log.warn({ backlogBytes: depth, featuresOnly }, featuresOnly ? 'backlog over its threshold: both-mode sensors send features only' : 'backlog drained: both-mode sensors send raw again');
      publisher.status({ uplink: featuresOnly ? 'features-only' : 'normal' });
    }
  };
  const timer = setInterval(flush, config.flushMs);

  const { server, url: httpUrl } = await listenStatus(config.http.host, config.http.port, async (path) => {
    if (path === '/health') {
      const s = outbox.stats();
      return { status: 200, type: 'application/json', body: JSON.stringify({ status: 'ok', connected: publisher.stats.connected, backlogRecords: s.depthRecords, backlogBytes: s.depthBytes, featuresOnly }) };
    }
    if (path === '/metrics') return { status: 200, type: metrics!.registry.contentType, body: await metrics!.registry.metrics() };
    return { status: 404, type: 'text/plain', body: 'not found' };
  }, (err) => new EdgeError('EW_EDGE_LISTEN', `cannot serve /health and /metrics on ${config.http.host}:${config.http.port}: ${err.message}`, { cause: err }));
  publisher.start();
  log.info({ gatewayId: config.gatewayId, sensors: sensorCount, broker: config.mqtt.url, outbox: join(config.dataDir, 'outbox'), backlog: outbox.stats().depthRecords, http: httpUrl }, 'edge agent started');

  let stopping: Promise<void> | undefined;
  return {
    config,
    httpUrl,
    outbox,
    publisher,
    metrics,
    featuresOnly: () => featuresOnly,
    sourcesDone: () => Promise.all(sources.filter((_, i) => config.sources[i]!.type === 'csv').map((s) => s.done)).then(() => undefined),
    stop(drainMs = 5000) {
      return (stopping ??= (async () => {
        await Promise.all(sources.map((s) => s.stop()));
        clearInterval(timer);
        flush();
        await flushing;
        // Every frame is in the outbox now: no number past these is taken.
        seq.close();
        const drained = await publisher.drain(drainMs);
        await publisher.stop();
        await outbox.close();
        await new Promise((r) => server.close(r));
        log.info({ drained, backlog: outbox.stats().depthRecords }, drained ? 'edge agent stopped; everything was delivered' : 'edge agent stopped; the backlog stays in the outbox for the next start');
      })());
    },
  };
}

/** The agent's feature settings: the preset, then any key the config sets over it. */
export function featureSettings({ preset, ...keys }: EdgeConfig['features']): Omit<FeatureConfigInput, 'sampleRate'> {
  return presetSettings(preset, keys as Partial<Omit<FeatureConfigInput, 'sampleRate'>>);
}
