// The durable outbox: every frame is appended to an on-disk log before it is published and leaves
// only after the broker acknowledged it. It survives restarts (SIGKILL and power cuts included:
// torn tails are cut at the last record whose CRC holds), keeps append order, and is bounded by
// bytes: when full, it drops the oldest raw records first, then features, then anything else; every
// drop is counted and reported.
//
// Files in the directory:
//   <first id, 16 digits>.seg  segments of records (record.ts), appended in id order
//   state.json                  ids that are done (acked or dropped): every id below `below`, plus
//                               ranges above it; written atomically, at most every `stateIntervalMs`
// While the outbox is open, no fsync, state write or segment removal runs on the agent's thread:
// they wait on the file system's journal, which other processes' writes can hold for tens of
// milliseconds, and the thread also cuts and publishes the frames.
// Losing the latest state on a crash only means some acked records are published again, which
// downstream de-duplication by (sensorId, seq) absorbs; a record is never lost.

import { close as closeFd, closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, unlink, write, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicAsync } from '../atomic-write.js';
import { EdgeError } from '../errors.js';
import { decodeBody, encodeRecord, encodedLength, scanRecords, type OutboxRecord, type RecordKind } from './record.js';

export type FsyncPolicy = 'batch' | 'interval' | 'none';

export interface OutboxOptions {
  /** Most bytes of records not yet acknowledged; beyond it the drop policy applies. */
  maxBytes: number;
  /** A new segment file starts past this size. */
  segmentBytes?: number;
  /** batch: each append is on disk before it resolves; interval: fsync every fsyncIntervalMs; none: leave it to the OS. */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** How often the done ids are written to state.json. */
  stateIntervalMs?: number;
  /** Records appended in this run kept in memory for publishing without a read. */
  cacheBytes?: number;
  /** Told when a background fsync or state write fails (the next one tries again). */
  onError?: (err: Error) => void;
  /** Told about every drop (the agent logs it and counts it in metrics). */
  onDrop?: (drop: { kind: RecordKind; records: number; bytes: number; oldestId: number; newestId: number }) => void;
}

export interface OutboxStats {
  depthRecords: number;
  depthBytes: number;
  inFlight: number;
  appended: Record<RecordKind, number>;
  acked: number;
  dropped: Record<RecordKind, number>;
  droppedBytes: Record<RecordKind, number>;
  fsyncs: number;
  segments: number;
  recovered: number;
  truncatedBytes: number;
}

export interface AppendItem {
  kind: RecordKind;
  topic: string;
  payload: Uint8Array;
}

interface Segment {
  firstId: number;
  path: string;
  size: number;
  live: number;
  read?: Promise<FileHandle>;
}

interface Entry {
  id: number;
  kind: RecordKind;
  segment: Segment;
  offset: number;
  length: number;
  topicLength: number;
  inFlight: boolean;
}

const SEGMENT_NAME = /^(\d{16})\.seg$/;
const segmentName = (firstId: number) => `${String(firstId).padStart(16, '0')}.seg`;
const zeroKinds = (): Record<RecordKind, number> => ({ raw: 0, features: 0, other: 0 });

export class Outbox {
  private readonly entries = new Map<number, Entry>();
  /** Ids not in flight, oldest first; entries no longer in `entries` are skipped. */
  private queue: number[] = [];
  private head = 0;
  private readonly done = new Set<number>();
  private below = 0;
  private nextId = 0;
  private segments: Segment[] = [];
  private active!: Segment;
  private activeFd = -1;
  private readonly cache = new Map<number, Buffer>();
  private cacheSize = 0;
  private bytes = 0;
  private inFlightCount = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private stateDirty = false;
  /** The state write in progress (one at a time: each replaces the file through the same temporary). */
  private stateWrite: Promise<void> | null = null;
  /** fsyncs and the closing of finished segments, one after another on libuv's pool. */
  private syncChain: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly counters: Omit<OutboxStats, 'depthRecords' | 'depthBytes' | 'inFlight' | 'segments'> = {
    appended: zeroKinds(), acked: 0, dropped: zeroKinds(), droppedBytes: zeroKinds(), fsyncs: 0, recovered: 0, truncatedBytes: 0,
  };
  private readonly options: Required<Omit<OutboxOptions, 'onDrop' | 'onError'>> & Pick<OutboxOptions, 'onDrop' | 'onError'>;

