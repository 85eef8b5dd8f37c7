// The stream processor: a kafkajs consumer group over the raw and feature topics, with exactly-once
// results. Partitions are assigned co-partitioned (a group's raw and feature frames, keyed by group,
// share a partition number), and each partition number held by this process has its own engine
// (engine.ts) and its own two transactional producers (`<prefix>-<partition>` and
// `<prefix>-<partition>.b`, so a new owner fences an old one). The batches fetched within the
// commit interval are processed, and their outputs (inferences, session events, dead letters), the
// state they changed (to the compacted processor-state topic, same partition number) and the
// consumer offsets after them go to Kafka in one transaction. Consumers reading with read_committed
// see each result once, whatever dies when. A transaction commits in the background while the next
// one, on the other producer, takes batches; commits stay in order, and a failed one aborts the
// transaction after it as well.
//
// When a partition is taken on, its state is rebuilt from the changelog before its first batch: the
// new owner fences both transactional ids, commits a marker record to its changelog partition, then
// reads the changelog from the start up to that marker, the newest value per key winning. A failed
// batch or commit aborts the open transactions and drops the partition's engine, which is rebuilt
// the same way before the batches are fetched again.

import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer, Transaction } from 'kafkajs';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { featureLayout, loadDsp, parseFeatureConfig, presetSettings, type DspModule, type FeatureLayout } from '../../dsp/src/index.js';
import { createLogger, decodeRecord, isEdgewaveError, isTick, tickIntervalMs, type Frame, type Logger } from '../../protocol/index.js';
import { json, listenStatus } from '../../protocol/node-support.js';
import { MongoClient } from 'mongodb';
import { superviseConsumer } from '../common/consumer-supervisor.js';
import { closeReader, consumerTimeouts, createKafka, deadLetterValue, onePartitionAssigner, readRange, requireTopics, untilRead } from '../common/kafka.js';
import { openObjects } from '../common/objects.js';
import { createS3 } from '../common/s3.js';
import { ActivityModel } from '../model/model.js';
import { ModelSource } from '../model/source.js';
import { startArchiver, type ArchiverHandle, type NotArchived } from '../store/archiver.js';
import { archiverOptionsFor, startArchiverApart } from '../store/archiver-apart.js';
import { startSessionSink, type SessionSinkHandle } from '../store/session-sink.js';
import { SessionStore, type SessionRepository } from '../store/sessions-store.js';
import { coPartitionedAssigner } from './assigner.js';
import { consumerGroups, type ProcessorConfig } from './config.js';
import { Engine, type EngineOptions, type EngineOutput, type GroupSnapshot, type SensorSnapshot, type SourcedFrame } from './engine.js';
import { INFERENCE_RECORD_BYTES, inferenceMessages, sessionMessages } from './records.js';

export type { InferenceRecord, SessionRecord } from './records.js';

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
  /** What committed transactions carried (and how many were aborted). */
  stats(): Counts;
  stop(): Promise<void>;
}

const RESTORE_KEY = '__restore';
/** A partition's changelog is read to its end within this long, or its restore fails (and is tried again). */
const RESTORE_TIMEOUT_MS = 60_000;
/**
 * At the stop of a processor on the in-process log, which goes with it: the processor, then its
 * session sink, then its archive read what the log holds within this long each.
 */
const LOG_DRAIN_MS = 30_000;
/**
 * Pending raw samples are saved in the changelog as the input offsets they came from, and read
 * again on restore; a sensor whose samples go back more than this many records of its partition
 * is saved with its samples instead, so a restore reads at most about this far back.
 */
const REFILL_MAX_RECORDS = 2000;

/** A restore that is no longer wanted: its partition was handed over, failed again, or the processor stops. */
class HandedOver extends Error {
  constructor() {
    super('the partition is no longer this worker\'s');
  }
}

/** Produce requests are kept below this size, or kafka.maxRecordBytes − 4 KiB when that is less (brokers refuse record batches above their topic's max.message.bytes). */
const CHUNK_BYTES = 512 * 1024;
/**
 * The transactional producers' retries start short: the first send of a transaction right after a
 * commit is often refused with CONCURRENT_TRANSACTIONS while the coordinator still writes the
 * commit's markers, for a few milliseconds. Starting at the client's 200 ms, that wait was the
 * largest single delay of a window (p99 of a whole transaction 368 ms against 41 ms, loopback).
 * With the coordinators kept (coordinator-cache.ts) the next transaction's first request comes
 * sooner after a commit, and is refused more often (1.6 AddPartitionsToTxn per transaction against
 * 1.2): a first retry after 20 ms then doubled the median transaction; after 2 ms it is shorter
 * than without (`npm run bench:kafka-tx`). The span over which they keep trying stays about 90 s.
 */
const TX_RETRY = { initialRetryTime: 2, maxRetryTime: 5000, retries: 28 };
/** Milliseconds from a to b, to a tenth, for the debug timings. */
const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;

interface Counts {
  batches: number;
  frames: number;
  windows: number;
  inferences: number;
  sessionEvents: number;
  deadLetters: number;
  duplicates: number;
  skipped: number;
  featuresSent: number;
  ticks: number;
  aborted: number;
}
const zeroCounts = (): Counts => ({ batches: 0, frames: 0, windows: 0, inferences: 0, sessionEvents: 0, deadLetters: 0, duplicates: 0, skipped: 0, featuresSent: 0, ticks: 0, aborted: 0 });

