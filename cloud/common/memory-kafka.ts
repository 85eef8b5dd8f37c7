// An in-process log with the part of kafkajs's interface edgewave's components use, for the
// embedded mode (`npm start`): the bridge, the processor, its sinks and the API's live feed run
// their distributed code paths unchanged, with this in place of a Kafka client. The same contract
// tests run against it and against real Kafka (test/cloud/common/log-contract.ts).
//
// What it keeps of Kafka's semantics:
// - topics of N partitions (created on first use, `defaultPartitions`), records keyed to partitions
//   by kafkajs's default partitioner, so a key lands where it would on Kafka; offsets per partition;
// - transactions: records are visible to read_committed consumers only once committed, aborted ones
//   never; offsets sent in a transaction are committed with it; a producer that connects with a
//   transactional id fences the previous one (its open transaction is aborted, its next call fails
//   with INVALID_PRODUCER_EPOCH);
// - consumer groups: partitions of the subscribed topics split among members, partition p of every
//   topic to the same member; GROUP_JOIN on each assignment; committed offsets (with metadata) per
//   group; a new member starts from the committed offset, else the start or the end of the log;
//   seek, pause, commitOffsets; batches of one partition in order, partitions concurrently;
// - compacted topics keep the newest record of each key (older ones are skipped when read); other
//   topics keep at most `retentionBytes` per partition, the oldest dropped first, but never one the
//   groups of `keepUnread` have not read (committed past): a write that would drop one is refused
//   (LOG_FULL), so a writer holds its records, as it would while Kafka is away, until they have.
// What it leaves out: durability (it is memory), brokers, quotas, compression, timeouts.

import { EventEmitter } from 'node:events';
import { Partitioners, type IHeaders, type KafkaMessage, type Message } from 'kafkajs';

export interface MemoryKafkaOptions {
  /** Partitions of a topic created on first use. */
  defaultPartitions?: number;
  /** Bytes of keys and values kept per partition of a topic that is not compacted; the oldest records go first. */
  retentionBytes?: number;
  /** Topics kept as compacted logs (the newest record per key). */
  compacted?: readonly string[];
  /**
   * The first offset of every partition of these topics (default 0): a log that follows an earlier
   * one goes on after its offsets, so names made of offsets (the archive's objects) do not repeat.
   */
  firstOffsets?: Readonly<Record<string, number>>;
  /**
   * Per topic, the consumer groups that must read every record of it (the processor and its sinks):
   * retention drops none they have not committed past, and a write that would is refused with
   * LOG_FULL instead. A group that has not committed yet keeps the whole partition.
   */
  keepUnread?: Readonly<Record<string, readonly string[]>>;
}

interface Txn {
  state: 'open' | 'committed' | 'aborted';
}

interface Rec {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  timestamp: string;
  txn: Txn | null;
  /** Superseded by a newer record of its key in a compacted topic. */
  removed: boolean;
  bytes: number;
}

class Partition {
  /** Offset of records[0]. */
  start: number;
  readonly records: Rec[] = [];
  bytes = 0;
  private readonly latestByKey = new Map<string, number>();
  constructor(
    private readonly compacted: boolean,
    private readonly retentionBytes: number,
    first = 0,
  ) {
    this.start = first;
  }

  get end(): number {
    return this.start + this.records.length;
  }

  /** The partition's first offset once `bytes` more are written, after retention (nothing is changed). */
  startAfter(bytes: number): number {
    if (this.compacted) return this.start;
    let b = this.bytes + bytes;
    let i = 0;
    while (b > this.retentionBytes && this.records.length - i > 0 && this.records[i]!.txn?.state !== 'open') b -= this.records[i++]!.bytes;
    return this.start + i;
  }

  append(r: Rec): number {
    const offset = this.end;
    this.records.push(r);
    this.bytes += r.bytes;
    if (this.compacted && r.key) {
      const k = r.key.toString('latin1');
      const prev = this.latestByKey.get(k);
      if (prev !== undefined) this.supersede(prev);
      this.latestByKey.set(k, offset);
    }
    if (!this.compacted) {
      // Retention: drop whole records from the head, never one a transaction still holds open.
      while (this.bytes > this.retentionBytes && this.records.length > 1 && this.records[0]!.txn?.state !== 'open') {
        this.bytes -= this.records.shift()!.bytes;
        this.start++;
      }
    }
    return offset;
  }

