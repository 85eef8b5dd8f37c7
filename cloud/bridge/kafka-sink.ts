// The bridge's Kafka side: records queue up in arrival order and go out in batches, one request in
// flight at a time per producer (the kafkajs idempotent producer is only safe that way, and it keeps
// every partition in arrival order); several producers each take a share of the keys. While a request is out, the next batch fills; an idle sink waits
// lingerMs for more, or sends at once when batchBytes is reached. In each request, the frames of
// records with the same topic, key and gateway are packed into as few Kafka records as
// maxRecordBytes allows, in arrival order: per-record costs (in kafkajs and in Kafka) are paid per
// group, not per MQTT message. Each queued record's callback runs when Kafka has acknowledged it
// (acks=all). A failed request is retried, with the records that came after it waiting behind it,
// until it succeeds or the sink is closed: nothing is acknowledged that Kafka does not have, and
// nothing is skipped.

import { CompressionTypes, type Message, type Producer, type TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';
import { BATCH_HEADER_BYTES, batchOfEncoded } from '../../protocol/index.js';

/**
 * What a record adds to a Kafka request: its value, key and headers, and about 24 bytes of lengths
 * and attributes. Headers count: a dead letter's reason and message can outweigh a small frame.
 */
export function recordBytes(key: string, valueBytes: number, headers: Record<string, string>): number {
  let n = 24 + key.length + valueBytes;
  for (const k in headers) n += 2 + k.length + headers[k]!.length;
  return n;
}

export interface SinkRecord {
  topic: string;
  key: string;
  /** Encoded frames that may be packed with other records' of the same topic, key and headers. */
  parts?: Uint8Array[];
  /** The record as it is, used when nothing is packed with it (required without parts). */
  value?: Uint8Array;
  /** Bytes the record adds to a request (`recordBytes`). */
  bytes: number;
  headers: Record<string, string>;
  /** Called once Kafka has acknowledged the record. */
  done: () => void;
}

export interface SinkOptions {
  lingerMs: number;
  batchBytes: number;
  maxRecordBytes: number;
  compression: 'none' | 'gzip';
  /** Each acknowledged request: Kafka records by topic, bytes, and how long it took. */
  onSent?: (recordsByTopic: Map<string, number>, bytes: number, seconds: number) => void;
  onError?: (err: Error, attempt: number) => void;
}

/** One producer's share: its own queue and one request in flight. */
class SinkLane {
  private queue: SinkRecord[] = [];
  private queuedBytes = 0;
  private sending: SinkRecord[] | undefined;
  private sendingSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private failures = 0;
  /** The last request's outcome, for /ready. */
  lastError: Error | undefined;

  constructor(
    private readonly producer: Producer,
    private readonly options: SinkOptions,
    private readonly log: Logger,
  ) {}

  /** Records queued or in flight. */
  get pending(): number {
    return this.queue.length + (this.sending?.length ?? 0);
  }

  /** Milliseconds the current request has been out (0 when none is). */
  get stalledMs(): number {
    return this.sending ? Date.now() - this.sendingSince : 0;
  }

  /**
   * The most bytes of records in one request. The broker's size limit (max.message.bytes) holds for
   * each partition's record batch, and all of a request's records may go to one partition (dead
   * letters of one gateway do), so a request stays within maxRecordBytes as well as batchBytes.
   */
  private get requestBytes(): number {
    return Math.min(this.options.batchBytes, this.options.maxRecordBytes);
  }

  add(record: SinkRecord): void {
    if (this.closed) throw new Error('the Kafka sink is closed');
    this.queue.push(record);
    this.queuedBytes += record.bytes;
    if (this.sending) return;
    if (this.queuedBytes >= this.requestBytes || this.options.lingerMs === 0) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.options.lingerMs);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || this.queue.length === 0 || this.closed) return;
    // Take up to requestBytes (at least one record).
    let n = 0;
    let bytes = 0;
    const limit = this.requestBytes;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= limit)) bytes += this.queue[n++]!.bytes;
    const batch = this.queue.splice(0, n);
    this.queuedBytes -= bytes;
    this.sending = batch;
    this.sendingSince = Date.now();
    void this.send(batch, bytes);
  }

  /** The Kafka messages of a request: records of one topic, key and headers packed together, in order. */
  private pack(batch: SinkRecord[]): { topicMessages: TopicMessages[]; byTopic: Map<string, number> } {
    const groups = new Map<string, SinkRecord[]>();
    const order: (SinkRecord | SinkRecord[])[] = [];
    for (const r of batch) {
      if (!r.parts) {
        order.push(r);
        continue;
      }
      const k = `${r.topic}\u0000${r.key}\u0000${Object.values(r.headers).join('\u0000')}`;
      let g = groups.get(k);
      if (!g) {
        groups.set(k, (g = []));
        order.push(g);
      }
      g.push(r);
    }
    const byTopic = new Map<string, TopicMessages>();
    const add = (topic: string, m: Message) => {
      let t = byTopic.get(topic);
      if (!t) byTopic.set(topic, (t = { topic, messages: [] }));
      t.messages.push(m);
    };
    const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    for (const item of order) {
      if (!Array.isArray(item)) {
        add(item.topic, { key: item.key, value: buf(item.value!), headers: item.headers });
        continue;
      }
      const first = item[0]!;
      if (item.length === 1 && first.value) {
        add(first.topic, { key: first.key, value: buf(first.value), headers: first.headers });
        continue;
      }
      // Whole frames, as batches of at most maxRecordBytes.
      let part: Uint8Array[] = [];
      let size = BATCH_HEADER_BYTES;
      const emit = () => {
        if (part.length) add(first.topic, { key: first.key, value: buf(batchOfEncoded(part)), headers: first.headers });
        part = [];
        size = BATCH_HEADER_BYTES;
      };
      for (const r of item) {
        for (const f of r.parts!) {
          if (part.length && size + 4 + f.length > this.options.maxRecordBytes) emit();
          part.push(f);
          size += 4 + f.length;
        }
      }
      emit();
    }
    const topicMessages = [...byTopic.values()];
    return { topicMessages, byTopic: new Map(topicMessages.map((t) => [t.topic, t.messages.length])) };
  }

  private async send(batch: SinkRecord[], bytes: number): Promise<void> {
    const { topicMessages, byTopic } = this.pack(batch);
    for (let attempt = 1; !this.closed; attempt++) {
      const t0 = performance.now();
      try {
        await this.producer.sendBatch({ topicMessages, acks: -1, compression: this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None });
        this.options.onSent?.(byTopic, bytes, (performance.now() - t0) / 1000);
        if (this.failures) this.log.info({ attempts: attempt, records: batch.length }, 'Kafka takes records again');
        this.failures = 0;
        this.lastError = undefined;
        break;
      } catch (err) {
        this.failures++;
        this.lastError = err as Error;
        this.options.onError?.(err as Error, attempt);
        // Say it once per outage; the rest at debug.
        (attempt === 1 ? this.log.warn : this.log.debug).call(this.log, { err: (err as Error).message, attempt, records: batch.length }, 'Kafka refused a batch; holding it (and acknowledging nothing after it) and trying again');
        if (attempt === 1 && (err as { type?: string }).type === 'MESSAGE_TOO_LARGE') {
          this.log.error({ bytes, maxRecordBytes: this.options.maxRecordBytes }, 'the broker takes smaller record batches than kafka.maxRecordBytes: set it below the topic\'s max.message.bytes (the bridge keeps trying, acknowledging nothing meanwhile)');
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
    this.sending = undefined;
    if (this.closed) return;
    for (const r of batch) r.done();
    // What came in meanwhile has waited a whole request already: it goes at once.
    if (this.queue.length) this.kick();
    if (!this.pending) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when everything queued so far is acknowledged, or after `ms`; true if all was. */
  async drain(ms: number): Promise<boolean> {
    if (!this.pending) return true;
    this.kick();
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Stops: records not yet acknowledged are left for the broker to deliver again. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.queue = [];
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

/**
 * Records go to one of several lanes, each an idempotent producer with one request in flight,
 * chosen by the record's key: a key (a sensor group) always takes the same lane, so its records
 * keep their order, while a slow request holds up only the keys of its lane.
 */
export class KafkaSink {
  private readonly lanes: SinkLane[];

  constructor(producers: Producer[], options: SinkOptions, log: Logger) {
    this.lanes = producers.map((p) => new SinkLane(p, options, log));
  }

  private lane(r: SinkRecord): SinkLane {
    let h = 2166136261;
    for (const s of [r.topic, r.key]) {
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
      h = Math.imul(h ^ 0, 16777619);
    }
    return this.lanes[(h >>> 0) % this.lanes.length]!;
  }

  add(record: SinkRecord): void {
    this.lane(record).add(record);
  }

  get pending(): number {
    return this.lanes.reduce((n, l) => n + l.pending, 0);
  }

  get stalledMs(): number {
    return Math.max(...this.lanes.map((l) => l.stalledMs));
  }

  get lastError(): Error | undefined {
    return this.lanes.find((l) => l.lastError)?.lastError;
  }

  async drain(ms: number): Promise<boolean> {
    return (await Promise.all(this.lanes.map((l) => l.drain(ms)))).every(Boolean);
  }

  close(): void {
    for (const l of this.lanes) l.close();
  }
}
