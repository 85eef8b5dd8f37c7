// One-off readers of one partition on real Kafka (the processor's restore of a partition's state,
// its refill from the raw topic, the archive's re-reads): a reader with `onePartitionAssigner(p)`
// is given partition p of its topic and nothing else, so it fetches no other partition; a second
// member of its group gets nothing; `readRange` reads exactly the range asked for, in order.

import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { closeReader, onePartitionAssigner, readRange } from '../../../cloud/common/kafka.js';
import { servers, uniqueName } from '../../config.js';
import { createTopics } from '../bridge/helpers.js';

const s = servers();
const PARTITIONS = 4;
const PER_PARTITION = 30;

describe.runIf(s.kafka)('one-partition readers (real Kafka)', () => {
  const kafka = new Kafka({ clientId: 'edgewave-test-one-partition', brokers: s.kafka?.brokers ?? [], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  afterAll(() => producer.disconnect().catch(() => {}));

  async function filledTopic(): Promise<string> {
    const topic = uniqueName('one-partition');
    await createTopics(s.kafka!.brokers, [topic], PARTITIONS);
    await producer.connect();
    for (let p = 0; p < PARTITIONS; p++) {
      await producer.send({ topic, messages: Array.from({ length: PER_PARTITION }, (_, i) => ({ partition: p, value: `${p}:${i}` })) });
    }
    return topic;
  }

  it('a reader is assigned its partition alone and fetches nothing else; a second member gets nothing', async () => {
    const topic = await filledTopic();
    const groupId = uniqueName('one-partition-group');
    const reader = kafka.consumer({ groupId, partitionAssigners: [onePartitionAssigner(2)], maxWaitTimeInMs: 100 });
    const other = kafka.consumer({ groupId, partitionAssigners: [onePartitionAssigner(2)], maxWaitTimeInMs: 100 });
    const assignments: Record<string, number[]>[] = [];
    const otherAssignments: Record<string, number[]>[] = [];
    reader.on(reader.events.GROUP_JOIN, (e) => void assignments.push(e.payload.memberAssignment as Record<string, number[]>));
    other.on(other.events.GROUP_JOIN, (e) => void otherAssignments.push(e.payload.memberAssignment as Record<string, number[]>));
    const batchesOf = new Set<number>();
    const values: string[] = [];
    try {
      await reader.connect();
      await reader.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`read ${values.length} of ${PER_PARTITION} records of ${topic}[2] in 30 s`)), 30_000);
        reader
          .run({
            eachBatch: async ({ batch }) => {
              batchesOf.add(batch.partition);
              for (const m of batch.messages) values.push(m.value!.toString());
              if (values.length >= PER_PARTITION) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
      expect(assignments.at(-1)).toEqual({ [topic]: [2] });
      expect([...batchesOf]).toEqual([2]);
      expect(values).toEqual(Array.from({ length: PER_PARTITION }, (_, i) => `2:${i}`));

      // A second member joins: the first (by member id) keeps partition 2, the other gets none.
      await other.connect();
      await other.subscribe({ topic, fromBeginning: true });
      await other.run({ eachBatch: async ({ batch }) => void batchesOf.add(batch.partition) });
      // Both have joined the new generation once the reader has joined twice and the other once.
      for (const end = Date.now() + 30_000; (otherAssignments.length === 0 || assignments.length < 2) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
      const latest = [assignments.at(-1), otherAssignments.at(-1)];
      expect(latest.filter((a) => a && Object.keys(a).length > 0)).toEqual([{ [topic]: [2] }]);
      expect([...batchesOf]).toEqual([2]);
    } finally {
      await other.disconnect().catch(() => {});
      await closeReader(kafka, reader, groupId);
    }
  }, 90_000);

  it('readRange reads [from, upTo) of its partition, in order, and nothing of the others', async () => {
    const topic = await filledTopic();
    const got: { value: string; offset: number }[] = [];
    const n = await readRange(kafka, {
      groupId: uniqueName('one-partition-range'),
      topic,
      partition: 1,
      from: 5,
      upTo: 25,
      timeoutMs: 30_000,
      onRecord: (msg, offset) => void got.push({ value: msg.value!.toString(), offset }),
    });
    expect(n).toBe(20);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => ({ value: `1:${i + 5}`, offset: i + 5 })));
    expect(await readRange(kafka, { groupId: uniqueName('one-partition-empty'), topic, partition: 3, from: 7, upTo: 7, timeoutMs: 1000, onRecord: () => {} })).toBe(0);
  }, 60_000);
});
