// Smoke test: kafkajs against the real Kafka broker, including a transaction (what the
// processor's exactly-once path will rely on).

import { Kafka, Partitioners, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { servers, uniqueName } from '../config.js';

const settings = servers().kafka;

describe.runIf(settings)('Kafka (kafkajs)', () => {
  const kafka = new Kafka({ clientId: 'edgewave-smoke', brokers: settings?.brokers ?? [], logLevel: logLevel.NOTHING });
  const consumers: Consumer[] = [];
  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.disconnect()));
  });

  async function createTopic(partitions = 1): Promise<string> {
    const topic = uniqueName('smoke');
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })).toBe(true);
    } finally {
      await admin.disconnect();
    }
    return topic;
  }

  async function consumeAll(topic: string, expected: number, readUncommitted: boolean): Promise<KafkaMessage[]> {
    const consumer = kafka.consumer({ groupId: uniqueName('smoke-group'), readUncommitted, maxWaitTimeInMs: 200 });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: KafkaMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => resolve(), 20_000);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            got.push(message);
            if (got.length >= expected) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    return got;
  }

  it('produces with acks=all and an idempotent producer, and consumes in a group', async () => {
    const topic = await createTopic(3);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `group-${i % 3}`, value: `frame-${i}` }));
    const meta = await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();
    expect(meta.every((m) => m.errorCode === 0)).toBe(true);

    const got = await consumeAll(topic, 30, false);
    expect(got.map((m) => m.value!.toString()).sort()).toEqual(messages.map((m) => m.value).sort());
    // Same key, same partition, order kept: the property cross-sensor sessions rely on.
    const byKey = new Map<string, string[]>();
    for (const m of got) byKey.set(m.key!.toString(), [...(byKey.get(m.key!.toString()) ?? []), m.value!.toString()]);
    for (const [key, values] of byKey) {
      expect(values).toEqual(messages.filter((m) => m.key === key).map((m) => m.value));
    }
  });

  it('hides aborted transactions from read_committed consumers and shows committed ones', async () => {
    const topic = await createTopic();
    const producer = kafka.producer({ transactionalId: uniqueName('smoke-tx'), idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({ topic, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] });
    await committed.commit();
    await producer.disconnect();

    const readCommitted = await consumeAll(topic, 2, false);
    expect(readCommitted.map((m) => m.value!.toString())).toEqual(['committed-1', 'committed-2']);
    const readUncommitted = await consumeAll(topic, 4, true);
    expect(readUncommitted.map((m) => m.value!.toString())).toEqual(['aborted-1', 'aborted-2', 'committed-1', 'committed-2']);
  });
});
