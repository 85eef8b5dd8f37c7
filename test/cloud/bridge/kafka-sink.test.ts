// The bridge's Kafka sink on the embedded mode's in-process log when the log is full of records the
// processor has not read: it holds the records (their `done`, and so the MQTT acknowledgements,
// not called) and tries again, as while Kafka is away, and writes them once, when the log has room.

import type { Producer } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { KafkaSink, recordBytes } from '../../../cloud/bridge/kafka-sink.js';
import { MemoryKafka } from '../../../cloud/common/memory-kafka.js';

describe('the bridge sink on a full in-process log', () => {
  it('holds what the log refuses and writes it once, when the group that must read it has', async () => {
    const log = new MemoryKafka({ retentionBytes: 10_000, keepUnread: { raw: ['processor'] } });
    await log.admin().createTopics({ topics: [{ topic: 'raw', numPartitions: 1 }] });
    const producer = log.producer();
    await producer.connect();
    const errors: string[] = [];
    const sink = new KafkaSink([producer as unknown as Producer], { lingerMs: 0, batchBytes: 1 << 20, maxRecordBytes: 1 << 20, compression: 'none', onError: (err) => errors.push((err as Error & { type?: string }).type ?? err.message) }, pino({ level: 'silent' }));
    const acked: number[] = [];
    const add = (i: number) => sink.add({ topic: 'raw', key: 'gw', value: Buffer.alloc(1000, i), bytes: recordBytes('gw', 1000, {}), headers: {}, done: () => acked.push(i) });
    // Nine records fill the partition (1,000 bytes of value and 64 counted each).
    for (let i = 0; i < 9; i++) add(i);
    await sink.drain(2000);
    expect(acked).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // The tenth would drop the first, which the processor has not read: refused, held, tried again.
    add(9);
    await new Promise((r) => setTimeout(r, 800));
    expect(acked).toHaveLength(9);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(errors)).toEqual(new Set(['LOG_FULL']));
    expect((await log.admin().fetchTopicOffsets('raw'))[0]).toMatchObject({ low: '0', high: '9' });
    // The processor reads and commits past the first record: the tenth goes in, once.
    await log.admin().setOffsets({ groupId: 'processor', topic: 'raw', partitions: [{ partition: 0, offset: '1' }] });
    expect(await sink.drain(10_000)).toBe(true);
    expect(acked).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await log.admin().fetchTopicOffsets('raw'))[0]).toMatchObject({ low: '1', high: '10' });
    sink.close();
  });
});