  private constructor(readonly dir: string, options: OutboxOptions) {
    this.options = { segmentBytes: 8 * 2 ** 20, fsync: 'batch', fsyncIntervalMs: 100, stateIntervalMs: 500, cacheBytes: 16 * 2 ** 20, ...options };
  }

  /** Opens (creating if needed) the outbox in `dir` and recovers what an earlier run left. */
  static open(dir: string, options: OutboxOptions): Outbox {
    const o = new Outbox(dir, options);
    o.recover();
    if (o.options.fsync === 'interval') {
      // One interval sync at a time: when the disk is slower than the interval, they do not queue up.
      let syncing = false;
      o.timers.push(setInterval(() => {
        if (syncing) return;
        syncing = true;
        o.syncNow()
          .catch((err: unknown) => o.backgroundError(err))
          .finally(() => {
            syncing = false;
          });
      }, o.options.fsyncIntervalMs).unref());
    }
    o.timers.push(setInterval(() => o.writeStateInBackground(), o.options.stateIntervalMs).unref());
    return o;
  }

  private recover(): void {
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new EdgeError('EW_EDGE_OUTBOX', `cannot create the outbox directory ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    const state = this.readState();
    this.below = state.below;
    for (const [a, b] of state.ranges) for (let id = a; id <= b; id++) this.done.add(id);
    const names = readdirSync(this.dir).filter((n) => SEGMENT_NAME.test(n)).sort();
    let maxId = this.below - 1;
    for (const name of names) {
      const path = join(this.dir, name);
      const bytes = readFileSync(path);
      const scan = scanRecords(bytes);
      if (scan.problem) {
        // A torn append: keep what is whole, cut the rest.
        writeFileSync(path, bytes.subarray(0, scan.validEnd));
        this.counters.truncatedBytes += bytes.length - scan.validEnd;
      }
      const segment: Segment = { firstId: Number(SEGMENT_NAME.exec(name)![1]), path, size: scan.validEnd, live: 0 };
      for (const r of scan.records) {
        maxId = Math.max(maxId, r.id);
        if (r.id < this.below || this.done.has(r.id)) continue;
        this.entries.set(r.id, { id: r.id, kind: r.kind, segment, offset: r.offset, length: r.length, topicLength: r.topicLength, inFlight: false });
        this.queue.push(r.id);
        this.bytes += r.length;
        segment.live++;
        this.counters.recovered++;
      }
      this.segments.push(segment);
    }
    this.nextId = maxId + 1;
    // Ids below the first live one are all done.
    this.advanceBelow();
    for (const s of this.segments.slice(0, -1)) if (s.live === 0) this.removeSegment(s);
    const last = this.segments.at(-1);
    if (last && last.size < this.options.segmentBytes) {
      this.active = last;
      this.activeFd = openSync(last.path, 'r+');
    } else {
      this.startSegment();
    }
    this.writeState();
  }

  private readState(): { below: number; ranges: [number, number][] } {
    try {
      const s = JSON.parse(readFileSync(join(this.dir, 'state.json'), 'utf8')) as { below?: unknown; ranges?: unknown };
      if (typeof s.below === 'number' && Array.isArray(s.ranges)) return { below: s.below, ranges: s.ranges as [number, number][] };
    } catch {
      // No state yet, or a torn write: every record on disk counts as not done (a re-send, never a loss).
    }
    return { below: 0, ranges: [] };
  }

  /** Writes the state now, on this thread (at open and at close). */
  private writeState(): void {
    this.stateDirty = false;
    writeFileAtomic(join(this.dir, 'state.json'), this.stateText());
  }

  /** Writes the state, if it changed, off this thread; skipped while the previous write runs. */
  private writeStateInBackground(): void {
    if (!this.stateDirty || this.stateWrite || this.closed) return;
    this.stateDirty = false;
    this.stateWrite = writeFileAtomicAsync(join(this.dir, 'state.json'), this.stateText())
      .catch((err: unknown) => this.backgroundError(err))
      .finally(() => {
        this.stateWrite = null;
      });
  }

  private stateText(): string {
    const ids = [...this.done].filter((id) => id >= this.below).sort((a, b) => a - b);
    const ranges: [number, number][] = [];
    for (const id of ids) {
      const last = ranges.at(-1);
      if (last && last[1] === id - 1) last[1] = id;
      else ranges.push([id, id]);
    }
    return JSON.stringify({ below: this.below, ranges });
  }

  private backgroundError(err: unknown): void {
    this.stateDirty = true;
    this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private startSegment(): void {
    if (this.activeFd >= 0) {
      // The finished segment is made durable and closed in the background, after any sync of it
      // already asked for.
      const old = this.activeFd;
      this.syncChain = this.syncChain
        .then(() => datasync(old))
        .catch((err: unknown) => this.backgroundError(err))
        .then(() => new Promise<void>((resolve) => closeFd(old, () => resolve())));
    }
    const segment: Segment = { firstId: this.nextId, path: join(this.dir, segmentName(this.nextId)), size: 0, live: 0 };
    this.activeFd = openSync(segment.path, 'w');
    this.segments.push(segment);
    this.active = segment;
  }

  /**
   * Appends records (one batch) and resolves with their ids once they are on disk as the fsync
   * policy says. When the bound would be passed, older records are dropped first (raw, then
   * features, then other); a batch larger than the whole bound is refused with EW_EDGE_OUTBOX.
   */
  append(items: readonly AppendItem[]): Promise<number[]> {
    const run = this.chain.then(() => this.appendNow(items));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async appendNow(items: readonly AppendItem[]): Promise<number[]> {
    if (this.closed) throw new EdgeError('EW_EDGE_OUTBOX', 'the outbox is closed');
    const topics = items.map((i) => Buffer.from(i.topic, 'utf8'));
    const sizes = items.map((item, k) => encodedLength(topics[k]!.length, item.payload.length));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > this.options.maxBytes) {
      throw new EdgeError('EW_EDGE_OUTBOX', `a batch of ${total} bytes is larger than the outbox bound maxBytes ${this.options.maxBytes}`);
    }
    if (this.bytes + total > this.options.maxBytes) this.dropToFit(this.bytes + total - this.options.maxBytes);
    if (this.active.size > 0 && this.active.size + total > this.options.segmentBytes) this.startSegment();
    const buf = Buffer.allocUnsafe(total);
    const ids: number[] = [];
    let at = 0;
    items.forEach((item, k) => {
      const id = this.nextId++;
      encodeRecord(buf, at, id, item.kind, topics[k]!, item.payload);
      ids.push(id);
      at += sizes[k]!;
    });
    const segment = this.active;
    const base = segment.size;
    let written = 0;
    while (written < buf.length) written += await writeAt(this.activeFd, buf.subarray(written), base + written);
    segment.size += buf.length;
    if (this.options.fsync === 'batch') await this.syncNow();
    at = 0;
    items.forEach((item, k) => {
      const id = ids[k]!;
      this.entries.set(id, { id, kind: item.kind, segment, offset: base + at, length: sizes[k]!, topicLength: topics[k]!.length, inFlight: false });
      this.queue.push(id);
      this.bytes += sizes[k]!;
      segment.live++;
      this.counters.appended[item.kind]++;
      this.cacheRecord(id, buf.subarray(at, at + sizes[k]!));
      at += sizes[k]!;
    });
    return ids;
  }

  private async syncNow(): Promise<void> {
    const fd = this.activeFd;
    if (fd < 0) return;
    const run = this.syncChain.then(() => datasync(fd));
    this.syncChain = run.catch(() => undefined);
    await run;
    this.counters.fsyncs++;
  }

  private cacheRecord(id: number, bytes: Buffer): void {
    this.cache.set(id, bytes);
    this.cacheSize += bytes.length;
    for (const [old, b] of this.cache) {
      if (this.cacheSize <= this.options.cacheBytes) break;
      this.cache.delete(old);
      this.cacheSize -= b.length;
    }
  }

  /** Drops the oldest records not in flight, raw first, then features, then other, until `need` bytes are free. */
  private dropToFit(need: number): void {
    for (const kind of ['raw', 'features', 'other'] as const) {
      let freed = 0;
      let records = 0;
      let oldestId = -1;
      let newestId = -1;
      for (const e of this.entries.values()) {
        if (need <= 0) break;
        if (e.kind !== kind || e.inFlight) continue;
        this.finish(e);
        need -= e.length;
        freed += e.length;
        records++;
        if (oldestId < 0) oldestId = e.id;
        newestId = e.id;
      }
      if (records) {
        this.counters.dropped[kind] += records;
        this.counters.droppedBytes[kind] += freed;
        this.options.onDrop?.({ kind, records, bytes: freed, oldestId, newestId });
      }
      if (need <= 0) return;
    }
  }

  /**
   * Up to `max` records not yet handed out, oldest first, marked in flight: publish them and call
   * `ack` on the broker's acknowledgement, or `release` when the send failed.
   */
  async take(max: number): Promise<OutboxRecord[]> {
    const picked: Entry[] = [];
    while (picked.length < max && this.head < this.queue.length) {
      const e = this.entries.get(this.queue[this.head++]!);
      if (e && !e.inFlight) picked.push(e);
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    for (const e of picked) e.inFlight = true;
    this.inFlightCount += picked.length;
    return Promise.all(picked.map((e) => this.load(e)));
  }

  private async load(e: Entry): Promise<OutboxRecord> {
    let bytes = this.cache.get(e.id);
    if (!bytes) {
      const fh = await (e.segment.read ??= open(e.segment.path, 'r'));
      bytes = Buffer.allocUnsafe(e.length);
      await fh.read(bytes, 0, e.length, e.offset);
    }
    const { topic, payload } = decodeBody(bytes, e.topicLength);
    return { id: e.id, kind: e.kind, topic, payload };
  }

  /** The broker has the record: it leaves the outbox. */
  ack(id: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.counters.acked++;
    this.finish(e);
  }

  /** The records could not be sent: they go back, in order, ahead of everything not yet taken. */
  release(ids: readonly number[]): void {
    const back = ids.filter((id) => this.entries.get(id)?.inFlight).sort((a, b) => a - b);
    for (const id of back) this.entries.get(id)!.inFlight = false;
    this.inFlightCount -= back.length;
    if (back.length) {
      this.queue = [...back, ...this.queue.slice(this.head)];
      this.head = 0;
    }
  }

  /** Every record in flight goes back (after a disconnect). */
  releaseAll(): void {
    this.release([...this.entries.values()].filter((e) => e.inFlight).map((e) => e.id));
  }

  private finish(e: Entry): void {
    this.entries.delete(e.id);
    if (e.inFlight) this.inFlightCount--;
    this.bytes -= e.length;
    const cached = this.cache.get(e.id);
    if (cached) {
      this.cache.delete(e.id);
      this.cacheSize -= cached.length;
    }
    this.done.add(e.id);
    this.stateDirty = true;
    this.advanceBelow();
    if (--e.segment.live === 0 && e.segment !== this.active) this.removeSegment(e.segment);
  }

  private advanceBelow(): void {
    const first = this.entries.keys().next();
    const next = first.done ? this.nextId : first.value;
    if (next - this.below > this.done.size) {
      for (const id of this.done) if (id < next) this.done.delete(id);
    } else {
      for (let id = this.below; id < next; id++) this.done.delete(id);
    }
    this.below = Math.max(this.below, next);
  }

  private removeSegment(s: Segment): void {
    this.segments = this.segments.filter((x) => x !== s);
    void s.read?.then((fh) => fh.close()).catch(() => undefined);
    // Off this thread; one left behind by a crash holds only finished records, removed at the next open.
    unlink(s.path, () => {});
  }

  stats(): OutboxStats {
    return { depthRecords: this.entries.size, depthBytes: this.bytes, inFlight: this.inFlightCount, segments: this.segments.length, ...structuredClone(this.counters) };
  }

  /** Ids of every record still waiting, oldest first (for tests and status). */
  pendingIds(): number[] {
    return [...this.entries.keys()];
  }

  /** Waits for appends, syncs, writes the state and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.syncChain;
    await this.stateWrite;
    if (this.activeFd >= 0) {
      fsyncSync(this.activeFd);
      closeSync(this.activeFd);
      this.activeFd = -1;
    }
    this.writeState();
    await Promise.all(this.segments.map((s) => s.read?.then((fh) => fh.close()).catch(() => undefined)));
  }
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

function writeAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}