  private supersede(offset: number): void {
    const r = this.records[offset - this.start];
    if (!r || r.removed) return;
    // Compaction keeps what a reader could still need: a record of an open transaction stays until it ends.
    r.removed = true;
    this.bytes -= r.bytes;
    r.value = null;
  }

  /** The offset a read_committed reader may read up to (exclusive): the first record of an open transaction. */
  stableEnd(): number {
    for (let i = 0; i < this.records.length; i++) if (this.records[i]!.txn?.state === 'open') return this.start + i;
    return this.end;
  }

  offsetForTime(ms: number): number {
    for (let i = 0; i < this.records.length; i++) if (Number(this.records[i]!.timestamp) >= ms) return this.start + i;
    return this.end;
  }
}

interface Member {
  consumer: MemoryConsumer;
  topics: Set<string>;
}

interface Group {
  committed: Map<string, { offset: number; metadata: string | null }>;
  members: Member[];
  generation: number;
}

export class KafkaJSMemoryError extends Error {
  readonly type: string;
  readonly retriable = false;
  constructor(type: string, message: string) {
    super(message);
    this.name = 'KafkaJSProtocolError';
    this.type = type;
  }
}

const FENCED_MESSAGE = "Producer attempted an operation with an old epoch. Either there is a newer producer with the same transactionalId, or the producer's transaction has been expired by the broker";

/** The in-process log and its clients: pass it where a component takes a kafkajs `Kafka`. */
export class MemoryKafka {
  private readonly topics = new Map<string, Partition[]>();
  private readonly groups = new Map<string, Group>();
  /** The newest epoch of each transactional id, and its open transaction. */
  private readonly transactional = new Map<string, { epoch: number; open: Txn | null }>();
  /** Told of every append and commit: waiting consumers look again. */
  readonly changed = new EventEmitter();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly options: Required<MemoryKafkaOptions>;
  /** Writes refused with LOG_FULL so far. */
  private refused = 0;

  constructor(options: MemoryKafkaOptions = {}) {
    this.options = { defaultPartitions: options.defaultPartitions ?? 4, retentionBytes: options.retentionBytes ?? 64 << 20, compacted: options.compacted ?? [], firstOffsets: options.firstOffsets ?? {}, keepUnread: options.keepUnread ?? {} };
    this.changed.setMaxListeners(0);
  }

  /** How many writes the log has refused because a group that must read them had not (LOG_FULL). */
  stats(): { refusedWrites: number } {
    return { refusedWrites: this.refused };
  }

  // ---- the log ----

  partitions(topic: string, create = true, count = this.options.defaultPartitions): Partition[] {
    let ps = this.topics.get(topic);
    if (!ps && create) {
      const compacted = this.options.compacted.includes(topic);
      ps = Array.from({ length: count }, () => new Partition(compacted, this.options.retentionBytes, this.options.firstOffsets[topic] ?? 0));
      this.topics.set(topic, ps);
    }
    return ps ?? [];
  }

  createTopic(topic: string, numPartitions: number, compacted: boolean): boolean {
    if (this.topics.has(topic)) return false;
    this.topics.set(topic, Array.from({ length: numPartitions }, () => new Partition(compacted, this.options.retentionBytes, this.options.firstOffsets[topic] ?? 0)));
    return true;
  }