/** A transaction of one partition: the batches processed since the one before it was sealed. */
interface Txn {
  tx: Transaction;
  since: number;
  /**
   * Its sends, one after another in batch order (after the previous transaction's): a batch's
   * outputs go out while the next batch is processed, and the commit waits for them. It always
   * resolves; a send that failed leaves its error in `sendError`, the sends after it are not made,
   * and the commit fails.
   */
  sending: Promise<void>;
  sendError: unknown;
  /** Per input topic: the offset its first batch began at (where an abort goes back to) ... */
  start: Map<string, string>;
  /** ... and the offset after its last batch (what its commit stores). */
  next: Map<string, string>;
  counts: Counts;
}

interface Worker {
  partition: number;
  engine: Engine;
  /**
   * Two transactional producers, used in turn: while one commits a sealed transaction, the other's
   * transaction takes the next batches, so a commit's round trips do not hold the partition up.
   */
  producers: [Producer, Producer];
  /** The producer the next transaction uses. */
  turn: 0 | 1;
  ready: Promise<void>;
  /** The partition's work, one piece at a time. */
  chain: Promise<void>;
  /** The open transaction, taking batches. */
  open: Txn | null;
  /**
   * The transaction sealed last, until its commit succeeds: its state records, offsets and commit
   * are on their way (`done`). Commits go in order: a transaction is sealed only once the one
   * before it committed, and a failed commit aborts the open transaction too.
   */
  sealed: { txn: Txn; done: Promise<void> } | null;
  /** Sensors and groups whose state the open transaction changed. */
  dirtySensors: Set<string>;
  dirtyGroups: Set<string>;
  /** Failures in a row, for the pause before trying again. */
  failures: number;
  /** Set when this worker failed: the input topics its failure sent the consumer back on. */
  rewound?: Set<string>;
  /** The raw topic offset after the last batch processed (null before the first). */
  rawNext: number | null;
  /** The partition's input time, for the sessions of silent groups (`quietTime`); null until restored. */
  input: InputTime | null;
  /** The silence of `input` as last written to the changelog (`savedSilence`), or as restored. */
  silenceSaved: string;
}

/**
 * How far a partition's input has been read, in the time of the records' Kafka timestamps (the
 * bridge's clock), and how much of it has gone by with no frame: the bridges' ticks go into every
 * partition of the input topics while the input flows, so this time goes on in a partition no
 * gateway sends into, and stops when the broker, the bridges or Kafka are away.
 */
interface InputTime {
  /** The newest record timestamp read in each input topic of the partition (ms). */
  read: Map<string, number>;
  /** The oldest of them, once every input topic of the partition has been read (null before). */
  upTo: number | null;
  /** Input time gone by since the last batch with frames (ms), each step counted up to MAX_STEP_TICKS ticks' intervals. */
  quietMs: number;
  /** The partition's event time after its last batch with frames (µs). */
  from: number;
  /** The newest timestamp of a record with frames (ms): input time up to it is no silence, whichever topic is read first. */
  framesAt: number;
  /** The bridges' tick interval, as their ticks state it (ms). */
  tickMs: number;
}

/** What of a partition's input time the changelog keeps (`input:<partition>`), while it is quiet. */
interface SavedSilence {
  quietMs: number;
  from: number;
  framesAt: number | null;
  upTo: number | null;
  tickMs: number;
}

/** The `input:<partition>` record's value for a silence under way. */
function savedSilence(input: InputTime): string {
  return JSON.stringify({ quietMs: input.quietMs, from: input.from, framesAt: Number.isFinite(input.framesAt) ? input.framesAt : null, upTo: input.upTo, tickMs: input.tickMs } satisfies SavedSilence);
}
const NO_SILENCE = '{"quietMs":0}';

/**
 * A step of input time longer than this many tick intervals is a gap in the ticks (the bridges,
 * the broker or Kafka away, or the processor's own consumer stalled): only this much of it counts.
 */
const MAX_STEP_TICKS = 2.5;

/** The engine settings of a processor config (the live processor's and a replay's). */
export function engineOptionsFor(config: ProcessorConfig, dsp: DspModule, model: ActivityModel | null): EngineOptions {
  return {
    dsp,
    features: presetSettings(config.features.preset),
    model,
    sequencer: { maxPending: config.sequencer.maxPending, maxSpanUs: config.sequencer.maxSpanMs * 1000 },
    sessions: {
      minSensors: config.sessions.minSensors,
      startAfterS: config.sessions.startAfterS,
      idleGapS: config.sessions.idleGapS,
      updateEveryS: config.sessions.updateEveryS,
      summaries: [...config.sessions.summaries],
      staleUs: config.sessions.staleMs * 1000,
      ...(config.sessions.silentGraceS === null ? {} : { silentGraceS: config.sessions.silentGraceS }),
      ...(config.sessions.activeClasses ? { activeClasses: [...config.sessions.activeClasses] } : {}),
    },
  };
}

/** The layout the model is fed: the preset at 200 Hz (raw frames at other rates get features, not classes). */
export function modelLayout(config: ProcessorConfig): FeatureLayout {
  return featureLayout(parseFeatureConfig({ ...presetSettings(config.features.preset), sampleRate: 200 }));
}

export interface ProcessorOptions {
  /** Called when a Kafka consumer stops for good (not by a Kafka outage, which it rides out); the CLI exits so its supervisor restarts it. */
  onFatal?: (err: Error) => void;
  /** The log client, instead of one made from `config.kafka` (the embedded mode passes its in-process log). */
  kafka?: Kafka;
  /** Where the session sink writes, instead of `config.mongodb` (the embedded mode passes its file store). */
  sessions?: SessionRepository;
  /**
   * The log goes with this process (the embedded mode's in-process log): at a clean stop the
   * archive first writes everything the log holds, since no restart reads it again.
   */
  logGoesAtStop?: boolean;
}

