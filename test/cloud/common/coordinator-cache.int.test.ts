// Against the real Kafka: a transactional producer of a client that keeps its coordinators
// (coordinator-cache.ts) looks each coordinator up once, where plain kafkajs looks one up before
// every request to it; its transactions commit their offsets all the same; and when a request to
// the coordinator fails (its connection reset here), the next request looks the coordinator up again.

import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheCoordinators } from '../../../cloud/common/coordinator-cache.js';
import { servers, uniqueName } from '../../config.js';
import { API_KEY, resetRequests } from './reset-requests.js';

const s = servers();

describe.runIf(s.kafka)('coordinators kept per client', () => {
  const brokers = s.kafka?.brokers ?? [];
  /** Requests by API key to reset the connection of, once each. */
  const resetOnce = new Set<number>();
  const client = () =>
    new Kafka({
      clientId: 'edgewave-test-coordinators',
      brokers,
      logLevel: logLevel.NOTHING,
      socketFactory: resetRequests((apiKey) => resetOnce.delete(apiKey)),
    });
  const producers: Producer[] = [];
  afterAll(() => Promise.all(producers.map((p) => p.disconnect().catch(() => {}))));

  async function topicOf(kafka: Kafka): Promise<string> {
    const topic = uniqueName('coordinators');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    return topic;
  }

  /** `n` transactions of one record and an offset each; how many FindCoordinator requests they took, and the group's committed offset. */
  async function transactions(kafka: Kafka, n: number, beforeEach?: (i: number) => void): Promise<{ lookups: number; committed: string }> {
    const topic = await topicOf(kafka);
    const groupId = uniqueName('coordinators-group');
    const producer = kafka.producer({ transactionalId: uniqueName('coordinators-tx'), idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    let lookups = 0;
    producer.on(producer.events.REQUEST, (e) => {
      if (e.payload.apiKey === API_KEY.findCoordinator) lookups++;
    });
    await producer.connect();
    for (let i = 0; i < n; i++) {
      beforeEach?.(i);
      const tx = await producer.transaction();
      try {
        await tx.send({ topic, messages: [{ value: `v${i}` }] });
        await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }] });
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => {});
        i--; // the same transaction again
        if (lookups > 10 * n) throw err;
      }
    }
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    await admin.disconnect();
    return { lookups, committed: t!.partitions[0]!.offset };
  }

  it('looks each coordinator up once over many transactions, where kafkajs alone looks up before every request', async () => {
    const plain = await transactions(client(), 10);
    const kept = await transactions(cacheCoordinators(client()), 10);
    expect(plain.committed).toBe('10');
    expect(kept.committed).toBe('10');
    // Per transaction: before AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn.
    expect(plain.lookups).toBeGreaterThanOrEqual(40);
    // The transaction coordinator (also for InitProducerId) and the group's, once each.
    expect(kept.lookups).toBeLessThanOrEqual(2);
  });

  it('looks the coordinator up again after a request to it fails', async () => {
    let faultAt = -1;
    const kept = await transactions(cacheCoordinators(client()), 6, (i) => {
      if (i === 3 && faultAt < 0) {
        faultAt = i;
        resetOnce.add(API_KEY.addPartitionsToTxn);
      }
    });
    expect(resetOnce.size).toBe(0);
    expect(kept.committed).toBe('6');
    expect(kept.lookups).toBeGreaterThanOrEqual(3);
    expect(kept.lookups).toBeLessThanOrEqual(6);
  });

  it('is installed on every client the components make', async () => {
    const { createKafka } = await import('../../../cloud/common/kafka.js');
    const { createLogger } = await import('../../../protocol/index.js');
    const kafka = createKafka({ clientId: 'edgewave-test-coordinators', brokers }, createLogger('test', { level: 'silent' }), { retries: 2 });
    const producer = kafka.producer({ transactionalId: uniqueName('coordinators-tx'), idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    let lookups = 0;
    producer.on(producer.events.REQUEST, (e) => void (e.payload.apiKey === API_KEY.findCoordinator && lookups++));
    const topic = await topicOf(kafka);
    await producer.connect();
    for (let i = 0; i < 5; i++) {
      const tx = await producer.transaction();
      await tx.send({ topic, messages: [{ value: `v${i}` }] });
      await tx.commit();
    }
    expect(lookups).toBe(1);
  });
});
