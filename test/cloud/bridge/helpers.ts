// Load and accounting for the bridge tests: gateways publishing batches of frames with per-sensor
// sequence numbers, and a Kafka reader that tells, per sensor, what arrived, what is missing, what
// came twice and whether first arrivals kept their order.

import { Kafka, logLevel, type Consumer } from 'kafkajs';
import mqtt from 'mqtt';
import { decodeBatchHeaders, decodeFrameHeader, encodeBatch, isBatch, isTick, type Frame } from '../../../protocol/index.js';
import { uniqueName } from '../../config.js';

export interface Load {
  gateways: number;
  sensorsPerGateway: number;
  groups: number;
  /** Frames per sensor, seq 0..perSensor-1. */
  perSensor: number;
}

export const totalFrames = (l: Load) => l.gateways * l.sensorsPerGateway * l.perSensor;

export function kafkaTopicsFor(prefix: string) {
  return { raw: `${prefix}.raw`, features: `${prefix}.features`, status: `${prefix}.status`, deadletter: `${prefix}.deadletter` };
}

export async function createTopics(brokers: string[], names: string[], partitions = 4): Promise<void> {
  const admin = new Kafka({ clientId: 'edgewave-test', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

const T0 = Date.now() * 1000;
function frame(gw: number, s: number, seq: number, l: Load): Frame {
  const sensor = gw * l.sensorsPerGateway + s;
  return {
    kind: 'raw', flags: 0, sensorId: `s-${sensor}`, gatewayId: `gw-${gw}`, group: `grp-${sensor % l.groups}`, seq, t0: T0 + seq * 20_000,
    sampleRate: 200, count: 4, width: 6, window: 0, hop: 0, layoutId: 1, data: new Float32Array(24).fill(seq % 1000),
  };
}

/**
 * Each gateway publishes, for seq 0, 1, …, one batch holding that seq of all its sensors, QoS 1, on
 * `<root>/<gateway>/batch`. `messagesPerS` paces the whole load (0: as fast as the broker takes it).
 */
export async function publishLoad(url: string, root: string, l: Load, messagesPerS = 0, onProgress?: (sentMessages: number) => void): Promise<number> {
  const clients = await Promise.all(Array.from({ length: l.gateways }, (_, g) => mqtt.connectAsync(url, { protocolVersion: 5, clientId: uniqueName(`gw-${g}`), reconnectPeriod: 200 })));
  let sent = 0;
  const start = performance.now();
  let outstanding: Promise<unknown>[] = [];
  try {
    for (let seq = 0; seq < l.perSensor; seq++) {
      for (let g = 0; g < l.gateways; g++) {
        const payload = encodeBatch(Array.from({ length: l.sensorsPerGateway }, (_, s) => frame(g, s, seq, l)));
        outstanding.push(clients[g]!.publishAsync(`${root}/gw-${g}/batch`, Buffer.from(payload), { qos: 1 }));
        sent++;
      }
      // A bounded number of publishes waiting for their PUBACK.
      if (outstanding.length >= 64) {
        await Promise.all(outstanding);
        outstanding = [];
      }
      onProgress?.(sent);
      if (messagesPerS > 0) {
        const ahead = (sent / messagesPerS) * 1000 - (performance.now() - start);
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      }
    }
    await Promise.all(outstanding);
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
  }
  return sent;
}

export interface Accounting {
  frames: number;
  unique: number;
  duplicates: number;
  missing: string[];
  outOfOrder: string[];
}

/** Reads every frame header from Kafka topics and keeps, per sensor, the seqs in arrival order. */
export class KafkaReader {
  readonly seqs = new Map<string, number[]>();
  readonly records: { topic: string; key: string; headers: Record<string, string>; value: Buffer }[] = [];
  frames = 0;
  /** The bridges' tick records read, by topic and partition (not in `records`). */
  readonly ticks = new Map<string, { count: number; intervalMs: string; at: number[] }>();
  private consumer: Consumer | undefined;

  constructor(
    private readonly brokers: string[],
    private readonly topics: string[],
    private readonly keepRecords = false,
  ) {}

  async start(): Promise<this> {
    const kafka = new Kafka({ clientId: 'edgewave-test-reader', brokers: this.brokers, logLevel: logLevel.NOTHING, retry: { retries: 50, maxRetryTime: 2000 } });
    this.consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100, retry: { retries: 50, maxRetryTime: 2000 } });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (isTick(m.headers)) {
            const k = `${batch.topic}:${batch.partition}`;
            const t = this.ticks.get(k) ?? { count: 0, intervalMs: String(m.headers!['ew-tick']), at: [] };
            t.count++;
            t.at.push(Number(m.timestamp));
            this.ticks.set(k, t);
            continue;
          }
          const v = m.value!;
          if (this.keepRecords) {
            const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, h]) => [k, String(h)]));
            this.records.push({ topic: batch.topic, key: String(m.key), headers, value: v });
          }
          // Dead letters hold whatever was refused: only frame topics are counted.
          if (batch.topic.endsWith('.deadletter') || batch.topic.endsWith('.status')) continue;
          for (const h of isBatch(v) ? decodeBatchHeaders(v, { maxFutureMs: Infinity }) : [decodeFrameHeader(v, { maxFutureMs: Infinity })]) {
            let list = this.seqs.get(h.sensorId);
            if (!list) this.seqs.set(h.sensorId, (list = []));
            list.push(h.seq);
            this.frames++;
          }
        }
      },
    });
    return this;
  }

  /** Waits until `pred` holds, or fails after timeoutMs saying what it saw. */
  async until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (read ${this.frames} frames, ${this.unique()} unique)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  unique(): number {
    let n = 0;
    for (const list of this.seqs.values()) n += new Set(list).size;
    return n;
  }

  /** Per-sensor accounting against the load: every seq present, first arrivals in order. */
  account(l: Load): Accounting {
    const missing: string[] = [];
    const outOfOrder: string[] = [];
    let duplicates = 0;
    for (let sensor = 0; sensor < l.gateways * l.sensorsPerGateway; sensor++) {
      const id = `s-${sensor}`;
      const list = this.seqs.get(id) ?? [];
      const seen = new Set<number>();
      let last = -1;
      for (const seq of list) {
        if (seen.has(seq)) {
          duplicates++;
          continue;
        }
        seen.add(seq);
        if (seq < last) outOfOrder.push(`${id}: ${seq} after ${last}`);
        last = Math.max(last, seq);
      }
      const gaps: number[] = [];
      for (let seq = 0; seq < l.perSensor; seq++) if (!seen.has(seq)) gaps.push(seq);
      if (gaps.length) missing.push(`${id}: ${gaps.length} missing, first ${gaps.slice(0, 5).join(',')}`);
    }
    return { frames: this.frames, unique: this.unique(), duplicates, missing, outOfOrder };
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
