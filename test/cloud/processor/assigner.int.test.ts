// The co-partitioned assigner on real Kafka: members of one group get the same partition numbers of
// every input topic, every partition goes to exactly one member, and a member leaving hands its
// partitions over whole.

import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { coPartitionedAssigner } from '../../../cloud/processor/assigner.js';
import { servers, uniqueName } from '../../config.js';
import { createTopics } from '../bridge/helpers.js';

const s = servers();
const need = s.kafka ? describe : describe.skip;

type Assignment = Record<string, number[]>;

async function member(kafka: Kafka, groupId: string, topics: string[]): Promise<{ consumer: Consumer; assignment: () => Promise<Assignment> }> {
  const consumer = kafka.consumer({ groupId, partitionAssigners: [coPartitionedAssigner], sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 500 });
  let current: Assignment = {};
  let joins = 0;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    current = e.payload.memberAssignment as Assignment;
    joins++;
  });
  await consumer.connect();
  await consumer.subscribe({ topics });
  await consumer.run({ eachMessage: async () => {} });
  return {
    consumer,
    // The assignment once this member has joined at least once and the group is stable.
    assignment: async () => {
      const end = Date.now() + 30_000;
      while (joins === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      return current;
    },
  };
}

need('co-partitioned assigner (real Kafka)', () => {
  it('same partition numbers of every topic per member, each partition to one member, whole partitions handed over', async () => {
    const [raw, features] = [uniqueName('cp-raw'), uniqueName('cp-features')];
    await createTopics(s.kafka!.brokers, [raw, features], 6);
    const kafka = new Kafka({ clientId: 'edgewave-test-assigner', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    const groupId = uniqueName('cp-group');
    const a = await member(kafka, groupId, [raw, features]);
    const b = await member(kafka, groupId, [raw, features]);
    try {
      // Until the second join has settled for both: between them, each partition once.
      let [ax, bx] = [await a.assignment(), await b.assignment()];
      for (const end = Date.now() + 30_000; Date.now() < end; [ax, bx] = [await a.assignment(), await b.assignment()]) {
        if ((ax[raw]?.length ?? 0) + (bx[raw]?.length ?? 0) === 6 && ax[raw]?.length && bx[raw]?.length) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const x of [ax, bx]) {
        expect(x[raw]).toBeDefined();
        expect([...(x[raw] ?? [])].sort()).toEqual([...(x[features] ?? [])].sort());
      }
      const all = [...(ax[raw] ?? []), ...(bx[raw] ?? [])].sort((p, q) => p - q);
      expect(all).toEqual([0, 1, 2, 3, 4, 5]);
      expect(ax[raw]!.length).toBe(3);
      // One member leaves: the other gets every partition of both topics.
      await b.consumer.disconnect();
      const end = Date.now() + 30_000;
      let after = await a.assignment();
      while ((after[raw]?.length ?? 0) < 6 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
        after = await a.assignment();
      }
      expect([...after[raw]!].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect([...after[features]!].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await a.consumer.disconnect();
      await b.consumer.disconnect().catch(() => {});
    }
  }, 90_000);
});
