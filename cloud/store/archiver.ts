// The S3 archive writer: its own consumer group over the raw and feature topics, buffering each
// partition's records and flushing them as Parquet objects (archive.ts) by size and by age.
//
// Exactly one copy of every record, whatever dies when:
//   1. a flush decides its range [first, last] and commits, for its partition, the offset `first`
//      with the metadata `ew-archive-plan:<last>` (the plan);
//   2. it writes the range's objects, whose names hold the range;
//   3. it commits `last + 1` (no plan).
// A consumer that takes the partition on after a crash between 1 and 3 starts at `first`, reads the
// plan, and flushes exactly at `last` again: the same objects under the same names, overwritten.
// A crash before 1 leaves nothing written; after 3, nothing to redo. Frames repeated within a range,
// or repeating one of the partition's last committed ranges (MQTT redeliveries, or requests the
// bridge sent again, that it passed on), are written once.

import { randomBytes } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { decodeRecord, isEdgewaveError, isTick, type Frame, type Logger } from '../../protocol/index.js';
import { superviseConsumer } from '../common/consumer-supervisor.js';
import { consumerTimeouts, readRange, untilRead } from '../common/kafka.js';
import type { ObjectStore } from '../common/objects.js';
import { framesToParquet, partsOf, type ArchiveRange } from './archive.js';

export const PLAN_PREFIX = 'ew-archive-plan:';
/** Frame ids of committed ranges kept per partition for the repeat check (a few seconds of 1,000 sensors). */
const ARCHIVED_KEPT = 20_000;

/** Records read again, before the committed offset, when a process takes a partition on. */
const PRIME_RECORDS = 200;
const PRIME_TIMEOUT_MS = 20_000;

/** A frame's identity: its kind, sensor and sequence number. */
export type FrameKey = Pick<Frame, 'kind' | 'sensorId' | 'seq'>;

/**
 * A set of frame identities, as a set of sequence numbers per sensor and kind: no string is built
 * for a frame (a string id a frame, hashed three or four times, took about a fifth of the CPU of an
 * archive flush in a profile of the whole pipeline).
 */
export class FrameSet {
  private readonly raw = new Map<string, Set<number>>();
  private readonly features = new Map<string, Set<number>>();
  size = 0;

  private seqs(f: FrameKey, create: boolean): Set<number> | undefined {
    const m = f.kind === 'raw' ? this.raw : this.features;
    let s = m.get(f.sensorId);
    if (!s && create) m.set(f.sensorId, (s = new Set()));
    return s;
  }

  has(f: FrameKey): boolean {
    return this.seqs(f, false)?.has(f.seq) ?? false;
  }

  /** Adds the frame; false when it was there already. */
  add(f: FrameKey): boolean {
    const s = this.seqs(f, true)!;
    if (s.has(f.seq)) return false;
    s.add(f.seq);
    this.size++;
    return true;
  }

  /** Deletes a frame by its parts (RecentIds keeps them in columns, not as frames). */
  deleteSeq(raw: boolean, sensorId: string, seq: number): void {
    const m = raw ? this.raw : this.features;
    const s = m.get(sensorId);
    if (!s?.delete(seq)) return;
    this.size--;
    if (!s.size) m.delete(sensorId);
  }
}

/**
 * A partition's archived frames, the newest ARCHIVED_KEPT of them. The oldest is found in a queue
 * beside the set: taking it from a set's own iterator walks over every entry deleted before it
 * (V8 keeps them until the set is rehashed), and that walk took 3 s for the 320,000 frames of one
 * 8 MB flush at 1,000 sensors, about a fifth of a core (a CPU profile of the archive's thread).
 */
export class RecentIds {
  private readonly ids = new FrameSet();
  // The order they came in, as three columns (no object a frame).
  private raw: boolean[] = [];
  private sensors: string[] = [];
  private seqs: number[] = [];
  private head = 0;

  constructor(private readonly max = ARCHIVED_KEPT) {}

  get size(): number {
    return this.ids.size;
  }

  has(f: FrameKey): boolean {
    return this.ids.has(f);
  }

