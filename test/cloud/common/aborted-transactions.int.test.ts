// read_committed readers (kafkajs) on real Kafka skip every record of an aborted transaction, also
// when two producers' transactions interleave in a partition and the later one is aborted first,
// which is what the processor does when a commit fails (its open transaction, on its other
// producer, is aborted at once; the failed one only when the producer is fenced). The broker lists
// aborted transactions in the order they were aborted; kafkajs 2.2.4 took them as sorted by first
// offset and so handed the earlier transaction's records on (patches/kafkajs+2.2.4.patch).

import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { servers, uniqueName } from '../../config.js';
import { createTopics } from '../bridge/helpers.js';

const s = servers();

describe.runIf(s.kafka)('read_committed readers and aborted transactions (real Kafka)', () => {
  const kafka = new Kafka({ clientId: 'edgewave-test-aborted', brokers: s.kafka?.brokers ?? [], logLevel: logLevel.NOTHING });
  const producers: Producer[] = [];
  afterAll(async () => {
    for (const p of producers) await p.disconnect().catch(() => {});
  });
  const producer = async (transactionalId?: string) => {
    const p = transactionalId ? kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 }) : kafka.producer();
    producers.push(p);
    await p.connect();
    return p;
  };

  /** The values a read_committed reader of `topic` gets, from `from` (a committed offset) or the start, up to `last`. */
  async function readCommitted(topic: string, last: string, from?: string): Promise<string[]> {
    const groupId = uniqueName('aborted-reader');
    if (from !== undefined) {
      const admin = kafka.admin();
      await admin.connect();
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: from }] });
      await admin.disconnect();
    }
    const reader = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
    const values: string[] = [];
    try {
      await reader.connect();
      await reader.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${topic}: ${JSON.stringify(last)} not read within 30 s (read ${JSON.stringify(values)})`)), 30_000);
        reader
          .run({
            eachMessage: async ({ message }) => {
              const v = message.value!.toString();
              values.push(v);
              if (v === last) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await reader.disconnect();
    }
    return values;
  }

  it('two transactions interleaved in a partition, the later one aborted first: none of their records is read, from the start or from inside both', async () => {
    const topic = uniqueName('aborted');
    await createTopics(s.kafka!.brokers, [topic], 1);
    const plain = await producer();
    const first = await producer(uniqueName('tx-first'));
    const second = await producer(uniqueName('tx-second'));
    const send = (p: Producer | Awaited<ReturnType<Producer['transaction']>>, value: string) => p.send({ topic, acks: -1, messages: [{ partition: 0, value }] });

    await send(plain, 'before');
    const a = await first.transaction();
    await send(a, 'a0');
    await send(a, 'a1');
    const b = await second.transaction();
    const [b0] = await send(b, 'b0');
    await send(a, 'a2');
    await send(b, 'b1');
    // The later transaction is aborted first: the broker lists b before a.
    await b.abort();
    await a.abort();
    const c = await second.transaction();
    await send(c, 'committed');
    await c.commit();
    await send(plain, 'after');

    expect(await readCommitted(topic, 'after')).toEqual(['before', 'committed', 'after']);
    // A reader that starts inside both transactions (at b0, a committed offset) must leave out
    // both from its first record on.
    expect(await readCommitted(topic, 'after', b0!.baseOffset)).toEqual(['committed', 'after']);
  }, 90_000);
});
