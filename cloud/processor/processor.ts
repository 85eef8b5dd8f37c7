// The stream processor: a kafkajs consumer group over the raw and feature topics, with exactly-once
// results. Partitions are assigned co-partitioned (a group's raw and feature frames, keyed by group,
// share a partition number), and each partition number held by this process has its own engine
// (engine.ts) and its own transactional producer (`<prefix>-<partition>`, so a new owner fences an
// old one). Each fetched batch is processed, and its outputs (inferences, session events, dead
// letters), the state it changed (to the compacted processor-state topic, same partition number)
// and the consumer offset after it go to Kafka in one transaction. Consumers reading with
// read_committed see each result once, whatever dies when.
//
// When a partition is taken on, its state is rebuilt from the changelog before its first batch: the
// new owner's producer first commits a marker record to its changelog partition, then reads the
// changelog from the start up to that marker, the newest value per key winning. A failed batch
// aborts its transaction and drops the partition's engine, which is rebuilt the same way before the
// batch is fetched again.

import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Consumer, EachBatchPayload, KafkaMessage, Message, Producer } from 'kafkajs';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { featureLayout, loadDsp, parseFeatureConfig, presetSettings, type DspModule } from '../../dsp/src/index.js';
import { createLogger, decodeBatch, decodeFrame, isBatch, isEdgewaveError, type Frame, type Logger } from '../../protocol/index.js';
import { json, listenStatus } from '../../protocol/node-support.js';
import { MongoClient } from 'mongodb';
import { createKafka } from '../common/kafka.js';
import { createS3, parseS3Url } from '../common/s3.js';
import { ActivityModel } from '../model/model.js';
import { ModelSource } from '../model/source.js';
import { startArchiver, type ArchiverHandle } from '../store/archiver.js';
import { startSessionSink, type SessionSinkHandle } from '../store/session-sink.js';
import { SessionStore } from '../store/sessions-store.js';
import { coPartitionedAssigner } from './assigner.js';
import type { ProcessorConfig } from './config.js';
import { Engine, type SensorSnapshot, type WindowResult } from './engine.js';
import type { GroupState, SessionEvent } from './sessions.js';

/** An inference record (edgewave.inferences, JSON, keyed by group): one window, its features and its class. */
export interface InferenceRecord extends WindowResult {
  /** The model's classes, in the order of `scores`. */
  classes?: string[];
}

/** A session record (edgewave.sessions, JSON, keyed by group). */
export type SessionRecord = SessionEvent;

export interface ProcessorHandle {
  readonly httpUrl: string;
  /** The model in use now (it changes when the model file or object does). */
  readonly model: ActivityModel;
  /** Checks the model source for a new version now; resolves to whether a new model was taken. */
  reloadModel(): Promise<boolean>;
  /** The sinks outside Kafka, when configured. */
  readonly archiver: ArchiverHandle | null;
  readonly sessionSink: SessionSinkHandle | null;
  /** Partition numbers this process holds now. */
  partitions(): number[];
  stats(): { batches: number; frames: number; windows: number; sessionEvents: number; deadLetters: number; duplicates: number; aborted: number };
  stop(): Promise<void>;
}

const RESTORE_KEY = '__restore';

interface Worker {
  partition: number;
  engine: Engine;
  producer: Producer;
  ready: Promise<void>;
}

