// The Kafka connection every cloud component shares: its config keys (brokers, TLS, SASL), one
// schema, and one way to make the kafkajs client from them, with kafkajs's own log lines at debug
// (it reports each failed try as an error; components say once per outage what matters) and
// TCP_NODELAY, so requests go out whole instead of their tails waiting for a delayed ACK.

import net from 'node:net';
import tls from 'node:tls';
import { AssignerProtocol, Kafka, logLevel as kafkaLogLevel, type Consumer, type KafkaMessage, type PartitionAssigner, type RetryOptions, type SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { EdgewaveError, type Logger } from '../../protocol/index.js';
import { tlsOptions, type TlsFiles } from '../../protocol/node-support.js';
import { cacheCoordinators } from './coordinator-cache.js';

export const tlsSchema = z.strictObject({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional(), rejectUnauthorized: z.boolean().default(true) });

/**
 * A dead letter's value: the refused bytes, cut to leave 4 KiB of the record limit for its key and
 * headers (its `ew-bytes` header says how long the original was). A dead letter over the broker's
 * limit would be refused, and the input behind it never get past it.
 */
export const deadLetterValue = <T extends Uint8Array>(bytes: T, maxRecordBytes: number): T => (bytes.length > maxRecordBytes - 4096 ? (bytes.subarray(0, maxRecordBytes - 4096) as T) : bytes);

/** Which of these topics Kafka does not have. */
export async function missingTopics(kafka: Kafka, names: readonly string[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    return [...new Set(names)].filter((t) => !have.has(t));
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The error for topics Kafka does not have (`EW_KAFKA_TOPICS`), naming them. */
export function missingTopicsError(missing: readonly string[]): EdgewaveError {
  return new EdgewaveError('EW_KAFKA_TOPICS', `Kafka has no topic ${missing.join(', ')}: create ${missing.length > 1 ? 'them' : 'it'} first (the Helm chart does, with their settings), or name the ones to use in kafka.topics`, { details: { missing: [...missing] } });
}

/**
 * Refuses to start on topics that do not exist, naming them (`EW_KAFKA_TOPICS`): a broker that
 * creates topics on first use would make them with its defaults (the changelog not compacted), and
 * one that does not answers a subscription with an error kafkajs does not retry.
 */
export async function requireTopics(kafka: Kafka, names: readonly string[]): Promise<void> {
  const missing = await missingTopics(kafka, names);
  if (missing.length) throw missingTopicsError(missing);
}

/** The connection keys of a component's `kafka` section. */
export const kafkaConnection = {
  brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port')).min(1).describe('bootstrap servers, host:port'),
  ssl: tlsSchema.optional().describe('TLS to the brokers (file paths of PEM certificates)'),
  sasl: z.strictObject({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), username: z.string(), password: z.string() }).optional(),
};

export interface KafkaConnection {
  clientId: string;
  brokers: readonly string[];
  ssl?: TlsFiles | undefined;
  sasl?: { mechanism: string; username: string; password: string } | undefined;
}

/** A kafkajs client that keeps its coordinators (coordinator-cache.ts). */
export function createKafka(c: KafkaConnection, log: Logger, retry: RetryOptions): Kafka {
  return cacheCoordinators(new Kafka({
    clientId: c.clientId,
    brokers: [...c.brokers],
    ...(c.ssl ? { ssl: tlsOptions(c.ssl) } : {}),
    ...(c.sasl ? { sasl: { ...c.sasl } as SASLOptions } : {}),
    retry,
    socketFactory: ({ host, port, ssl, onConnect }) => {
      const socket = ssl ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect) : net.connect({ host, port }, onConnect);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      return socket;
    },
    logLevel: kafkaLogLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, ...rest } = entry;
      if (level <= kafkaLogLevel.WARN) log.debug({ kafkajs: rest }, message);
    },
  }));
}