  add(f: FrameKey): void {
    if (!this.ids.add(f)) return;
    // Not the frame itself: it is a view into its record, which must not be kept alive here.
    this.raw.push(f.kind === 'raw');
    this.sensors.push(f.sensorId);
    this.seqs.push(f.seq);
    if (this.ids.size > this.max) {
      const h = this.head++;
      this.ids.deleteSeq(this.raw[h]!, this.sensors[h]!, this.seqs[h]!);
      if (this.head > 4096 && this.head * 2 > this.seqs.length) {
        this.raw = this.raw.slice(this.head);
        this.sensors = this.sensors.slice(this.head);
        this.seqs = this.seqs.slice(this.head);
        this.head = 0;
      }
    }
  }
}

export interface ArchiverOptions {
  kafka: Kafka;
  groupId: string;
  topics: { raw: string; features: string };
  /** Where the objects go: S3, or a directory (the embedded mode). */
  objects: ObjectStore;
  /** Flush a partition's buffer when its records reach this many bytes. */
  flushBytes: number;
  /** ... or when its oldest record waited this long. */
  flushMs: number;
  /** The consumer's session timeout (how soon a dead archiver's partitions move on). */
  sessionTimeoutMs?: number;
  /** The consumer stopped for good (not by a Kafka outage, which it rides out). */
  onFatal?: (err: Error) => void;
  /** The consumer is about to be joined to its group again after an outage kafkajs gave up on (for metrics). */
  onRecovering?: (err: Error) => void;
  /** Feature names for a layout, for the columns (unknown layouts get f0, f1, ...). */
  featureNames?: (layoutId: number, width: number) => readonly string[] | undefined;
  log: Logger;
}

export interface ArchiverStats {
  flushes: number;
  objects: number;
  frames: number;
  bytes: number;
  duplicates: number;
  unreadable: number;
}

export interface ArchiverHandle {
  stats(): ArchiverStats;
  /** Flushes every buffer now (tests, clean stops). */
  flushAll(): Promise<void>;
  /**
   * Reads the input topics up to their ends as they are when called, then flushes every buffer:
   * for a log that is gone after a stop (the in-process log of the embedded mode), where what the
   * archive has not written by then is not read again. Resolves with what it could not archive
   * within `timeoutMs` (nothing when it archived everything), by partition and offset range.
   */
  drain(timeoutMs: number): Promise<NotArchived[]>;
  stop(): Promise<void>;
}

/** A partition's records the archive could not write when asked to drain. */
export interface NotArchived {
  topic: string;
  partition: number;
  /** Offsets [from, to] (inclusive). */
  from: string;
  to: string;
  reason: string;
}

interface Buffer_ {
  topic: string;
  source: 'raw' | 'features';
  partition: number;
  records: { offset: string; value: Buffer }[];
  bytes: number;
  since: number;
  /** The end of a committed plan this buffer must flush at, exactly. */
  planEnd: bigint | null;
  /** The offset after the last record taken (a batch kafkajs hands over again is not taken twice). */
  next: bigint;
  chain: Promise<void>;
  /** The partition's repeat check is ready (flushes wait for it). */
  primed: Promise<void>;
  /** The offset after the last record read, ticks included. */
  seen: bigint;
  /** When offsets were last moved past ticks alone (Date.now()). */
  ticksCommittedAt: number;
}

/** How often a partition that holds nothing but ticks has its offsets moved past them, at most (ms). */
const TICKS_COMMIT_MS = 5000;

