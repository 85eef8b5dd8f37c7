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
    windowAligned: config.windowFlush,
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
  // Set once the flushes below exist; until then the first flush takes what is due.
  let onDue = () => {};
  const ctx: SourceContext = {
    register: ({ sensorId, group, sampleRate }) => {
      if (registered.has(sensorId)) return;
      if (registered.size >= capacity) throw new EdgeError('EW_EDGE_SENSORS', `more than ${capacity} sensors: raise maxSensors`);
      const g = config.groups.byGroup[group] ?? config.groups.default;
      pipeline.register({ sensorId, group, sampleRate, mode: g.mode, decimate: g.decimate });
      registered.add(sensorId);
    },
    add: (sensorId, samples, t0Us, gap) => {
      pipeline.add(sensorId, samples, t0Us, gap);
      // A window is whole: its samples go now (polled sources are flushed by the flush that polls them).
      if (pipeline.due()) onDue();
    },
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

  // One flush per tick: frames of everything that came in, appended to the outbox, then published;
  // with windowFlush, also one as soon as a sensor's samples complete a window, of those sensors
  // alone (the timed sources are polled when a window's last sample is due).
  let flushing = Promise.resolve();
  let polling = false;
  let dueQueued = false;
  let dueTimer: NodeJS.Timeout | undefined;
  let dueTimerAt = Infinity;
  let lastDueFlush = -Infinity;
  let stopped = false;
  const polled = config.windowFlush && config.sources.some((s) => s.type === 'simulator' || s.type === 'synthetic');
  const runFlush = async (dueOnly: boolean) => {
    // The backlog as it stands, before this flush adds to it.
    if (!dueOnly) updateUplink();
    polling = true;
    try {
      // A window flush polls the sensors whose window's last sample is due by now, alone.
      const only = dueOnly ? pipeline.dueBy(Date.now() * 1000) : undefined;
      for (const src of sources) src.poll?.(only);
    } finally {
      polling = false;
    }
    if (!dueOnly || pipeline.due()) {
      // The next early batch comes windowFlushGapMs after this one at the soonest.
      if (dueOnly) lastDueFlush = Date.now();
      const r = pipeline.flush(featuresOnly, dueOnly);
      metrics!.flushes.inc({ trigger: dueOnly ? 'window' : 'interval' });
      metrics!.windows.inc(r.windows);
      metrics!.badChunks.inc(r.badChunks);
      if (r.items.length) {
        await outbox.append(r.items);
        for (const it of r.items) {
          metrics!.frames.inc({ kind: it.kind }, 1);
          metrics!.bytes.inc({ kind: it.kind }, it.payload.length);
        }
        publisher.wake();
      }
    }
    // Everything due went: the timed sources are next polled for the next window's last sample
    // (and at least every DUE_POLL_MS, so a sensor that starts between flushes is known soon).
    if (polled) scheduleDue(Math.min(pipeline.nextDueUs() / 1000, Date.now() + DUE_POLL_MS), true);
  };
  const flush = () => {
    flushing = flushing.then(() => runFlush(false)).catch((err: unknown) => log.error({ err: (err as Error).message }, 'flush failed'));
  };
  const flushDue = () => {
    dueTimer = undefined;
    dueTimerAt = Infinity;
    // One at a time: windows completed while one waits go with it.
    if (dueQueued || stopped) return;
    dueQueued = true;
    flushing = flushing
      .then(() => {
        dueQueued = false;
        return stopped ? undefined : runFlush(true);
      })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'flush failed'));
  };
  /** A window flush at `atMs`, or windowFlushGapMs after the last one; `replace` drops one already set. */
  const scheduleDue = (atMs: number, replace = false) => {
    if (stopped) return;
    const fireAt = Math.max(atMs, lastDueFlush + config.windowFlushGapMs);
    if (dueTimer && dueTimerAt <= fireAt && !replace) return;
    if (dueTimer) clearTimeout(dueTimer);
    dueTimerAt = fireAt;
    dueTimer = setTimeout(flushDue, Math.max(0, Math.ceil(fireAt - Date.now())));
  };
  // A sensor of a source that delivers on its own (mqtt, udp, csv) completed a window.
  onDue = () => {
    if (!polling) scheduleDue(Date.now());
  };
  if (polled) scheduleDue(Date.now() + DUE_POLL_MS);
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
        stopped = true;
        if (dueTimer) clearTimeout(dueTimer);
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

/** With windowFlush, timed sources are polled at least this often (when flushes are further apart). */
const DUE_POLL_MS = 250;

/** The agent's feature settings: the preset, then any key the config sets over it. */
export function featureSettings({ preset, ...keys }: EdgeConfig['features']): Omit<FeatureConfigInput, 'sampleRate'> {
  return presetSettings(preset, keys as Partial<Omit<FeatureConfigInput, 'sampleRate'>>);
}