export async function startProcessor(config: ProcessorConfig, log: Logger = createLogger('processor', { level: config.logLevel })): Promise<ProcessorHandle> {
  const dsp: DspModule = await loadDsp();
  const features = presetSettings(config.features.preset);
  let s3: S3Client | undefined;
  const s3Client = () => (s3 ??= createS3(config.s3));
  // The layout the model is fed: the preset at 200 Hz (raw frames at other rates get features, not classes).
  const layout = featureLayout(parseFeatureConfig({ ...features, sampleRate: 200 }));
  const source = ModelSource.of(config.model.path, s3Client);
  const first = await source.read();
  let model = await ActivityModel.load(first.bytes, { layout, backend: config.model.backend });
  let modelVersion = first.version;
  log.info({ model: config.model.path, backend: model.backend, layout: `0x${layout.id.toString(16)}`, classes: model.info.classes }, 'model loaded');
  // Feature names of the layouts this processor knows (both presets at the usual rates), for the archive's columns.
  const namesByLayout = new Map<number, readonly string[]>();
  for (const preset of ['uplink', 'full'] as const) {
    for (const rate of [25, 50, 100, 200, 250, 400, 500, 800, 1000]) {
      try {
        const l = featureLayout(parseFeatureConfig({ ...presetSettings(preset), sampleRate: rate }));
        namesByLayout.set(l.id, l.features.map((f) => f.name));
      } catch {
        // the preset's bands do not fit this rate: no such layout
      }
    }
  }

  const topics = config.kafka.topics;
  const kafka = createKafka(config.kafka, log, { initialRetryTime: 200, maxRetryTime: 5000, retries: 20 });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'edgewave_processor_' });
  const counter = (name: string, help: string) => new Counter({ name: `edgewave_processor_${name}`, help, registers: [registry] });
  const m = {
    batches: counter('batches_total', 'Kafka batches processed and committed'),
    frames: counter('frames_total', 'frames taken in'),
    windows: counter('windows_total', 'windows computed or taken from the edge'),
    inferences: counter('inferences_total', 'windows classified by the model'),
    sessionEvents: counter('session_events_total', 'session events produced'),
    deadLetters: counter('dead_letters_total', 'records that could not be read, sent to the dead-letter topic'),
    duplicates: counter('duplicates_total', 'frames dropped as already processed'),
    skipped: counter('skipped_total', 'missing frames given up on'),
    aborted: counter('aborted_total', 'transactions aborted (the batch is processed again)'),
    modelReloads: counter('model_reloads_total', 'new model versions taken'),
  };
  const counts = { batches: 0, frames: 0, windows: 0, sessionEvents: 0, deadLetters: 0, duplicates: 0, aborted: 0 };

  const engineOptions = {
    dsp,
    features,
    model,
    sequencer: { maxPending: config.sequencer.maxPending, maxSpanUs: config.sequencer.maxSpanMs * 1000 },
    sessions: {
      minSensors: config.sessions.minSensors,
      startAfterS: config.sessions.startAfterS,
      idleGapS: config.sessions.idleGapS,
      updateEveryS: config.sessions.updateEveryS,
      summaries: [...config.sessions.summaries],
      staleUs: config.sessions.staleMs * 1000,
      ...(config.sessions.activeClasses ? { activeClasses: [...config.sessions.activeClasses] } : {}),
    },
  };

  const workers = new Map<number, Worker>();

  /** Rebuilds partition p's engine from its changelog partition, after fencing any older owner. */
  async function restore(w: Worker): Promise<void> {
    await w.producer.connect();
    const nonce = randomBytes(8).toString('hex');
    const tx = await w.producer.transaction();
    await tx.send({ topic: topics.processorState, messages: [{ key: RESTORE_KEY, value: nonce, partition: w.partition }] });
    await tx.commit();
    const reader = kafka.consumer({ groupId: `${config.kafka.groupId}-restore-${w.partition}-${nonce}`, maxWaitTimeInMs: 100 });
    let sensors = 0;
    let groups = 0;
    await reader.connect();
    try {
      await reader.subscribe({ topic: topics.processorState, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        reader
          .run({
            eachBatch: async ({ batch }) => {
              if (batch.partition !== w.partition) return;
              for (const msg of batch.messages) {
                const key = msg.key?.toString() ?? '';
                if (key === RESTORE_KEY) {
                  if (msg.value?.toString() === nonce) resolve();
                  continue;
                }
                const sep = key.indexOf(':');
                const kind = key.slice(0, sep);
                const id = key.slice(sep + 1);
                if (!msg.value) continue;
                if (kind === 'sensor') {
                  w.engine.restoreSensor(id, JSON.parse(msg.value.toString()) as SensorSnapshot);
                  sensors++;
                } else if (kind === 'group') {
                  w.engine.restoreGroup(id, JSON.parse(msg.value.toString()) as GroupState);
                  groups++;
                }
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await reader.disconnect().catch(() => {});
      const admin = kafka.admin();
      await admin.connect().then(() => admin.deleteGroups([`${config.kafka.groupId}-restore-${w.partition}-${nonce}`])).catch(() => {});
      await admin.disconnect().catch(() => {});
    }
    log.info({ partition: w.partition, sensors, groups }, 'partition state restored from the changelog');
  }

  function takeOn(p: number): Worker {
    const producer = kafka.producer({ transactionalId: `${config.kafka.transactionalIdPrefix}-${p}`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: config.kafka.transactionTimeoutMs });
    const w: Worker = { partition: p, engine: new Engine({ ...engineOptions, model }), producer, ready: Promise.resolve() };
    w.ready = restore(w);
    w.ready.catch((err: unknown) => log.error({ partition: p, err: (err as Error).message }, 'restoring the partition failed'));
    workers.set(p, w);
    return w;
  }

  async function letGo(p: number): Promise<void> {
    const w = workers.get(p);
    workers.delete(p);
    if (w) await w.producer.disconnect().catch(() => {});
  }

  const decode = (msg: KafkaMessage, topic: string, partition: number): { frames: Frame[]; dead?: { code: string; message: string } } => {
    const v = msg.value;
    if (!v) return { frames: [], dead: { code: 'EW_PROTO_TRUNCATED', message: 'empty record' } };
    try {
      const u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return { frames: isBatch(u) ? decodeBatch(u, { maxFutureMs: Infinity, copy: true }) : [decodeFrame(u, { maxFutureMs: Infinity, copy: true })] };
    } catch (err) {
      if (!isEdgewaveError(err)) throw err;
      log.warn({ topic, partition, offset: msg.offset, code: err.code }, `dead letter: ${err.message}`);
      return { frames: [], dead: { code: err.code, message: err.message } };
    }
  };

  const consumer: Consumer = kafka.consumer({ groupId: config.kafka.groupId, partitionAssigners: [coPartitionedAssigner], readUncommitted: false, maxWaitTimeInMs: 100, sessionTimeout: config.kafka.sessionTimeoutMs, heartbeatInterval: Math.min(3000, config.kafka.sessionTimeoutMs / 5), rebalanceTimeout: 60_000 });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assignment = e.payload.memberAssignment as Record<string, number[]>;
    const mine = new Set(Object.values(assignment).flat());
    for (const p of [...workers.keys()]) if (!mine.has(p)) void letGo(p);
    for (const p of mine) if (!workers.has(p)) takeOn(p);
    log.info({ partitions: [...mine].sort((a, b) => a - b) }, 'partitions assigned');
  });

  async function eachBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    const p = batch.partition;
    const w = workers.get(p) ?? takeOn(p);
    await w.ready;
    if (!batch.messages.length || isStale()) return;
    if (w.engine.currentModel !== model) w.engine.setModel(model);
    const frames: Frame[] = [];
    const dead: Message[] = [];
    for (const msg of batch.messages) {
      const r = decode(msg, batch.topic, p);
      frames.push(...r.frames);
      if (r.dead) {
        dead.push({
          key: msg.key,
          value: msg.value,
          headers: { 'ew-reason': r.dead.code, 'ew-message': r.dead.message.slice(0, 1000), 'ew-topic': batch.topic, 'ew-partition': String(p), 'ew-offset': msg.offset, 'ew-received-at': new Date().toISOString() },
        });
      }
    }
    let tx;
    try {
      const out = await w.engine.process(frames);
      const classes = w.engine.currentModel?.info.classes;
      const inferences: Message[] = out.windows.map((x) => ({ key: x.group, value: JSON.stringify({ ...x, ...(x.label ? { classes } : {}) } satisfies InferenceRecord) }));
      const sessions: Message[] = out.sessions.map((ev) => ({ key: ev.session.group, value: JSON.stringify(ev satisfies SessionRecord) }));
      const state: Message[] = [
        ...out.changedSensors.map((id) => ({ key: `sensor:${id}`, value: JSON.stringify(w.engine.snapshotSensor(id)), partition: p })),
        ...out.changedGroups.map((g) => ({ key: `group:${g}`, value: JSON.stringify(w.engine.snapshotGroup(g)), partition: p })),
      ];
      tx = await w.producer.transaction();
      const topicMessages = [
        { topic: topics.inferences, messages: inferences },
        { topic: topics.sessions, messages: sessions },
        { topic: topics.processorState, messages: state },
        { topic: topics.deadletter, messages: dead },
      ].filter((t) => t.messages.length);
      if (topicMessages.length) await tx.sendBatch({ topicMessages, acks: -1 });
      await tx.sendOffsets({ consumerGroupId: config.kafka.groupId, topics: [{ topic: batch.topic, partitions: [{ partition: p, offset: String(Number(batch.lastOffset()) + 1) }] }] });
      await tx.commit();
      counts.batches++;
      counts.frames += frames.length;
      counts.windows += out.windows.length;
      counts.sessionEvents += out.sessions.length;
      counts.deadLetters += dead.length;
      counts.duplicates += out.duplicates;
      m.batches.inc();
      m.frames.inc(frames.length);
      m.windows.inc(out.windows.length);
      m.inferences.inc(out.windows.filter((x) => x.label).length);
      m.sessionEvents.inc(out.sessions.length);
      m.deadLetters.inc(dead.length);
      m.duplicates.inc(out.duplicates);
      m.skipped.inc(out.skipped);
      await heartbeat();
    } catch (err) {
      counts.aborted++;
      m.aborted.inc();
      log.warn({ partition: p, topic: batch.topic, err: (err as Error).message }, 'batch failed: its transaction is aborted, the partition state rebuilt, and the batch processed again');
      await tx?.abort().catch(() => {});
      // The engine saw this batch: throw it away and rebuild from what was committed.
      await letGo(p);
      takeOn(p);
      throw err;
    }
  }

  /** Takes a new model version when the source has one; engines switch at their next batch. */
  async function reloadModel(): Promise<boolean> {
    const version = await source.version();
    if (version === null || version === modelVersion) return false;
    const next = await source.read();
    let loaded: ActivityModel;
    try {
      loaded = await ActivityModel.load(next.bytes, { layout, backend: config.model.backend });
    } catch (err) {
      // A model that does not fit is refused; the one in use stays.
      log.error({ model: config.model.path, version: next.version, err: (err as Error).message }, 'the new model version was refused; keeping the current one');
      modelVersion = next.version;
      return false;
    }
    const old = model;
    const same = old.info.features === loaded.info.features && old.info.state === loaded.info.state && old.info.classes.join() === loaded.info.classes.join();
    model = loaded;
    modelVersion = next.version;
    m.modelReloads.inc();
    log.info({ model: config.model.path, version: next.version, classes: loaded.info.classes, sensorStateKept: same }, 'new model version loaded');
    // Batches already running finish with the old session.
    setTimeout(() => void old.close().catch(() => {}), 60_000).unref();
    return true;
  }
  let reloading = false;
  const reloadTimer = config.model.reloadS > 0
    ? setInterval(() => {
        if (reloading) return;
        reloading = true;
        reloadModel()
          .catch((err: unknown) => log.warn({ model: config.model.path, err: (err as Error).message }, 'checking the model for a new version failed'))
          .finally(() => (reloading = false));
      }, config.model.reloadS * 1000)
    : null;
  reloadTimer?.unref();

  // Sinks outside Kafka: each its own consumer group, idempotent writes, offsets after the writes.
  let mongo: MongoClient | null = null;
  let sessionSink: SessionSinkHandle | null = null;
  if (config.mongodb) {
    mongo = new MongoClient(config.mongodb.url, { serverSelectionTimeoutMS: 10_000 });
    await mongo.connect();
    const store = await SessionStore.open(mongo.db(config.mongodb.database), config.mongodb.collection);
    sessionSink = await startSessionSink({ kafka, groupId: config.mongodb.groupId ?? `${config.kafka.groupId}-sessions`, topic: topics.sessions, store, log });
  }
  let archiver: ArchiverHandle | null = null;
  if (config.archive) {
    archiver = await startArchiver({
      kafka,
      groupId: config.archive.groupId ?? `${config.kafka.groupId}-archive`,
      topics: { raw: topics.raw, features: topics.features },
      s3: s3Client(),
      location: parseS3Url(config.archive.url),
      flushBytes: config.archive.flushBytes,
      flushMs: config.archive.flushS * 1000,
      featureNames: (id, width) => {
        const names = namesByLayout.get(id);
        return names?.length === width ? names : undefined;
      },
      log,
    });
  }

  await consumer.connect();
  await consumer.subscribe({ topics: [topics.raw, topics.features], fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch });

  const { server, url: httpUrl } = await listenStatus(config.http.host, config.http.port, async (path) => {
    if (path === '/health') return json(200, { status: 'ok' });
    if (path === '/ready') return json(200, { status: 'ready', partitions: [...workers.keys()].sort((a, b) => a - b) });
    if (path === '/metrics') return { status: 200, type: registry.contentType, body: await registry.metrics() };
    return { status: 404, type: 'text/plain', body: 'not found' };
  }, (err) => err);

  let stopped: Promise<void> | undefined;
  return {
    httpUrl,
    get model() {
      return model;
    },
    reloadModel,
    archiver,
    sessionSink,
    partitions: () => [...workers.keys()].sort((a, b) => a - b),
    stats: () => ({ ...counts }),
    stop() {
      return (stopped ??= (async () => {
        if (reloadTimer) clearInterval(reloadTimer);
        await consumer.disconnect().catch(() => {});
        for (const p of [...workers.keys()]) await letGo(p);
        await sessionSink?.stop();
        await archiver?.stop();
        await mongo?.close().catch(() => {});
        await model.close();
        await new Promise((r) => server.close(r));
        log.info(counts, 'processor stopped');
      })());
    },
  };
}