export async function startArchiver(o: ArchiverOptions): Promise<ArchiverHandle> {
  const stats: ArchiverStats = { flushes: 0, objects: 0, frames: 0, bytes: 0, duplicates: 0, unreadable: 0 };
  const buffers = new Map<string, Buffer_>();
  // Frames of this partition's last committed ranges, kept across rejoins: a repeat of one in a
  // later range (a request the bridge sent again around a Kafka outage lands twice, at other
  // offsets) is not written again. Only frames whose objects are committed are here, so skipping
  // a repeat never loses a frame. A partition taken on starts from its last committed records,
  // read again (recentlyArchived); a repeat further back is still written twice (the processor
  // drops it either way).
  const archived = new Map<string, RecentIds>();
  /** Per partition, the reading of its last committed records, once per process. */
  const priming = new Map<string, Promise<void>>();
  let primeQueue = Promise.resolve();
  const stopping = new AbortController();
  let generation = 0;
  // Fetches that wait for 1 MiB (or half a second): the archive is in no hurry, and a fetch a
  // record or two as they come costs Kafka a request each, on the cores the pipeline shares.
  const consumer: Consumer = o.kafka.consumer({ groupId: o.groupId, readUncommitted: false, minBytes: 1 << 20, maxWaitTimeInMs: 500, maxBytesPerPartition: 1 << 20, maxBytes: 4 << 20, ...consumerTimeouts(o.sessionTimeoutMs) });
  const admin = o.kafka.admin();
  await admin.connect();

  /** This group's committed offset of a partition (-1 when none), and the end of its plan, if it has one. */
  async function committed(topic: string, partition: number): Promise<{ offset: number; planEnd: bigint | null }> {
    const [t] = await admin.fetchOffsets({ groupId: o.groupId, topics: [topic] });
    const p = t?.partitions.find((x) => x.partition === partition);
    return { offset: Number(p?.offset ?? -1), planEnd: p?.metadata?.startsWith(PLAN_PREFIX) ? BigInt(p.metadata.slice(PLAN_PREFIX.length)) : null };
  }

  /**
   * The frames of the records just before `offset` (the partition's last committed ranges, up to
   * PRIME_RECORDS of them): what a process that had been archiving the partition would hold for
   * the repeat check. Best effort: when they cannot be read, the check starts with what was read.
   */
  async function recentlyArchived(topic: string, partition: number, offset: number): Promise<RecentIds> {
    const ids = new RecentIds();
    if (offset <= 0 || stopping.signal.aborted) return ids;
    try {
      const low = Number((await admin.fetchTopicOffsets(topic)).find((x) => x.partition === partition)?.low ?? 0);
      const from = Math.max(low, offset - PRIME_RECORDS);
      const records = await readRange(o.kafka, {
        groupId: `${o.groupId}-recent-${partition}-${randomBytes(6).toString('hex')}`, topic, partition, from, upTo: offset, timeoutMs: PRIME_TIMEOUT_MS, signal: stopping.signal,
        onRecord: (msg) => {
          if (!msg.value) return;
          try {
            for (const f of decodeRecord(new Uint8Array(msg.value.buffer, msg.value.byteOffset, msg.value.byteLength), { maxFutureMs: Infinity })) ids.add(f);
          } catch (err) {
            if (!isEdgewaveError(err)) throw err;
          }
        },
      });
      o.log.debug({ topic, partition, from, upTo: offset, records, frames: ids.size }, 'archive: the frames of the last committed ranges read again, for the repeat check');
    } catch (err) {
      if (!stopping.signal.aborted) o.log.warn({ topic, partition, framesRead: ids.size, err: (err as Error).message }, 'archive: the last committed ranges could not be read again; repeats of the rest will be written twice');
    }
    return ids;
  }

  // Every (re)join starts each partition again from its committed offset: what was buffered is read again.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    generation++;
    buffers.clear();
  });

  async function bufferFor(topic: string, partition: number): Promise<Buffer_> {
    const key = `${topic}:${partition}`;
    let b = buffers.get(key);
    if (!b) {
      const gen = generation;
      const { offset, planEnd } = await committed(topic, partition);
      if (gen !== generation) throw new Error('rebalanced while reading the archive plans');
      // The repeat check of a partition this process has not archived yet starts from the frames
      // of its last committed ranges, read in the background, one partition after another.
      if (!archived.has(key) && !priming.has(key)) {
        primeQueue = primeQueue.then(async () => {
          const recent = await recentlyArchived(topic, partition, offset);
          if (!archived.has(key)) archived.set(key, recent);
        });
        priming.set(key, primeQueue);
      }
      b = buffers.get(key);
      if (!b) {
        b = { topic, source: topic === o.topics.raw ? 'raw' : 'features', partition, records: [], bytes: 0, since: Date.now(), planEnd, next: -1n, chain: Promise.resolve(), primed: priming.get(key) ?? Promise.resolve(), seen: -1n, ticksCommittedAt: 0 };
        buffers.set(key, b);
        if (planEnd !== null) o.log.info({ topic, partition, planEnd: String(planEnd) }, 'archive: a planned flush was not finished; writing it again');
      }
    }
    return b;
  }

  /** Serializes the work on one buffer (the batch handler and the age timer both flush). */
  function serial(b: Buffer_, fn: () => Promise<void>): Promise<void> {
    const next = b.chain.then(fn);
    b.chain = next.catch(() => {});
    return next;
  }

  /** Writes the buffer's records (up to a planned end, if there is one) and commits past them. */
  async function flush(b: Buffer_): Promise<void> {
    let upTo = b.records.length;
    if (b.planEnd !== null) {
      const end = b.planEnd;
      upTo = b.records.findIndex((r) => BigInt(r.offset) >= end) + 1;
    }
    if (!upTo) return;
    await b.primed;
    const gen = generation;
    const records = b.records.slice(0, upTo);
    const range: ArchiveRange = { source: b.source, topic: b.topic, partition: b.partition, first: records[0]!.offset, last: records.at(-1)!.offset };
    if (b.planEnd === null) {
      await consumer.commitOffsets([{ topic: b.topic, partition: b.partition, offset: range.first, metadata: `${PLAN_PREFIX}${range.last}` }]);
      // From here on, this range is what gets written, however often a try fails.
      if (gen === generation) b.planEnd = BigInt(range.last);
    }
    const frames: Frame[] = [];
    const seen = new FrameSet();
    const key = `${b.topic}:${b.partition}`;
    let done = archived.get(key);
    if (!done) archived.set(key, (done = new RecentIds()));
    for (const r of records) {
      let fs: Frame[];
      try {
        const u = new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        // Views into the record, not copies: the records outlive this flush's frames.
        fs = decodeRecord(u, { maxFutureMs: Infinity });
      } catch (err) {
        if (!isEdgewaveError(err)) throw err;
        stats.unreadable++; // the processor dead-letters it; the archive keeps frames only
        continue;
      }
      for (const f of fs) {
        if (done.has(f) || !seen.add(f)) {
          stats.duplicates++;
          continue;
        }
        frames.push(f);
      }
    }
    const parts = partsOf(frames, range);
    let bytes = 0;
    // A few puts at a time: objects are independent, and their names make a repeat an overwrite.
    const queue = [...parts];
    await Promise.all(
      Array.from({ length: Math.min(4, queue.length) }, async () => {
        for (let part = queue.shift(); part; part = queue.shift()) {
          const body = framesToParquet(part, range, part.kind === 'features' ? o.featureNames?.(part.layoutId, part.frames[0]!.width) : undefined);
          bytes += body.byteLength;
          await o.objects.put(part.key, body, 'application/vnd.apache.parquet');
        }
      }),
    );
    await consumer.commitOffsets([{ topic: b.topic, partition: b.partition, offset: String(BigInt(range.last) + 1n), metadata: null }]);
    for (const f of frames) done.add(f);
    if (gen !== generation) return;
    stats.flushes++;
    stats.objects += parts.length;
    stats.frames += frames.length;
    stats.bytes += bytes;
    b.records.splice(0, upTo);
    b.bytes = b.records.reduce((n, r) => n + r.value.byteLength, 0);
    b.since = Date.now();
    b.planEnd = null;
    o.log.debug({ topic: b.topic, partition: b.partition, first: range.first, last: range.last, objects: parts.length, frames: frames.length, bytes }, 'archive flushed');
  }

  /** Whether everything read is archived or a tick, with ticks past the committed offset (`passTicks`). */
  const ticksToPass = (b: Buffer_): boolean => !b.records.length && b.planEnd === null && b.seen > b.next && Date.now() - b.ticksCommittedAt >= TICKS_COMMIT_MS;

  /**
   * Moves the offsets past ticks that follow the last flush: the group's lag stays at nothing where
   * no gateway sends, and a restart does not read them all again. Ranges still start at their
   * first frame, so their names do not change.
   */
  async function passTicks(b: Buffer_): Promise<void> {
    // A buffer of an earlier assignment (buffers are dropped at each join) commits nothing: the
    // partition may be another member's now, with a plan of its own in its committed metadata.
    if (buffers.get(`${b.topic}:${b.partition}`) !== b || !ticksToPass(b)) return;
    const next = b.seen;
    await consumer.commitOffsets([{ topic: b.topic, partition: b.partition, offset: String(next), metadata: null }]);
    if (next > b.next) b.next = next;
    b.ticksCommittedAt = Date.now();
  }

  async function eachBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    const b = await bufferFor(batch.topic, batch.partition);
    await serial(b, async () => {
      for (const msg of batch.messages) {
        if (isStale()) return;
        // The bridges' ticks (protocol/README.md) hold no frames.
        if (!msg.value || isTick(msg.headers) || BigInt(msg.offset) < b.next) continue;
        b.next = BigInt(msg.offset) + 1n;
        if (!b.records.length) b.since = Date.now();
        b.records.push({ offset: msg.offset, value: msg.value });
        b.bytes += msg.value.byteLength;
        if (b.planEnd !== null && BigInt(msg.offset) >= b.planEnd) {
          await flush(b);
          await heartbeat();
        }
      }
      if (b.planEnd !== null || b.bytes >= o.flushBytes || Date.now() - b.since >= o.flushMs) await flush(b);
      if (isStale()) return;
      const end = BigInt(batch.lastOffset()) + 1n;
      if (end > b.seen) b.seen = end;
      if (ticksToPass(b)) await passTicks(b);
    });
    await heartbeat();
  }

  const run = () => consumer.run({ autoCommit: false, eachBatch });
  const supervisor = superviseConsumer(consumer, { name: 'archiver', log: o.log, run, onFatal: o.onFatal, onRecovering: o.onRecovering });
  await consumer.connect();
  await consumer.subscribe({ topics: [o.topics.raw, o.topics.features], fromBeginning: true });
  await run();

  const timer = setInterval(() => {
    for (const b of buffers.values()) {
      if (b.records.length && Date.now() - b.since >= o.flushMs) {
        serial(b, () => (Date.now() - b.since >= o.flushMs ? flush(b) : Promise.resolve())).catch((err: unknown) =>
          o.log.warn({ topic: b.topic, partition: b.partition, err: (err as Error).message }, 'archive flush failed; the range is read again'),
        );
      } else if (ticksToPass(b)) {
        serial(b, () => passTicks(b)).catch((err: unknown) => o.log.debug({ topic: b.topic, partition: b.partition, err: (err as Error).message }, 'archive: moving the offsets past ticks failed; tried again later'));
      }
    }
  }, Math.max(100, Math.min(1000, o.flushMs / 4)));
  timer.unref();

  let stopped: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    async flushAll() {
      await Promise.all([...buffers.values()].map((b) => serial(b, () => flush(b))));
    },
    async drain(timeoutMs) {
      const behind = await untilRead(o.kafka, o.groupId, [o.topics.raw, o.topics.features], (topic, partition) => buffers.get(`${topic}:${partition}`)?.seen, timeoutMs);
      const failed = new Map<Buffer_, string>();
      await Promise.all([...buffers.values()].map((b) => serial(b, () => flush(b)).catch((err: unknown) => void failed.set(b, (err as Error).message))));
      const left: NotArchived[] = behind.map((x) => ({ topic: x.topic, partition: x.partition, from: x.at, to: String(BigInt(x.end) - 1n), reason: `not read within ${timeoutMs} ms` }));
      for (const b of buffers.values()) {
        if (b.records.length) left.push({ topic: b.topic, partition: b.partition, from: b.records[0]!.offset, to: b.records.at(-1)!.offset, reason: failed.get(b) ?? 'not written' });
      }
      return left;
    },
    stop() {
      return (stopped ??= (async () => {
        clearInterval(timer);
        stopping.abort();
        supervisor.stop();
        await consumer.disconnect().catch(() => {});
        await primeQueue;
        await admin.disconnect().catch(() => {});
      })());
    },
  };
}
