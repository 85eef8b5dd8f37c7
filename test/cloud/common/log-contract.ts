// The log contract: what edgewave's components rely on from Kafka, as scenarios run against real
// Kafka (kafka-contract.int.test.ts) and against the embedded mode's in-process log
// (memory-kafka.test.ts). Keys to partitions as kafkajs's default partitioner puts them, order per
// partition; read_committed readers see committed transactions only, with the offsets sent in
// them; a second producer with the same transactional id fences the first; committed offsets (and
// their metadata) are where a group resumes; offsets set before a group runs, by time or by value;
// seek; a group's members share the partitions.

import { Partitioners, type Kafka, type KafkaMessage } from 'kafkajs';
import { expect, it } from 'vitest';

export interface LogUnderTest {
  /** A client: real kafkajs or the memory log, seen through kafkajs's types. */
  kafka: Kafka;
  /** A fresh name for topics and groups. */
  name(prefix: string): string;
  createTopic(topic: string, partitions: number): Promise<void>;
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads a topic into `out` (with its partition) until stopped. */
async function reader(kafka: Kafka, topic: string, groupId: string, out: { partition: number; m: KafkaMessage }[], readUncommitted = false) {
  const c = kafka.consumer({ groupId, readUncommitted, maxWaitTimeInMs: 50 });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({ eachBatch: async ({ batch }) => void out.push(...batch.messages.map((m) => ({ partition: batch.partition, m }))) });
  return c;
}

export function logContract(get: () => LogUnderTest): void {
  it('keys go to the partition kafkajs\'s default partitioner names, in order per partition', async () => {
    const { kafka, name, createTopic } = get();
    const topic = name('keys');
    await createTopic(topic, 4);
    const producer = kafka.producer();
    await producer.connect();
    const keys = ['g0', 'g1', 'g2', 'g3', 'g4', 'gateway-a', 'x'];
    for (let i = 0; i < 70; i++) await producer.send({ topic, messages: [{ key: keys[i % keys.length]!, value: String(i) }] });
    await producer.disconnect();
    const got: { partition: number; m: KafkaMessage }[] = [];
    const c = await reader(kafka, topic, name('keys-group'), got);
    try {
      await until(() => got.length === 70, 20_000, 'the records');
      const partitioner = Partitioners.DefaultPartitioner();
      const meta = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
      for (const { partition, m } of got) expect(partition, m.key!.toString()).toBe(partitioner({ topic, partitionMetadata: meta, message: { key: m.key, value: m.value } }));
      for (const k of keys) {
        const values = got.filter((x) => x.m.key!.toString() === k).map((x) => Number(x.m.value!.toString()));
        expect(values).toEqual([...values].sort((a, b) => a - b));
        expect(values).toHaveLength(10);
      }
    } finally {
      await c.disconnect();
    }
  });

  it('read_committed readers see committed transactions only, and offsets sent in a transaction are committed with it', async () => {
    const { kafka, name, createTopic } = get();
    const topic = name('tx');
    const group = name('tx-offsets');
    await createTopic(topic, 1);
    const p = kafka.producer({ transactionalId: name('tx-id'), idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const committed: { partition: number; m: KafkaMessage }[] = [];
    const everything: { partition: number; m: KafkaMessage }[] = [];
    const c1 = await reader(kafka, topic, name('rc'), committed);
    const c2 = await reader(kafka, topic, name('ru'), everything, true);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const t1 = await p.transaction();
      await t1.send({ topic, messages: [{ key: 'k', value: 'a1' }, { key: 'k', value: 'a2' }] });
      await t1.abort();
      const t2 = await p.transaction();
      await t2.send({ topic, messages: [{ key: 'k', value: 'c1' }] });
      await t2.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] });
      // Open: a read_uncommitted reader sees it, a read_committed one does not yet, and its offsets are not committed.
      await until(() => everything.some((x) => x.m.value!.toString() === 'c1'), 20_000, 'the open transaction\'s record at the read_uncommitted reader');
      await new Promise((r) => setTimeout(r, 300));
      expect(committed).toEqual([]);
      const [before] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      expect(before!.partitions[0]!.offset).toBe('-1');
      await t2.commit();
      await until(() => committed.length === 1, 20_000, 'the committed record');
      await new Promise((r) => setTimeout(r, 300));
      expect(committed.map((x) => x.m.value!.toString())).toEqual(['c1']);
      const [after] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      expect(after!.partitions[0]!.offset).toBe('7');
    } finally {
      await Promise.all([c1.disconnect(), c2.disconnect(), p.disconnect(), admin.disconnect()]);
    }
  });

  it('a producer that connects with the same transactional id fences the first: its open transaction is aborted and its next call fails', async () => {
    const { kafka, name, createTopic } = get();
    const topic = name('fence');
    await createTopic(topic, 1);
    const id = name('fence-id');
    const a = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
    await a.connect();
    const ta = await a.transaction();
    await ta.send({ topic, messages: [{ value: 'from-a' }] });
    const b = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
    await b.connect();
    const tb = await b.transaction();
    await tb.send({ topic, messages: [{ value: 'from-b' }] });
    await tb.commit();
    await expect(ta.commit()).rejects.toThrow(/epoch|fenced/i);
    const got: { partition: number; m: KafkaMessage }[] = [];
    const c = await reader(kafka, topic, name('fence-read'), got);
    try {
      await until(() => got.length >= 1, 20_000, 'the committed record');
      await new Promise((r) => setTimeout(r, 300));
      expect(got.map((x) => x.m.value!.toString())).toEqual(['from-b']);
    } finally {
      await Promise.all([c.disconnect(), a.disconnect().catch(() => {}), b.disconnect()]);
    }
  });

  it('a group resumes at its committed offsets, with their metadata; offsets can be set before it runs, by value or by time; seek reads again', async () => {
    const { kafka, name, createTopic } = get();
    const topic = name('resume');
    await createTopic(topic, 1);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: String(i) })) });
    const admin = kafka.admin();
    await admin.connect();
    const group = name('resume-group');
    try {
      // Committed with metadata, then a new member of the group starts there.
      const first = kafka.consumer({ groupId: group, maxWaitTimeInMs: 50 });
      await first.connect();
      await first.subscribe({ topic, fromBeginning: true });
      let seen = 0;
      await first.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          seen += batch.messages.length;
          await first.commitOffsets([{ topic, partition: 0, offset: '4', metadata: 'plan:6' }]);
        },
      });
      await until(() => seen >= 10, 20_000, 'the first read');
      await first.disconnect();
      const [o] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      expect(o!.partitions[0]).toMatchObject({ offset: '4', metadata: 'plan:6' });
      const again: { partition: number; m: KafkaMessage }[] = [];
      const second = await reader(kafka, topic, group, again);
      await until(() => again.length >= 6, 20_000, 'the resumed read');
      expect(again.map((x) => x.m.value!.toString())).toEqual(['4', '5', '6', '7', '8', '9']);
      // Seek: back to 8.
      second.seek({ topic, partition: 0, offset: '8' });
      await until(() => again.length >= 8, 20_000, 'the records after the seek');
      expect(again.slice(6).map((x) => x.m.value!.toString())).toEqual(['8', '9']);
      await second.disconnect();

      // Set before the group runs: by value, and by time (records written after a moment).
      const t = Date.now();
      await new Promise((r) => setTimeout(r, 20));
      await producer.send({ topic, messages: [{ value: 'late-1' }, { value: 'late-2' }] });
      const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, t);
      expect(byTime).toEqual([{ partition: 0, offset: '10' }]);
      const [bounds] = await admin.fetchTopicOffsets(topic);
      expect(bounds).toMatchObject({ partition: 0, low: '0', high: '12' });
      const fresh = name('set-group');
      await admin.setOffsets({ groupId: fresh, topic, partitions: byTime });
      const late: { partition: number; m: KafkaMessage }[] = [];
      const third = await reader(kafka, topic, fresh, late);
      await until(() => late.length >= 2, 20_000, 'the records from the set offset');
      expect(late.map((x) => x.m.value!.toString())).toEqual(['late-1', 'late-2']);
      await third.disconnect();
    } finally {
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
  });

  it('members of one group share the partitions: each to exactly one, every one to some, told on joining', async () => {
    const { kafka, name, createTopic } = get();
    const topic = name('share');
    await createTopic(topic, 4);
    const group = name('share-group');
    const assigned: Record<string, number[]>[] = [{}, {}];
    const members = [0, 1].map((i) => {
      const c = kafka.consumer({ groupId: group, maxWaitTimeInMs: 50, sessionTimeout: 6000, heartbeatInterval: 500 });
      c.on(c.events.GROUP_JOIN, (e) => (assigned[i] = e.payload.memberAssignment as Record<string, number[]>));
      return c;
    });
    try {
      for (const c of members) {
        await c.connect();
        await c.subscribe({ topic, fromBeginning: true });
        await c.run({ eachBatch: async () => {} });
      }
      await until(() => assigned.every((a) => (a[topic]?.length ?? 0) > 0) && assigned.flatMap((a) => a[topic] ?? []).length === 4, 30_000, 'both members assigned');
      expect(assigned.flatMap((a) => a[topic] ?? []).sort()).toEqual([0, 1, 2, 3]);
    } finally {
      await Promise.all(members.map((c) => c.disconnect()));
    }
  }, 60_000);
}
