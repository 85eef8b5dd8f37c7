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

  it('never drops what a keepUnread group has not read: the write is refused, all of it, until the group commits past', async () => {
    const log = new MemoryKafka({ retentionBytes: 10_000, keepUnread: { t: ['g'] } });
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }, { topic: 'u', numPartitions: 1 }] });
    const p = log.producer();
    await p.connect();
    // 1,064 bytes a record as counted (1,000 of value and 64): nine fit in 10,000.
    for (let i = 0; i < 9; i++) await p.send({ topic: 't', messages: [{ value: Buffer.alloc(1000, i) }] });
    const full = await p.sendBatch({ topicMessages: [{ topic: 'u', messages: [{ value: 'x' }] }, { topic: 't', messages: [{ value: Buffer.alloc(1000, 9) }] }] }).catch((err: unknown) => err as Error & { type: string });
    expect(full).toMatchObject({ type: 'LOG_FULL' });
    expect((full as Error).message).toContain('group g has read it only up to offset 0');
    // Nothing of the refused batch was written, in either topic.
    expect((await log.admin().fetchTopicOffsets('t'))[0]).toMatchObject({ low: '0', high: '9' });
    expect((await log.admin().fetchTopicOffsets('u'))[0]).toMatchObject({ low: '0', high: '0' });
    // Read and committed past the first three: three can go, and do, when the next ones come.
    await log.admin().setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 0, offset: '3' }] });
    await p.send({ topic: 't', messages: [{ value: Buffer.alloc(1000, 9) }, { value: Buffer.alloc(1000, 10) }] });
    expect((await log.admin().fetchTopicOffsets('t'))[0]).toMatchObject({ low: '2', high: '11' });
    await expect(p.send({ topic: 't', messages: Array.from({ length: 3 }, (_, i) => ({ value: Buffer.alloc(1000, 11 + i) })) })).rejects.toMatchObject({ type: 'LOG_FULL' });
    // A topic no group must read drops its oldest as before.
    for (let i = 0; i < 20; i++) await p.send({ topic: 'u', messages: [{ value: Buffer.alloc(1000, i) }] });
    expect(Number((await log.admin().fetchTopicOffsets('u'))[0]!.low)).toBeGreaterThan(10);
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