export async function startProcessor(config: ProcessorConfig, log: Logger = createLogger('processor', { level: config.logLevel }), options: ProcessorOptions = {}): Promise<ProcessorHandle> {
  const dsp: DspModule = await loadDsp();
  let s3: S3Client | undefined;
  const s3Client = () => (s3 ??= createS3(config.s3));
  const layout = modelLayout(config);
  const source = ModelSource.of(config.model.path, s3Client);
  const first = await source.read();
  let model = await ActivityModel.load(first.bytes, { layout, backend: config.model.backend });
  let modelVersion = first.version;
  log.info({ model: config.model.path, backend: model.backend, layout: `0x${layout.id.toString(16)}`, classes: model.info.classes }, 'model loaded');

  const topics = config.kafka.topics;
  // The most bytes of records a record or a request may hold: the topics' limit, less room for
  // headers and the record batch's own. A session event over it goes in parts (records.ts).
  const recordBytes = config.kafka.maxRecordBytes - 4096;
  const inferenceBytes = Math.min(INFERENCE_RECORD_BYTES, recordBytes);
  const chunkBytes = Math.min(CHUNK_BYTES, recordBytes);
  const kafka = options.kafka ?? createKafka(config.kafka, log, { initialRetryTime: 200, maxRetryTime: 5000, retries: 20 });
  if (!options.kafka) await requireTopics(kafka, Object.values(topics));

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
    ticks: counter('ticks_total', 'tick records of the bridges read (they say a partition\'s input flows when no gateway sends into it)'),
    featuresSent: counter('raw_frames_uncut_total', 'raw frames not cut into windows because the edge sends their windows as feature frames (mode both); they are archived'),
    aborted: counter('aborted_total', 'transactions aborted (the batch is processed again)'),
    commits: counter('commits_total', 'transactions committed'),
    modelReloads: counter('model_reloads_total', 'new model versions taken'),
    recoveries: new Counter({ name: 'edgewave_processor_kafka_recoveries_total', help: 'times a consumer (processor, sessions, archive) was joined to its group again after a Kafka outage kafkajs gave up on', labelNames: ['consumer'], registers: [registry] }),
  };
  // Shown at 0 from the start for each consumer this process runs.
  const recovering = (consumer: 'processor' | 'sessions' | 'archive') => {
    m.recoveries.inc({ consumer }, 0);
    return () => m.recoveries.inc({ consumer });
  };
  const counts = zeroCounts();

  const engineOptions = engineOptionsFor(config, dsp, model);

  /**
   * The partitions this process works on: a worker per partition the group assigned to it, and
   * only those. A partition handed over or failed has its worker removed at once, so work still in
   * flight for it can tell that it is no longer the partition's owner.
   */
  const workers = new Map<number, Worker>();
  /** The partitions of the last assignment. */
  let assigned = new Set<number>();
  /** The input topics of each assigned partition (a topic with fewer partitions has no partition p). */
  let inputTopics = new Map<number, string[]>();
  let stopping = false;
  /** Per input topic and partition, the offset after the last batch processed (what a stop on the in-process log waits for). */
  const processedTo = new Map<string, bigint>();

  /**
   * Rebuilds partition p's engine from its changelog partition, after fencing any older owner,
   * once `delayMs` has passed; gives up (with `HandedOver`) when the partition is no longer this
   * worker's by then.
   */
  async function restore(w: Worker, delayMs: number): Promise<void> {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (workers.get(w.partition) !== w) throw new HandedOver();
    const began = performance.now();
    const [first, second] = w.producers;
    await Promise.all([first.connect(), second.connect()]);
    // Both transactional ids fenced before the changelog is read: an older owner's open
    // transactions are aborted, and read_committed reads reach the marker below.
    const fence = await second.transaction();
    await fence.abort();
    const nonce = randomBytes(8).toString('hex');
    const tx = await first.transaction();
    await tx.send({ topic: topics.processorState, messages: [{ key: RESTORE_KEY, value: nonce, partition: w.partition }] });
    await tx.commit();
    const reader = kafka.consumer({ groupId: `${config.kafka.groupId}-restore-${w.partition}-${nonce}`, partitionAssigners: [onePartitionAssigner(w.partition)], maxWaitTimeInMs: 100 });
    let sensors = 0;
    let groups = 0;
    await reader.connect();
    try {
      await reader.subscribe({ topic: topics.processorState, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the changelog partition ${topics.processorState}[${w.partition}] was not read to its end within ${RESTORE_TIMEOUT_MS / 1000} s`)), RESTORE_TIMEOUT_MS);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        reader
          // A one-off group: nothing to resume, so no commit after each batch in the way of the next.
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              if (batch.partition !== w.partition) return; // never, with its assigner
              for (const msg of batch.messages) {
                const key = msg.key?.toString() ?? '';
                if (key === RESTORE_KEY) {
                  if (msg.value?.toString() === nonce) done();
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
                  w.engine.restoreGroup(id, JSON.parse(msg.value.toString()) as GroupSnapshot);
                  groups++;
                } else if (kind === 'input') {
                  w.silenceSaved = msg.value.toString();
                }
              }
            },
          })
          .catch((err: unknown) => {
            clearTimeout(timer);
            reject(err as Error);
          });
      });
    } finally {
      await closeReader(kafka, reader, `${config.kafka.groupId}-restore-${w.partition}-${nonce}`);
    }
    w.engine.finishRestore();
    const refilled = await refill(w, nonce);
    log.info({ partition: w.partition, sensors, groups, refilled, ms: Math.round(performance.now() - began) }, 'partition state restored from the changelog');
  }

  /**
   * Reads again, from the raw topic, the samples restored sensors were holding for their next
   * window: the partition's records from the lowest offset the changelog names up to the offset
   * committed with it. Returns how many records it read.
   */
  async function refill(w: Worker, nonce: string): Promise<number> {
    const from = w.engine.refillFrom();
    if (from === null) return 0;
    const p = w.partition;
    const admin = kafka.admin();
    let upTo: number;
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId: config.kafka.groupId, topics: [topics.raw] });
      upTo = Number(offsets.find((t) => t.topic === topics.raw)?.partitions.find((x) => x.partition === p)?.offset ?? -1);
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (!(upTo > from)) throw new Error(`the changelog of ${topics.raw}[${p}] names samples from offset ${from}, but the committed offset is ${upTo}`);
    const frames: SourcedFrame[] = [];
    const records = await readRange(kafka, {
      groupId: `${config.kafka.groupId}-refill-${p}-${nonce}`, topic: topics.raw, partition: p, from, upTo, timeoutMs: RESTORE_TIMEOUT_MS,
      onRecord: (msg, offset) => {
        for (const f of decode(msg, topics.raw, p).frames) frames.push(Object.assign(f, { offset }));
      },
    });
    w.engine.refill(frames);
    return records;
  }

  /** A worker for partition p, its state restored from the changelog after `delayMs`. */
  function takeOn(p: number, delayMs = 0): Worker {
    const existing = workers.get(p);
    if (existing) return existing;
    const producer = (transactionalId: string) => kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: config.kafka.transactionTimeoutMs, retry: TX_RETRY });
    const id = `${config.kafka.transactionalIdPrefix}-${p}`;
    const w: Worker = {
      partition: p, engine: new Engine({ ...engineOptions, model }), producers: [producer(id), producer(`${id}.b`)], turn: 0, ready: Promise.resolve(), chain: Promise.resolve(),
      open: null, sealed: null, dirtySensors: new Set(), dirtyGroups: new Set(), failures: 0, rawNext: null, input: null, silenceSaved: NO_SILENCE,
    };
    workers.set(p, w);
    w.ready = restore(w, delayMs);
    w.ready.then(() => {
      // A silence under way goes on from where the changelog has it; the ticks since are read again.
      let saved: Partial<SavedSilence> = {};
      try {
        saved = JSON.parse(w.silenceSaved) as Partial<SavedSilence>;
      } catch {
        log.warn({ partition: p, value: w.silenceSaved.slice(0, 200) }, 'the changelog\'s input record is not JSON; the silence is counted afresh');
      }
      w.input ??= typeof saved.quietMs === 'number' && saved.quietMs > 0 && typeof saved.from === 'number'
        ? { read: new Map(), upTo: saved.upTo ?? null, quietMs: saved.quietMs, from: saved.from, framesAt: saved.framesAt ?? -Infinity, tickMs: saved.tickMs ?? 1000 }
        : { read: new Map(), upTo: null, quietMs: 0, from: w.engine.eventTime, framesAt: -Infinity, tickMs: 1000 };
    }, () => {});
    w.ready.catch((err: unknown) => {
      if (!(err instanceof HandedOver)) log.error({ partition: p, err: (err as Error).message }, 'restoring the partition failed');
    });
    return w;
  }

  /** Runs the work on one partition in order: batches, timed commits and hand-overs never interleave. */
  function serial<T>(w: Worker, fn: () => Promise<T>): Promise<T> {
    const next = w.chain.then(fn);
    w.chain = next.then(() => {}, () => {});
    return next;
  }

  async function letGo(p: number): Promise<void> {
    const w = workers.get(p);
    if (!w) return;
    workers.delete(p);
    await serial(w, async () => {
      // A restore under way finishes (or sees it is no longer wanted) before its producer goes.
      await w.ready.catch(() => {});
      // What was not committed is the next owner's to process again; a commit under way ends as it ends.
      const open = w.open;
      w.open = null;
      if (open) {
        await open.sending;
        await open.tx.abort().catch(() => {});
      }
      await w.sealed?.done.catch(() => {});
      w.sealed = null;
      await disconnect(w);
    });
  }

  const decode = (msg: KafkaMessage, topic: string, partition: number): { frames: Frame[]; dead?: { code: string; message: string } } => {
    const v = msg.value;
    if (isTick(msg.headers)) return { frames: [] };
    if (!v) return { frames: [], dead: { code: 'EW_PROTO_TRUNCATED', message: 'empty record' } };
    try {
      const u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return { frames: decodeRecord(u, { maxFutureMs: Infinity, copy: true }) };
    } catch (err) {
      if (!isEdgewaveError(err)) throw err;
      log.warn({ topic, partition, offset: msg.offset, code: err.code }, `dead letter: ${err.message}`);
      return { frames: [], dead: { code: err.code, message: err.message } };
    }
  };

  /**
   * Sends messages in produce requests of at most about `chunkBytes` each: kafkajs makes one record
   * batch per partition per request, and the broker refuses batches above its message size limit
   * (a message larger than that goes alone; none is larger than kafka.maxRecordBytes − 4 KiB).
   */
  async function sendChunked(tx: Transaction, topicMessages: { topic: string; messages: Message[] }[]): Promise<void> {
    let chunk: { topic: string; messages: Message[] }[] = [];
    let bytes = 0;
    const flush = async () => {
      if (chunk.length) await tx.sendBatch({ topicMessages: chunk, acks: -1 });
      chunk = [];
      bytes = 0;
    };
    for (const { topic, messages } of topicMessages) {
      for (const msg of messages) {
        const size = (msg.value?.length ?? 0) + (typeof msg.key === 'string' ? msg.key.length : (msg.key?.length ?? 0)) + 64;
        if (bytes + size > chunkBytes) await flush();
        let last = chunk.at(-1);
        if (last?.topic !== topic) chunk.push((last = { topic, messages: [] }));
        last.messages.push(msg);
        bytes += size;
      }
    }
    await flush();
  }

  /** Disconnects the worker's producers. */
  async function disconnect(w: Worker): Promise<void> {
    await Promise.all(w.producers.map((x) => x.disconnect().catch(() => {})));
  }

  /**
   * The partition's open transaction, begun on the producer whose turn it is when there is none.
   * Its sends follow the sealed transaction's, so outputs keep the order of the batches.
   */
  async function openTx(w: Worker): Promise<Txn> {
    if (w.open) return w.open;
    const tx = await w.producers[w.turn].transaction();
    w.open = { tx, since: Date.now(), sending: w.sealed?.txn.sending ?? Promise.resolve(), sendError: undefined, start: new Map(), next: new Map(), counts: zeroCounts() };
    return w.open;
  }

  /**
   * Seals the partition's open transaction: the state it changed is written out as records now, and
   * its commit (state records, the offsets after its batches, then the commit) goes on while the
   * next transaction, on the other producer, takes batches. Waits first for the commit before it,
   * and throws when that one failed.
   */
  async function seal(w: Worker): Promise<void> {
    if (w.sealed) await w.sealed.done;
    const t = w.open;
    if (!t) return;
    const p = w.partition;
    const s0 = performance.now();
    if (w.rawNext !== null) for (const id of w.engine.pinPendingBefore(w.rawNext - REFILL_MAX_RECORDS)) w.dirtySensors.add(id);
    const state: Message[] = [
      ...[...w.dirtySensors].map((id) => ({ key: `sensor:${id}`, value: JSON.stringify(w.engine.snapshotSensor(id)), partition: p })),
      ...[...w.dirtyGroups].flatMap((g) => {
        const snap = w.engine.snapshotGroup(g);
        return snap ? [{ key: `group:${g}`, value: JSON.stringify(snap), partition: p }] : [];
      }),
    ];
    // A silence's count, while there is one and a session waits on it (and once more when it ends):
    // a restart goes on counting from here. One small record a transaction at most, none while the
    // newest record read is a frame's.
    const silence = w.input && w.input.quietMs > 0 && w.engine.nextSilentDeadline() < Infinity ? savedSilence(w.input) : NO_SILENCE;
    if (silence !== w.silenceSaved) {
      state.push({ key: `input:${p}`, value: silence, partition: p });
      w.silenceSaved = silence;
    }
    w.dirtySensors.clear();
    w.dirtyGroups.clear();
    if (log.isLevelEnabled('debug')) log.debug({ partition: p, stateRecords: state.length, snapshotMs: ms(s0, performance.now()) }, 'transaction sealed');
    w.open = null;
    w.turn = w.turn === 0 ? 1 : 0;
    const done = finish(w, t, state);
    const sealed = { txn: t, done };
    w.sealed = sealed;
    done.then(
      () => {
        if (w.sealed === sealed) w.sealed = null;
      },
      (err: unknown) => {
        // Failed while nothing waited on it: the partition fails now rather than at its next batch.
        void serial(w, async () => {
          if (w.sealed === sealed && workers.get(p) === w) await fail(w, err, 'commit');
        });
      },
    );
  }

  /** Commits a sealed transaction: the state it changed, the offsets after its batches, its outputs. */
  async function finish(w: Worker, t: Txn, state: Message[]): Promise<void> {
    const p = w.partition;
    await t.sending;
    if (t.sendError !== undefined) throw t.sendError;
    const c0 = performance.now();
    await sendChunked(t.tx, [{ topic: topics.processorState, messages: state }]);
    const c1 = performance.now();
    // Every transaction carries a batch's offsets; one without any would have none to move.
    if (t.next.size) await t.tx.sendOffsets({ consumerGroupId: config.kafka.groupId, topics: [...t.next].map(([topic, offset]) => ({ topic, partitions: [{ partition: p, offset }] })) });
    const c2 = performance.now();
    await t.tx.commit();
    if (log.isLevelEnabled('debug')) {
      log.debug({ partition: p, start: Object.fromEntries(t.start), next: Object.fromEntries(t.next), stateRecords: state.length, stateMs: ms(c0, c1), offsetsMs: ms(c1, c2), endMs: ms(c2, performance.now()) }, 'transaction committed');
    }
    const c = t.counts;
    for (const k of Object.keys(counts) as (keyof Counts)[]) counts[k] += c[k];
    m.batches.inc(c.batches);
    m.frames.inc(c.frames);
    m.windows.inc(c.windows);
    m.inferences.inc(c.inferences);
    m.sessionEvents.inc(c.sessionEvents);
    m.deadLetters.inc(c.deadLetters);
    m.duplicates.inc(c.duplicates);
    m.skipped.inc(c.skipped);
    m.featuresSent.inc(c.featuresSent);
    m.ticks.inc(c.ticks);
    m.commits.inc();
    w.failures = 0;
  }

  /** Seals the open transaction and waits for its commit (at stop). */
  async function commit(w: Worker): Promise<void> {
    await seal(w);
    await w.sealed?.done;
  }

  /**
   * A batch or a commit failed: the transactions not committed are aborted, the consumer goes back
   * to where the first of them began, and the partition's state is rebuilt from the changelog,
   * after a pause that grows with repeated failures.
   */
  async function fail(w: Worker, err: unknown, topic: string, batchStart?: string): Promise<void> {
    const p = w.partition;
    const { open, sealed } = w;
    w.open = null;
    w.sealed = null;
    // A commit under way ends first: what it commits is not processed again.
    const sealedFailed = sealed ? await sealed.done.then(() => false, () => true) : false;
    if (sealed && sealedFailed) await sealed.txn.tx.abort().catch(() => {});
    if (open) {
      await open.sending;
      await open.tx.abort().catch(() => {});
    }
    if (workers.get(p) !== w) {
      // Handed over (or stopping) while this ran, and maybe fenced by the new owner: the batches
      // of these transactions are the next owner's to process; taking the partition back here would
      // fence that owner in turn.
      log.info({ partition: p, err: (err as Error).message }, 'a transaction of a partition handed over did not complete; its next owner processes those batches');
      await disconnect(w);
      return;
    }
    counts.aborted++;
    m.aborted.inc();
    const start = new Map(sealed && sealedFailed ? sealed.txn.start : []);
    for (const [t, offset] of open?.start ?? []) if (!start.has(t)) start.set(t, offset);
    if (batchStart !== undefined && !start.has(topic)) start.set(topic, batchStart);
    log.warn({ partition: p, topic, err: (err as Error).message, from: Object.fromEntries(start) }, 'transaction failed: it is aborted, the partition state rebuilt from the changelog, and its batches processed again');
    for (const [t, offset] of start) {
      try {
        consumer.seek({ topic: t, partition: p, offset });
      } catch {
        // The consumer is not running (Kafka away): it starts again from the committed offsets, where this transaction began.
      }
    }
    w.rewound = new Set(start.keys());
    const failures = w.failures + 1;
    workers.delete(p);
    await disconnect(w);
    // The fresh worker is in place at once (batches wait for it), and restores after the pause.
    if (!stopping && assigned.has(p)) takeOn(p, Math.min(5000, 100 * 2 ** Math.min(failures, 6))).failures = failures;
  }

  const consumer: Consumer = kafka.consumer({ groupId: config.kafka.groupId, partitionAssigners: [coPartitionedAssigner], readUncommitted: false, maxWaitTimeInMs: 100, ...consumerTimeouts(config.kafka.sessionTimeoutMs), rebalanceTimeout: 60_000 });
  const runConsumer = () => consumer.run({ autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: config.kafka.partitionsConcurrently, eachBatch });
  // Kafka away while the group is joined again: the consumer is run again once it is back (the
  // workers keep their state; batches fetched again from the committed offsets are dropped as duplicates).
  const supervisor = superviseConsumer(consumer, { name: 'processor', log, run: runConsumer, onFatal: options.onFatal, onRecovering: recovering('processor') });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assignment = e.payload.memberAssignment as Record<string, number[]>;
    const mine = new Set(Object.values(assignment).flat());
    assigned = mine;
    inputTopics = new Map();
    for (const [topic, ps] of Object.entries(assignment)) for (const p of ps) inputTopics.set(p, [...(inputTopics.get(p) ?? []), topic]);
    for (const p of [...workers.keys()]) if (!mine.has(p)) void letGo(p);
    if (!stopping) for (const p of mine) takeOn(p);
    log.info({ partitions: [...mine].sort((a, b) => a - b) }, 'partitions assigned');
  });

  /**
   * A batch that waited for worker `w` finds it gone. Handed over: the batch is the next owner's
   * (kafkajs fetches from the committed offsets after a rebalance). Failed: the failure sent the
   * consumer back to where its open transaction began, at or before this batch, on the topics that
   * transaction read; on another topic, this batch is fetched again for the fresh worker.
   */
  function refetch(w: Worker, topic: string, p: number, offset: string): void {
    if (w.rewound && !w.rewound.has(topic) && workers.has(p) && !stopping) {
      w.rewound.add(topic);
      consumer.seek({ topic, partition: p, offset });
    }
  }

  /**
   * A partition that receives no frames has no window to end the sessions of its silent groups with
   * (`sessions.silentGraceS`). Its input time still goes on while the bridges' ticks come in
   * (`InputTime`): once it has gone as far past the partition's last frames as a window would have
   * to, the sessions then due are ended as that window would have ended them (the same event, at
   * their last active moment). Called for every batch, after its frames, with the timestamps of its
   * records in order (a batch may hold many ticks: each is a step); returns what it ended.
   */
  function quietTime(w: Worker, topic: string, stamps: readonly number[], framesAt: number): EngineOutput | null {
    const input = w.input;
    if (!input) return null;
    const hadFrames = framesAt > -Infinity;
    if (hadFrames) {
      input.quietMs = 0;
      input.from = w.engine.eventTime;
      if (framesAt > input.framesAt) input.framesAt = framesAt;
    }
    const topicsOfP = inputTopics.get(w.partition) ?? [topic];
    const cap = MAX_STEP_TICKS * input.tickMs;
    // With frames, only the newest counts (the silence starts after them).
    for (let i = hadFrames ? stamps.length - 1 : 0; i < stamps.length; i++) {
      const ts = stamps[i]!;
      if (!Number.isFinite(ts) || ts <= (input.read.get(topic) ?? -Infinity)) continue;
      input.read.set(topic, ts);
      let upTo = Infinity;
      for (const t of topicsOfP) upTo = Math.min(upTo, input.read.get(t) ?? -Infinity);
      if (upTo === -Infinity) continue;
      // Only input time past the newest frames is silence: one topic read behind the other (a
      // backlog after a restart) steps through time the other topic's frames already covered.
      const since = input.upTo === null ? null : Math.max(input.upTo, input.framesAt);
      if (since !== null && upTo > since && !hadFrames) input.quietMs += Math.min(upTo - since, cap);
      if (input.upTo === null || upTo > input.upTo) input.upTo = upTo;
    }
    if (config.sessions.silentGraceS === null || hadFrames || input.quietMs <= 0) return null;
    const at = input.from + input.quietMs * 1000;
    if (at < w.engine.nextSilentDeadline()) return null;
    const ended = w.engine.advanceTo(at);
    if (ended.sessions.length) {
      log.info({ partition: w.partition, sessions: ended.sessions.map((e) => e.session.sessionId), quietS: Math.round(input.quietMs / 1000), quietMs: input.quietMs, from: input.from, upTo: input.upTo, ends: ended.sessions.map((e) => e.session.end) }, 'sessions of groups that sent nothing more ended: the partition received no frames while its input went on');
    }
    return ended;
  }

  async function eachBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    const p = batch.partition;
    if (!batch.messages.length || isStale() || stopping) return;
    const called = performance.now();
    const w = workers.get(p) ?? takeOn(p);
    try {
      await w.ready;
    } catch (err) {
      await serial(w, async () => {
        if (workers.get(p) === w) await fail(w, err, batch.topic, batch.firstOffset()!);
        else refetch(w, batch.topic, p, batch.firstOffset()!);
      });
      return;
    }
    await serial(w, async () => {
      if (workers.get(p) !== w) {
        refetch(w, batch.topic, p, batch.firstOffset()!);
        return;
      }
      if (w.engine.currentModel !== model) w.engine.setModel(model);
      // Where a batch's time goes, at debug level: how old its records are, then each step.
      const T = log.isLevelEnabled('debug') ? { queuedMs: ms(called, performance.now()), at: performance.now(), ageMs: Date.now() - Number(batch.messages[0]!.timestamp), processed: 0, sent: 0, windows: 0 } : null;
      const frames: Frame[] = [];
      const dead: Message[] = [];
      let ticks = 0;
      const stamps: number[] = [];
      let framesAt = -Infinity;
      for (const msg of batch.messages) {
        const ts = Number(msg.timestamp);
        stamps.push(ts);
        if (isTick(msg.headers)) {
          ticks++;
          const every = tickIntervalMs(msg.headers);
          if (w.input && every > 0) w.input.tickMs = every;
          continue;
        }
        const r = decode(msg, batch.topic, p);
        if (r.frames.length && ts > framesAt) framesAt = ts;
        // Raw frames carry their offset: a sensor's pending samples are then saved as where they came from.
        if (batch.topic === topics.raw) {
          const offset = Number(msg.offset);
          for (const f of r.frames) frames.push(Object.assign(f, { offset }));
        } else for (const f of r.frames) frames.push(f);
        if (r.dead) {
          dead.push({
            key: msg.key,
            value: msg.value && deadLetterValue(msg.value, config.kafka.maxRecordBytes),
            headers: { 'ew-reason': r.dead.code, 'ew-message': r.dead.message.slice(0, 1000), 'ew-topic': batch.topic, 'ew-partition': String(p), 'ew-offset': msg.offset, 'ew-received-at': new Date().toISOString(), 'ew-bytes': String(msg.value?.length ?? 0) },
          });
        }
      }
      try {
        const out = await w.engine.process(frames);
        const ended = quietTime(w, batch.topic, stamps, framesAt);
        if (ended) {
          out.sessions.push(...ended.sessions);
          out.changedGroups = [...new Set([...out.changedGroups, ...ended.changedGroups])];
        }
        if (T) {
          T.processed = performance.now();
          T.windows = out.windows.length;
        }
        const classes = w.engine.currentModel?.info.classes;
        const classesJson = JSON.stringify(classes ?? []);
        const inferences: Message[] = inferenceMessages(out.windows, classesJson, inferenceBytes);
        const sessions: Message[] = sessionMessages(out.sessions, recordBytes);
        const t = await openTx(w);
        if (!t.start.has(batch.topic)) t.start.set(batch.topic, batch.firstOffset()!);
        // Sent while the next batch is processed: the results reach read_uncommitted readers (the
        // API's live feed) a round trip sooner, and the partition does not wait for the broker.
        const tx = t.tx;
        const outputs = [
          { topic: topics.inferences, messages: inferences },
          { topic: topics.sessions, messages: sessions },
          { topic: topics.deadletter, messages: dead },
        ];
        t.sending = t.sending
          .then(() => (t.sendError === undefined ? sendChunked(tx, outputs) : undefined))
          .catch((err: unknown) => void (t.sendError ??= err));
        t.next.set(batch.topic, String(BigInt(batch.lastOffset()) + 1n));
        processedTo.set(`${batch.topic}:${p}`, BigInt(batch.lastOffset()) + 1n);
        if (batch.topic === topics.raw) w.rawNext = Number(batch.lastOffset()) + 1;
        for (const id of out.changedSensors) w.dirtySensors.add(id);
        for (const g of out.changedGroups) w.dirtyGroups.add(g);
        const c = t.counts;
        c.batches++;
        c.frames += frames.length;
        c.windows += out.windows.length;
        c.inferences += out.windows.filter((x) => x.label).length;
        c.sessionEvents += out.sessions.length;
        c.deadLetters += dead.length;
        c.duplicates += out.duplicates;
        c.skipped += out.skipped;
        c.featuresSent += out.featuresSent;
        c.ticks += ticks;
        if (T) T.sent = performance.now();
        if (Date.now() - t.since >= config.kafka.commitIntervalMs) await seal(w);
        if (T) {
          log.debug({ partition: p, topic: batch.topic, offsets: `${batch.firstOffset()}-${batch.lastOffset()}`, records: batch.messages.length, frames: frames.length, windows: T.windows, ageMs: T.ageMs, queuedMs: T.queuedMs, classifyMs: ms(0, w.engine.lastClassifyMs), processMs: ms(T.at, T.processed), sendMs: ms(T.processed, T.sent), commitMs: ms(T.sent, performance.now()) }, 'batch');
        }
      } catch (err) {
        await fail(w, err, batch.topic, batch.firstOffset()!);
      }
    });
    await heartbeat();
  }

  // Transactions left open by a quiet partition are committed when they are due.
  const commitTimer = setInterval(() => {
    for (const w of workers.values()) {
      if (w.open && Date.now() - w.open.since >= config.kafka.commitIntervalMs) {
        void serial(w, async () => {
          if (workers.get(w.partition) !== w || !w.open || Date.now() - w.open.since < config.kafka.commitIntervalMs) return;
          try {
            await seal(w);
          } catch (err) {
            await fail(w, err, 'commit');
          }
        });
      }
    }
  }, Math.max(5, Math.min(200, config.kafka.commitIntervalMs / 2)));
  commitTimer.unref();


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
  if (options.sessions) {
    sessionSink = await startSessionSink({ kafka, groupId: consumerGroups(config).sessions, topic: topics.sessions, store: options.sessions, log, sessionTimeoutMs: config.kafka.sessionTimeoutMs, onFatal: options.onFatal, onRecovering: recovering('sessions') });
  } else if (config.mongodb) {
    mongo = new MongoClient(config.mongodb.url, { serverSelectionTimeoutMS: 10_000 });
    await mongo.connect();
    const store = await SessionStore.open(mongo.db(config.mongodb.database), config.mongodb.collection);
    sessionSink = await startSessionSink({ kafka, groupId: consumerGroups(config).sessions, topic: topics.sessions, store, log, sessionTimeoutMs: config.kafka.sessionTimeoutMs, onFatal: options.onFatal, onRecovering: recovering('sessions') });
  }
  let archiver: ArchiverHandle | null = null;
  if (config.archive && config.archive.runIn !== 'inline' && !options.kafka) {
    // Apart from this thread (archiver-apart.ts): its Parquet encoding never holds up a window here.
    archiver = await startArchiverApart(config, config.archive.runIn, { log, onFatal: options.onFatal, onRecovering: recovering('archive') });
  } else if (config.archive) {
    // An in-process log (the embedded mode) cannot be read from another thread; its load is light.
    archiver = await startArchiver(archiverOptionsFor(config, { kafka, objects: openObjects(config.archive.url, s3Client), onFatal: options.onFatal, onRecovering: recovering('archive'), log }));
  }

  await consumer.connect();
  await consumer.subscribe({ topics: [topics.raw, topics.features], fromBeginning: true });
  await runConsumer();

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
        if (options.logGoesAtStop) {
          // The log goes with this process: what it holds now is processed before the stop, or never.
          const behind = await untilRead(kafka, config.kafka.groupId, [topics.raw, topics.features], (topic, partition) => processedTo.get(`${topic}:${partition}`), LOG_DRAIN_MS).catch((err: unknown) => [{ error: (err as Error).message }]);
          if (behind.length) log.error({ behind }, 'stopping with input in the in-process log not processed: its windows, inferences and sessions are lost');
        }
        stopping = true;
        if (reloadTimer) clearInterval(reloadTimer);
        // Fetch no more, commit what is open, then leave the group.
        supervisor.stop();
        try {
          consumer.pause([{ topic: topics.raw }, { topic: topics.features }]);
        } catch {
          // Not running (Kafka away, the consumer waiting to run again): nothing is fetched.
        }
        const committedAll = (await Promise.all([...workers.values()].map((w) => serial(w, () => commit(w)).then(
          () => true,
          (err: unknown) => {
            log.warn({ partition: w.partition, err: (err as Error).message }, 'committing at stop failed; the next owner processes those batches again');
            return false;
          },
        )))).every(Boolean);
        clearInterval(commitTimer);
        await consumer.disconnect().catch(() => {});
        for (const p of [...workers.keys()]) await letGo(p);
        // A transaction that did not commit leaves aborted session events at the end of the topic,
        // which a read_committed sink never reads: there is no end to wait for then.
        if (sessionSink && options.logGoesAtStop && committedAll) {
          const behind = await sessionSink.drain(LOG_DRAIN_MS).catch((err: unknown) => [{ error: (err as Error).message }]);
          if (behind.length) log.error({ behind }, 'stopping with session events in the in-process log not stored: the stored sessions miss them');
        }
        await sessionSink?.stop();
        if (archiver && options.logGoesAtStop) {
          const left = await archiver.drain(LOG_DRAIN_MS).catch((err: unknown): NotArchived[] => [{ topic: '*', partition: -1, from: '', to: '', reason: (err as Error).message }]);
          if (left.length) log.error({ left }, 'archive: stopping with records of the in-process log not archived; they are lost to the archive');
          else log.info(archiver.stats(), 'archive: everything the in-process log held is archived');
        }
        await archiver?.stop();
        await mongo?.close().catch(() => {});
        await model.close();
        await new Promise((r) => server.close(r));
        log.info(counts, 'processor stopped');
      })());
    },
  };
}