  /**
   * Writes the messages, all or none: each to its partition (given, or kafkajs's default
   * partitioner on its key); LOG_FULL when retention would drop a record a `keepUnread` group has
   * not read.
   */
  appendAll(topicMessages: readonly { topic: string; messages: readonly Message[] }[], txn: Txn | null): { topic: string; partition: number; offset: number }[] {
    const recs: { topic: string; partition: number; rec: Rec }[] = [];
    const adding = new Map<string, { topic: string; partition: number; bytes: number }>();
    for (const { topic, messages } of topicMessages) {
      const ps = this.partitions(topic);
      const partitionMetadata = ps.map((_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
      for (const m of messages) {
        const key = m.key === undefined || m.key === null ? null : Buffer.from(m.key);
        const value = m.value === undefined || m.value === null ? null : Buffer.from(m.value);
        const partition = m.partition ?? this.partitioner({ topic, partitionMetadata, message: { ...m, key } });
        if (partition < 0 || partition >= ps.length) throw new KafkaJSMemoryError('UNKNOWN_TOPIC_OR_PARTITION', `${topic} has no partition ${partition}`);
        const rec: Rec = { key, value, headers: m.headers ?? {}, timestamp: String(m.timestamp ?? Date.now()), txn, removed: false, bytes: (key?.length ?? 0) + (value?.length ?? 0) + 64 };
        recs.push({ topic, partition, rec });
        const k = `${topic}:${partition}`;
        const a = adding.get(k) ?? { topic, partition, bytes: 0 };
        a.bytes += rec.bytes;
        adding.set(k, a);
      }
    }
    for (const a of adding.values()) {
      const groups = this.options.keepUnread[a.topic];
      if (!groups?.length) continue;
      const p = this.partitions(a.topic)[a.partition]!;
      const start = p.startAfter(a.bytes);
      if (start === p.start) continue;
      for (const groupId of groups) {
        const read = this.groups.get(groupId)?.committed.get(`${a.topic}:${a.partition}`)?.offset ?? p.start;
        if (read < start) {
          this.refused++;
          throw new KafkaJSMemoryError('LOG_FULL', `the in-process log is full: ${a.topic} partition ${a.partition} holds ${p.bytes} bytes (retentionBytes ${this.options.retentionBytes}) and group ${groupId} has read it only up to offset ${read}; the write waits for it`);
        }
      }
    }
    return recs.map(({ topic, partition, rec }) => ({ topic, partition, offset: this.partitions(topic)[partition]!.append(rec) }));
  }

  group(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g) this.groups.set(groupId, (g = { committed: new Map(), members: [], generation: 0 }));
    return g;
  }

  commit(groupId: string, topic: string, partition: number, offset: number, metadata: string | null = null): void {
    this.group(groupId).committed.set(`${topic}:${partition}`, { offset, metadata });
  }

  notify(): void {
    this.changed.emit('change');
  }

  /** Starts a transactional id's new epoch: the previous holder's open transaction is aborted and it is fenced. */
  initTransactional(id: string): number {
    const t = this.transactional.get(id);
    if (t?.open) t.open.state = 'aborted';
    const epoch = (t?.epoch ?? 0) + 1;
    this.transactional.set(id, { epoch, open: null });
    this.notify();
    return epoch;
  }

  checkEpoch(id: string, epoch: number): void {
    if (this.transactional.get(id)?.epoch !== epoch) throw new KafkaJSMemoryError('INVALID_PRODUCER_EPOCH', FENCED_MESSAGE);
  }

  setOpen(id: string, txn: Txn | null): void {
    const t = this.transactional.get(id);
    if (t) t.open = txn;
  }

  /** Splits the subscribed topics' partitions among the group's members (partition p of every topic to one member) and tells each. */
  rebalance(groupId: string): void {
    const g = this.group(groupId);
    g.generation++;
    const members = g.members;
    const maxPartitions = Math.max(0, ...members.flatMap((m) => [...m.topics].map((t) => this.partitions(t).length)));
    const assignment = members.map(() => ({}) as Record<string, number[]>);
    for (let p = 0; p < maxPartitions; p++) {
      const i = p % Math.max(1, members.length);
      const m = members[i];
      if (!m) continue;
      for (const t of m.topics) if (p < this.partitions(t).length) (assignment[i]![t] ??= []).push(p);
    }
    members.forEach((m, i) => m.consumer.assign(assignment[i]!, g.generation));
  }

  // ---- kafkajs's entry points ----

  producer(options: { transactionalId?: string } = {}): MemoryProducer {
    return new MemoryProducer(this, options.transactionalId);
  }

  consumer(options: { groupId: string; readUncommitted?: boolean; maxWaitTimeInMs?: number }): MemoryConsumer {
    return new MemoryConsumer(this, options.groupId, options.readUncommitted ?? false, options.maxWaitTimeInMs ?? 100);
  }

  admin(): MemoryAdmin {
    return new MemoryAdmin(this);
  }

  // ---- reads for consumers and admin ----

  read(topic: string, partition: number, from: number, committedOnly: boolean, max: number): { messages: KafkaMessage[]; next: number; highWatermark: number } {
    const p = this.partitions(topic)[partition];
    if (!p) return { messages: [], next: from, highWatermark: 0 };
    const end = committedOnly ? p.stableEnd() : p.end;
    let at = Math.max(from, p.start);
    const messages: KafkaMessage[] = [];
    let bytes = 0;
    for (; at < end && bytes < max; at++) {
      const r = p.records[at - p.start]!;
      if (r.removed || (committedOnly && r.txn?.state === 'aborted')) continue;
      messages.push({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offset: String(at), attributes: 0 } as KafkaMessage);
      bytes += r.bytes;
    }
    return { messages, next: at, highWatermark: p.end };
  }

  bounds(topic: string): { partition: number; low: number; high: number }[] {
    return this.partitions(topic).map((p, partition) => ({ partition, low: p.start, high: p.end }));
  }

  offsetsForTime(topic: string, ms: number): { partition: number; offset: number }[] {
    return this.partitions(topic).map((p, partition) => ({ partition, offset: p.offsetForTime(ms) }));
  }

  committedOf(groupId: string, topic: string, partition: number): { offset: number; metadata: string | null } | undefined {
    return this.groups.get(groupId)?.committed.get(`${topic}:${partition}`);
  }

  deleteGroup(groupId: string): void {
    const g = this.groups.get(groupId);
    if (g && !g.members.length) this.groups.delete(groupId);
  }
}

type Listener = (e: { type: string; payload: Record<string, unknown> }) => void;

export class MemoryProducer {
  readonly events = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' } as const;
  private readonly emitter = new EventEmitter();
  private epoch = 0;
  private connected = false;
  private open: MemoryTransaction | null = null;