/**
 * A consumer's session timeout and the heartbeat interval that goes with it: heartbeats five times
 * per session timeout (at most every 3 s), so one lost heartbeat never costs the member its
 * partitions. Without a timeout, kafkajs's defaults (30 s, 3 s).
 */
export function consumerTimeouts(sessionTimeoutMs: number | undefined): { sessionTimeout?: number; heartbeatInterval?: number } {
  return sessionTimeoutMs ? { sessionTimeout: sessionTimeoutMs, heartbeatInterval: Math.min(3000, Math.floor(sessionTimeoutMs / 5)) } : {};
}

const ONE_PARTITION_ASSIGNER_NAME = 'EdgewaveOnePartition';

/**
 * A partition assigner for a one-off reader of one partition: its group's first member (by id)
 * gets partition `partition` of every topic it subscribes to, and no one gets anything else.
 * kafkajs reads only through a group, and a group's default assigner hands its only member every
 * partition, which it then fetches; with this one the reader fetches the partition it wants alone.
 */
export function onePartitionAssigner(partition: number): PartitionAssigner {
  return () => ({
    name: ONE_PARTITION_ASSIGNER_NAME,
    version: 0,
    async assign({ members, topics }) {
      const first = members.map((m) => m.memberId).sort()[0];
      return members.map(({ memberId }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: memberId === first ? Object.fromEntries(topics.map((t) => [t, [partition]])) : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return { name: ONE_PARTITION_ASSIGNER_NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

/**
 * Reads the records of one partition from `from` up to, not including, `upTo`, in order, with a
 * consumer group of its own that is given that partition alone (`onePartitionAssigner`) and
 * deleted afterwards. Fails when the range is not read within `timeoutMs`, or when `signal`
 * aborts. Returns how many records it read.
 */
export async function readRange(kafka: Kafka, r: { groupId: string; topic: string; partition: number; from: number; upTo: number; timeoutMs: number; signal?: AbortSignal; onRecord: (msg: KafkaMessage, offset: number) => void }): Promise<number> {
  if (!(r.upTo > r.from)) return 0;
  const reader = kafka.consumer({ groupId: r.groupId, partitionAssigners: [onePartitionAssigner(r.partition)], maxWaitTimeInMs: 100 });
  let records = 0;
  await reader.connect();
  try {
    await reader.subscribe({ topic: r.topic, fromBeginning: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${r.topic}[${r.partition}] was not read from ${r.from} to ${r.upTo} within ${r.timeoutMs / 1000} s`)), r.timeoutMs);
      r.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error(`reading ${r.topic}[${r.partition}] was stopped`));
      }, { once: true });
      let next = r.from;
      reader
        // A one-off group (deleted after): no commit after each batch in the way of the next.
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (batch.partition !== r.partition) return; // never, with the assigner above
            for (const msg of batch.messages) {
              const offset = Number(msg.offset);
              if (offset !== next) continue;
              next++;
              records++;
              r.onRecord(msg, offset);
              if (next >= r.upTo) {
                clearTimeout(timer);
                return resolve();
              }
            }
          },
        })
        .then(() => reader.seek({ topic: r.topic, partition: r.partition, offset: String(r.from) }))
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err as Error);
        });
    });
  } finally {
    await closeReader(kafka, reader, r.groupId);
  }
  return records;
}

/**
 * Commits a consumer's positions off its fetch path. With `autoCommit` on, kafkajs commits after
 * every batch and waits for the answer before it fetches again: a round trip to the group
 * coordinator (a write to `__consumer_offsets`, with a busy broker's queue before it) in the way of
 * every record behind the batch. A reader run with `autoCommit: false` that hands each batch's next
 * offset to `mark` has it committed while it goes on reading: one commit in flight at a time, the
 * newest positions in the next. After a restart or a rebalance the group resumes up to the batches
 * of one commit's round trip earlier (after a failed commit, from the last one that went through),
 * so its reader must take records read twice, as the live feed does.
 */
export function offsetCommitter(consumer: Pick<Consumer, 'commitOffsets'>, log: Logger, name: string): { mark(topic: string, partition: number, next: string): void; flush(): Promise<void>; readonly commits: number; readonly failures: number } {
  const due = new Map<string, { topic: string; partition: number; offset: string }>();
  let inFlight: Promise<void> | null = null;
  let commits = 0;
  let failures = 0;
  const send = (): Promise<void> => {
    const list = [...due.values()];
    due.clear();
    return consumer.commitOffsets(list).then(
      () => {
        commits++;
        // Positions marked while this one was on its way go in the next.
        inFlight = due.size ? send() : null;
      },
      (err: unknown) => {
        // A rebalance under way, or the broker gone: these positions wait for the next batch's
        // mark (no retry of its own, which would spin through an outage); a group that resumes
        // before then starts a little earlier.
        failures++;
        for (const x of list) {
          const key = `${x.topic}\u0000${x.partition}`;
          if (!due.has(key)) due.set(key, x);
        }
        inFlight = null;
        log.debug({ reader: name, err: (err as Error).message }, 'offsets not committed; the next commit carries them');
      },
    );
  };
  return {
    mark(topic, partition, next) {
      due.set(`${topic}\u0000${partition}`, { topic, partition, offset: next });
      inFlight ??= send();
    },
    async flush() {
      while (inFlight) await inFlight;
    },
    get commits() {
      return commits;
    },
    get failures() {
      return failures;
    },
  };
}

/** Disconnects a one-off reader and deletes its consumer group. */
export async function closeReader(kafka: Kafka, reader: Consumer, groupId: string): Promise<void> {
  await reader.disconnect().catch(() => {});
  const admin = kafka.admin();
  await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => {});
  await admin.disconnect().catch(() => {});
}

/** A partition a reader had not read to the end of when asked to (`untilRead`). */
export interface Behind {
  topic: string;
  partition: number;
  /** The offset after the last record the reader took, and the partition's end when asked. */
  at: string;
  end: string;
}

/**
 * Waits until a consumer group's reader has taken every record the partitions of `topics` hold
 * when called: it is where `readTo(topic, partition)` says (the offset after the last record it
 * took in this process; undefined for none), or at the group's committed offset if that is further.
 * For the in-process log, which is gone after a stop: what a reader leaves in it then is never
 * read. Gives up after `timeoutMs` and resolves with the partitions still behind (none when it
 * caught up).
 */
export async function untilRead(kafka: Kafka, groupId: string, topics: readonly string[], readTo: (topic: string, partition: number) => bigint | undefined, timeoutMs: number): Promise<Behind[]> {
  const deadline = Date.now() + timeoutMs;
  const admin = kafka.admin();
  await admin.connect();
  let ends: { topic: string; partition: number; end: bigint; committed: bigint }[] = [];
  try {
    const committed = new Map<string, bigint>();
    for (const t of await admin.fetchOffsets({ groupId, topics: [...topics] })) for (const p of t.partitions) committed.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > BigInt(p.low)) ends.push({ topic, partition: p.partition, end: BigInt(p.high), committed: committed.get(`${topic}:${p.partition}`) ?? -1n });
      }
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
  const behind = () => {
    const out: Behind[] = [];
    for (const e of ends) {
      const read = readTo(e.topic, e.partition);
      const at = read !== undefined && read > e.committed ? read : e.committed;
      if (at < e.end) out.push({ topic: e.topic, partition: e.partition, at: String(at), end: String(e.end) });
    }
    return out;
  };
  for (let left = behind(); ; left = behind()) {
    if (!left.length || Date.now() >= deadline) return left;
    ends = ends.filter((e) => left.some((b) => b.topic === e.topic && b.partition === e.partition));
    await new Promise((r) => setTimeout(r, 20));
  }
}
