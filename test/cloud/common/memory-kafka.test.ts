// The embedded mode's in-process log against the log contract (log-contract.ts), which real Kafka
// passes too (kafka-contract.int.test.ts); and what only it does: retention and compaction in
// memory.

import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../../../cloud/common/memory-kafka.js';
import { logContract } from './log-contract.js';

let n = 0;
describe('memory log: the log contract', () => {
  const log = new MemoryKafka();
  logContract(() => ({
    kafka: log as unknown as Kafka,
    name: (prefix) => `${prefix}-${++n}`,
    createTopic: async (topic, partitions) => void (await log.admin().createTopics({ topics: [{ topic, numPartitions: partitions }] })),
  }));
});

describe('memory log: bounded in memory', () => {
  it('keeps at most retentionBytes per partition, dropping the oldest; a group behind the start resumes at the start', async () => {
    const log = new MemoryKafka({ retentionBytes: 10_000 });
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] });
    const p = log.producer();
    await p.connect();
    for (let i = 0; i < 100; i++) await p.send({ topic: 't', messages: [{ value: Buffer.alloc(1000, i) }] });
    const [b] = await log.admin().fetchTopicOffsets('t');
    expect(Number(b!.high)).toBe(100);
    expect(Number(b!.low)).toBeGreaterThan(85);
    const got: number[] = [];
    const c = log.consumer({ groupId: 'g' });
    await c.subscribe({ topic: 't', fromBeginning: true });
    await c.run({ eachBatch: async ({ batch }) => void got.push(...batch.messages.map((m) => Number(m.offset))) });
    for (let t = Date.now(); got.length < 100 - Number(b!.low) && Date.now() - t < 2000; ) await new Promise((r) => setTimeout(r, 10));
    await c.disconnect();
    expect(got[0]).toBe(Number(b!.low));
    expect(got.at(-1)).toBe(99);
  });

  it('a topic given a first offset starts there, in every partition, and is read from there', async () => {
    const log = new MemoryKafka({ firstOffsets: { t: 1_000 } });
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 2 }, { topic: 'u', numPartitions: 1 }] });
    expect((await log.admin().fetchTopicOffsets('t')).map((b) => [b.low, b.high])).toEqual([['1000', '1000'], ['1000', '1000']]);
    const p = log.producer();
    await p.connect();
    const [r] = await p.send({ topic: 't', messages: [{ value: 'a', partition: 1 }, { value: 'b', partition: 1 }] });
    expect(r!.baseOffset).toBe('1000');
    await p.send({ topic: 'u', messages: [{ value: 'c' }] });
    expect((await log.admin().fetchTopicOffsets('u'))[0]!.low).toBe('0');
    const got: string[] = [];
    const c = log.consumer({ groupId: 'g' });
    await c.subscribe({ topic: 't', fromBeginning: true });
    await c.run({ eachBatch: async ({ batch }) => void got.push(...batch.messages.map((m) => `${m.offset}:${m.value}`)) });
    for (let t = Date.now(); got.length < 2 && Date.now() - t < 2000; ) await new Promise((r) => setTimeout(r, 10));
    await c.disconnect();
    expect(got).toEqual(['1000:a', '1001:b']);
  });

  it('a compacted topic gives the newest record of each key', async () => {
    const log = new MemoryKafka({ compacted: ['state'] });
    const p = log.producer();
    await p.connect();
    for (let i = 0; i < 50; i++) await p.send({ topic: 'state', messages: [{ key: `k${i % 5}`, value: String(i), partition: 0 }] });
    const got: [string, string][] = [];
    const c = log.consumer({ groupId: 'g' });
    await c.subscribe({ topic: 'state', fromBeginning: true });
    await c.run({ eachBatch: async ({ batch }) => void got.push(...batch.messages.map((m) => [m.key!.toString(), m.value!.toString()] as [string, string])) });
    for (let t = Date.now(); got.length < 5 && Date.now() - t < 2000; ) await new Promise((r) => setTimeout(r, 10));
    await c.disconnect();
    expect(got).toEqual([['k0', '45'], ['k1', '46'], ['k2', '47'], ['k3', '48'], ['k4', '49']]);
  });
});