  constructor(
    private readonly log: MemoryKafka,
    private readonly transactionalId: string | undefined,
  ) {}

  on(event: string, fn: Listener): () => void {
    this.emitter.on(event, fn);
    return () => this.emitter.off(event, fn);
  }

  async connect(): Promise<void> {
    if (this.transactionalId) this.epoch = this.log.initTransactional(this.transactionalId);
    this.connected = true;
    this.emitter.emit(this.events.CONNECT, { type: this.events.CONNECT, payload: {} });
  }

  async disconnect(): Promise<void> {
    if (this.open?.isActive()) await this.open.abort().catch(() => {});
    this.connected = false;
    this.emitter.emit(this.events.DISCONNECT, { type: this.events.DISCONNECT, payload: {} });
  }

  private ready(): void {
    if (!this.connected) throw new KafkaJSMemoryError('NOT_CONNECTED', 'the producer is not connected');
    if (this.transactionalId) this.log.checkEpoch(this.transactionalId, this.epoch);
  }

  async send(r: { topic: string; messages: Message[] }): Promise<{ topicName: string; partition: number; errorCode: number; baseOffset: string }[]> {
    return this.sendBatch({ topicMessages: [r] });
  }

  async sendBatch(r: { topicMessages?: { topic: string; messages: Message[] }[] }, txn: Txn | null = null): Promise<{ topicName: string; partition: number; errorCode: number; baseOffset: string }[]> {
    this.ready();
    const out = this.log.appendAll(r.topicMessages ?? [], txn).map(({ topic, partition, offset }) => ({ topicName: topic, partition, errorCode: 0, baseOffset: String(offset) }));
    this.log.notify();
    return out;
  }

  async transaction(): Promise<MemoryTransaction> {
    if (!this.transactionalId) throw new KafkaJSMemoryError('NOT_TRANSACTIONAL', 'the producer has no transactionalId');
    this.ready();
    if (this.open?.isActive()) throw new KafkaJSMemoryError('CONCURRENT_TRANSACTIONS', 'a transaction is already open on this producer');
    const txn: Txn = { state: 'open' };
    this.log.setOpen(this.transactionalId, txn);
    this.open = new MemoryTransaction(this.log, txn, () => this.ready(), (tm) => this.sendBatch(tm, txn), () => this.log.setOpen(this.transactionalId!, null));
    return this.open;
  }
}

export class MemoryTransaction {
  private readonly offsets: { groupId: string; topic: string; partition: number; offset: number }[] = [];
  constructor(
    private readonly log: MemoryKafka,
    private readonly txn: Txn,
    private readonly ready: () => void,
    private readonly sendIn: (r: { topicMessages?: { topic: string; messages: Message[] }[] }) => Promise<unknown>,
    private readonly closed: () => void,
  ) {}

  isActive(): boolean {
    return this.txn.state === 'open';
  }

  private check(): void {
    this.ready();
    if (this.txn.state !== 'open') throw new KafkaJSMemoryError('INVALID_TXN_STATE', `the transaction is ${this.txn.state}`);
  }

  async send(r: { topic: string; messages: Message[] }): Promise<unknown> {
    this.check();
    return this.sendIn({ topicMessages: [r] });
  }

  async sendBatch(r: { topicMessages?: { topic: string; messages: Message[] }[] }): Promise<unknown> {
    this.check();
    return this.sendIn(r);
  }

  async sendOffsets(r: { consumerGroupId: string; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }): Promise<void> {
    this.check();
    for (const t of r.topics) for (const p of t.partitions) this.offsets.push({ groupId: r.consumerGroupId, topic: t.topic, partition: p.partition, offset: Number(p.offset) });
  }

  async commit(): Promise<void> {
    this.check();
    this.txn.state = 'committed';
    for (const o of this.offsets) this.log.commit(o.groupId, o.topic, o.partition, o.offset);
    this.closed();
    this.log.notify();
  }

  async abort(): Promise<void> {
    if (this.txn.state !== 'open') return;
    this.txn.state = 'aborted';
    this.closed();
    this.log.notify();
  }
}

type EachMessage = (payload: { topic: string; partition: number; message: KafkaMessage; heartbeat(): Promise<void>; pause(): () => void }) => Promise<void>;

type EachBatch = (payload: {
  batch: { topic: string; partition: number; highWatermark: string; messages: KafkaMessage[]; isEmpty(): boolean; firstOffset(): string | null; lastOffset(): string; offsetLag(): string; offsetLagLow(): string };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  pause(): () => void;
  commitOffsetsIfNecessary(): Promise<void>;
  uncommittedOffsets(): unknown;
  isRunning(): boolean;
  isStale(): boolean;
}) => Promise<void>;

interface RunOptions {
  eachBatch?: EachBatch;
  eachMessage?: EachMessage;
  partitionsConsumedConcurrently?: number;
  autoCommit?: boolean;
  eachBatchAutoResolve?: boolean;
}

export class MemoryConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash', REBALANCING: 'consumer.rebalancing' } as const;
  private readonly emitter = new EventEmitter();
  private topics = new Set<string>();
  private fromBeginning = false;
  private assignment: Record<string, number[]> = {};
  private generation = 0;
  /** Next offset to read, per topic:partition, for this assignment. */
  private positions = new Map<string, number>();
  private readonly seeks = new Map<string, number>();
  private readonly paused = new Set<string>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly log: MemoryKafka,
    private readonly groupId: string,
    private readonly readUncommitted: boolean,
    private readonly maxWaitMs: number,
  ) {}

  on(event: string, fn: Listener): () => void {
    this.emitter.on(event, fn);
    return () => this.emitter.off(event, fn);
  }

  async connect(): Promise<void> {}

  async subscribe(r: { topic?: string; topics?: string[]; fromBeginning?: boolean }): Promise<void> {
    for (const t of r.topics ?? (r.topic ? [r.topic] : [])) {
      this.log.partitions(t);
      this.topics.add(t);
    }
    this.fromBeginning = r.fromBeginning ?? false;
  }

  /** A new assignment from the group (see MemoryKafka.rebalance): positions come from the committed offsets again. */
  assign(assignment: Record<string, number[]>, generation: number): void {
    this.assignment = assignment;
    this.generation = generation;
    this.positions = new Map();
    for (const [t, ps] of Object.entries(assignment)) {
      const bounds = this.log.bounds(t);
      for (const p of ps) {
        const committed = this.log.committedOf(this.groupId, t, p);
        const b = bounds[p]!;
        this.positions.set(`${t}:${p}`, committed ? Math.max(committed.offset, b.low) : this.fromBeginning ? b.low : b.high);
      }
    }
    this.emitter.emit(this.events.GROUP_JOIN, { type: this.events.GROUP_JOIN, payload: { groupId: this.groupId, memberAssignment: assignment, generation } });
    this.wake?.();
  }

  async run(r: RunOptions): Promise<void> {
    if (this.running) throw new KafkaJSMemoryError('ALREADY_RUNNING', 'the consumer is already running');
    this.running = true;
    const g = this.log.group(this.groupId);
    g.members.push({ consumer: this, topics: this.topics });
    this.log.rebalance(this.groupId);
    const onChange = () => this.wake?.();
    this.log.changed.on('change', onChange);
    this.loop = this.consume(r).finally(() => this.log.changed.off('change', onChange));
  }

  private async consume(r: RunOptions): Promise<void> {
    const concurrency = Math.max(1, r.partitionsConsumedConcurrently ?? 1);
    const autoCommit = r.autoCommit ?? true;
    while (this.running) {
      const generation = this.generation;
      const work: { topic: string; partition: number; messages: KafkaMessage[]; next: number; high: number }[] = [];
      for (const [topic, ps] of Object.entries(this.assignment)) {
        for (const partition of ps) {
          const key = `${topic}:${partition}`;
          if (this.paused.has(topic) || this.paused.has(key)) continue;
          const seek = this.seeks.get(key);
          if (seek !== undefined) {
            this.seeks.delete(key);
            this.positions.set(key, seek);
          }
          const { messages, next, highWatermark } = this.log.read(topic, partition, this.positions.get(key) ?? 0, !this.readUncommitted, 1 << 20);
          if (next !== this.positions.get(key)) work.push({ topic, partition, messages, next, high: highWatermark });
        }
      }
      if (!work.length) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.maxWaitMs);
          function done() {
            clearTimeout(t);
            resolve();
          }
          this.wake = done;
        });
        this.wake = null;
        continue;
      }
      const queue = [...work];
      const runOne = async (): Promise<void> => {
        for (let w = queue.shift(); w && this.running; w = queue.shift()) {
          const key = `${w.topic}:${w.partition}`;
          if (generation !== this.generation) return;
          if (!w.messages.length) {
            // Only skipped records (aborted, compacted): move on.
            this.positions.set(key, w.next);
            continue;
          }
          let resolved = Number(w.messages[0]!.offset) - 1;
          const stale = () => generation !== this.generation || this.seeks.has(key) || !this.running;
          try {
            if (r.eachMessage) {
              for (const message of w.messages) {
                if (stale()) break;
                await r.eachMessage({ topic: w.topic, partition: w.partition, message, heartbeat: async () => {}, pause: () => () => {} });
                resolved = Number(message.offset);
              }
            } else await r.eachBatch!({
              batch: {
                topic: w.topic, partition: w.partition, highWatermark: String(w.high), messages: w.messages,
                isEmpty: () => w.messages.length === 0,
                firstOffset: () => w.messages[0]?.offset ?? null,
                lastOffset: () => w.messages.at(-1)!.offset,
                offsetLag: () => String(w.high - 1 - Number(w.messages.at(-1)!.offset)),
                offsetLagLow: () => String(w.high - 1 - Number(w.messages[0]!.offset)),
              },
              resolveOffset: (o) => (resolved = Math.max(resolved, Number(o))),
              heartbeat: async () => {},
              pause: () => {
                this.paused.add(key);
                return () => this.resume([{ topic: w.topic, partitions: [w.partition] }]);
              },
              commitOffsetsIfNecessary: async () => {},
              uncommittedOffsets: () => ({ topics: [] }),
              isRunning: () => this.running,
              isStale: stale,
            });
            if (!r.eachMessage && (r.eachBatchAutoResolve ?? true)) resolved = Number(w.messages.at(-1)!.offset);
          } catch (err) {
            this.emitter.emit(this.events.CRASH, { type: this.events.CRASH, payload: { error: err, groupId: this.groupId, restart: true } });
            // kafkajs restarts the consumer: the batch is read again from the committed offset.
            if (generation === this.generation) {
              const c = this.log.committedOf(this.groupId, w.topic, w.partition);
              if (c) this.positions.set(key, c.offset);
            }
            await new Promise((res) => setTimeout(res, 100));
            continue;
          }
          if (generation !== this.generation || this.seeks.has(key)) continue;
          this.positions.set(key, resolved + 1);
          if (autoCommit) this.log.commit(this.groupId, w.topic, w.partition, resolved + 1);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, runOne));
    }
  }

  seek(r: { topic: string; partition: number; offset: string }): void {
    this.seeks.set(`${r.topic}:${r.partition}`, Number(r.offset));
    this.wake?.();
  }

  pause(topics: { topic: string; partitions?: number[] }[]): void {
    for (const t of topics) {
      if (t.partitions) for (const p of t.partitions) this.paused.add(`${t.topic}:${p}`);
      else this.paused.add(t.topic);
    }
  }

  resume(topics: { topic: string; partitions?: number[] }[]): void {
    for (const t of topics) {
      if (t.partitions) for (const p of t.partitions) this.paused.delete(`${t.topic}:${p}`);
      else this.paused.delete(t.topic);
    }
    this.wake?.();
  }

  async commitOffsets(offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[]): Promise<void> {
    for (const o of offsets) this.log.commit(this.groupId, o.topic, o.partition, Number(o.offset), o.metadata ?? null);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  async disconnect(): Promise<void> {
    if (!this.running) return;
    await this.stop();
    const g = this.log.group(this.groupId);
    g.members = g.members.filter((m) => m.consumer !== this);
    if (g.members.length) this.log.rebalance(this.groupId);
  }
}

export class MemoryAdmin {
  constructor(private readonly log: MemoryKafka) {}
  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}

  async createTopics(r: { topics: { topic: string; numPartitions?: number; configEntries?: { name: string; value: string }[] }[] }): Promise<boolean> {
    let created = false;
    for (const t of r.topics) created = this.log.createTopic(t.topic, t.numPartitions ?? 4, t.configEntries?.some((c) => c.name === 'cleanup.policy' && c.value.includes('compact')) ?? false) || created;
    return created;
  }

  async fetchTopicOffsets(topic: string): Promise<{ partition: number; offset: string; high: string; low: string }[]> {
    return this.log.bounds(topic).map((b) => ({ partition: b.partition, offset: String(b.high), high: String(b.high), low: String(b.low) }));
  }

  async fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<{ partition: number; offset: string }[]> {
    return this.log.offsetsForTime(topic, timestamp ?? 0).map((o) => ({ partition: o.partition, offset: String(o.offset) }));
  }

  async setOffsets(r: { groupId: string; topic: string; partitions: { partition: number; offset: string }[] }): Promise<void> {
    if (this.log.group(r.groupId).members.length) throw new KafkaJSMemoryError('GROUP_NOT_EMPTY', `group ${r.groupId} has active members`);
    for (const p of r.partitions) this.log.commit(r.groupId, r.topic, p.partition, Number(p.offset));
  }

  async fetchOffsets(r: { groupId: string; topics: string[] }): Promise<{ topic: string; partitions: { partition: number; offset: string; metadata: string | null }[] }[]> {
    return r.topics.map((topic) => ({
      topic,
      partitions: this.log.bounds(topic).map(({ partition }) => {
        const c = this.log.committedOf(r.groupId, topic, partition);
        return { partition, offset: c ? String(c.offset) : '-1', metadata: c?.metadata ?? null };
      }),
    }));
  }

  async describeCluster(): Promise<{ brokers: { nodeId: number; host: string; port: number }[]; controller: number; clusterId: string }> {
    return { brokers: [{ nodeId: 0, host: 'memory', port: 0 }], controller: 0, clusterId: 'edgewave-embedded' };
  }

  async deleteGroups(groupIds: string[]): Promise<{ groupId: string; errorCode: number }[]> {
    for (const g of groupIds) this.log.deleteGroup(g);
    return groupIds.map((groupId) => ({ groupId, errorCode: 0 }));
  }
}
