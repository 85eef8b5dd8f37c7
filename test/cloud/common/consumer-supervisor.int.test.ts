// A consumer supervised by superviseConsumer rides out a Kafka outage that kafkajs gives up on: a
// Kafka node of the test's own is stopped and started again, and its group-coordinator lookups
// fail (their connections reset) for a while after, which kafkajs does not retry. Once lookups
// answer, the consumer is in its group again and reads what was written. A crash that is no
// outage (a TypeError in the batch handler) is handed to onFatal and not run again. The processor
// rides out the same outage, counts it in its metrics and still puts out every window once.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { superviseConsumer } from '../../../cloud/common/consumer-supervisor.js';
import { parseProcessorConfig } from '../../../cloud/processor/config.js';
import { startProcessor, type ProcessorHandle } from '../../../cloud/processor/processor.js';
import { loadDsp } from '../../../dsp/src/index.js';
import { createLogger } from '../../../protocol/index.js';
import { KafkaNode } from '../../../scripts/servers/kafka.js';
import { newRunLogDir } from '../../../scripts/servers/paths.js';
import { uniqueName } from '../../config.js';
import { OutputReader, createTopics, edgeFrames, feed, topicsFor, windowKeys } from '../processor/harness.js';
import { API_KEY, resetRequests } from './reset-requests.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function newTopic(kafka: Kafka, prefix: string): Promise<string> {
  const topic = uniqueName(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

describe('superviseConsumer against a Kafka node stopped and started again', () => {
  let node: KafkaNode;
  const dataDir = mkdtempSync(join(tmpdir(), 'edgewave-supervisor-kafka-'));
  const log = createLogger('test', { level: 'silent' });
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    node = await KafkaNode.create({ logDir: newRunLogDir() }, dataDir);
    await node.start();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => {})));
    await node?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /**
   * A client that gives up soon, as any does on a long enough outage. While `gate.lookups` is
   * false, a FindCoordinator request (API key 10) resets its connection, as a broker going away
   * between the metadata and the coordinator lookup does.
   */
  const gate = { lookups: true, refused: 0 };
  const client = () =>
    new Kafka({
      clientId: 'edgewave-test-supervisor',
      brokers: [node.brokers],
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, maxRetryTime: 300, retries: 2 },
      socketFactory: resetRequests((apiKey) => {
        if (gate.lookups || apiKey !== API_KEY.findCoordinator) return false;
        gate.refused++;
        return true;
      }),
    });

  it('runs the consumer again after Kafka comes back, and it reads what was written meanwhile', async () => {
    const kafka = client();
    const topic = await newTopic(kafka, 'supervised');

    const consumer = kafka.consumer({ groupId: uniqueName('supervised'), sessionTimeout: 6000, heartbeatInterval: 1000 });
    consumers.push(consumer);
    const seen: string[] = [];
    const crashes: { name: string; restart: boolean }[] = [];
    const recovering: string[] = [];
    const fatal: Error[] = [];
    consumer.on(consumer.events.CRASH, (e) => void crashes.push({ name: e.payload.error.name, restart: e.payload.restart }));
    const run = () => consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    const supervisor = superviseConsumer(consumer, { name: 'test', log, run, onFatal: (err) => fatal.push(err), onRecovering: (err) => recovering.push(err.name), initialDelayMs: 200, maxDelayMs: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await run();

    const send = async (value: string) => {
      const producer = new Kafka({ clientId: 'edgewave-test-supervisor-producer', brokers: [node.brokers], logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ value }] });
      await producer.disconnect();
    };
    await send('before');
    await until('the first record', 30_000, () => seen.includes('before'));

    // Kafka goes away; kafkajs restarts its consumer while no broker answers at all.
    gate.lookups = false;
    await node.stop();
    await until('kafkajs to restart the consumer', 30_000, () => crashes.some((c) => c.restart));
    // Back, but its coordinator lookups fail: kafkajs gives up on the consumer, and the
    // supervisor's next tries fail the same way.
    await node.start();
    await until('kafkajs to give up and a recovery to fail', 60_000, () => recovering.length >= 2);
    expect(crashes.some((c) => !c.restart && c.name === 'KafkaJSGroupCoordinatorNotFound')).toBe(true);
    expect(gate.refused).toBeGreaterThan(0);
    expect(recovering.every((name) => name === 'KafkaJSGroupCoordinatorNotFound')).toBe(true);
    gate.lookups = true;
    await send('after');
    await until('the record written after the outage', 60_000, () => seen.includes('after'));

    expect(fatal).toEqual([]);
    expect(supervisor.recoveries).toBeGreaterThanOrEqual(2);
    expect(seen.filter((v) => v === 'after')).toHaveLength(1);
    supervisor.stop();
  }, 240_000);

  it('hands a crash that is no outage to onFatal, and does not run the consumer again', async () => {
    const kafka = client();
    const topic = await newTopic(kafka, 'supervised-bug');
    const consumer = kafka.consumer({ groupId: uniqueName('supervised-bug') });
    consumers.push(consumer);
    let runs = 0;
    const fatal: Error[] = [];
    const recovering: string[] = [];
    const run = () => {
      runs++;
      return consumer.run({
        eachMessage: async ({ message }) => {
          // A bug: reading a field of what is not there.
          (JSON.parse(message.value!.toString()) as { a: { b: number } }).a.b;
        },
      });
    };
    const supervisor = superviseConsumer(consumer, { name: 'test', log, run, onFatal: (err) => fatal.push(err), onRecovering: (err) => recovering.push(err.name), initialDelayMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await run();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: '{}' }] });
    await producer.disconnect();
    await until('the crash', 30_000, () => fatal.length > 0);
    await sleep(1000);
    expect(fatal).toHaveLength(1);
    expect(recovering).toEqual([]);
    expect(runs).toBe(1);
    expect(supervisor.recoveries).toBe(0);
    supervisor.stop();
  }, 120_000);

  it('the processor rides out the outage: its metrics count the recovery, and every window comes out once', async () => {
    const kafka = client();
    const plain = new Kafka({ clientId: 'edgewave-test-supervisor-plain', brokers: [node.brokers], logLevel: logLevel.NOTHING });
    const name = uniqueName('supervised-processor');
    const topics = topicsFor(name);
    await createTopics(plain, topics);
    const batches = await edgeFrames(await loadDsp(), 12, 30);
    const half = Math.floor(batches.length / 2);
    const fatal: Error[] = [];
    const config = parseProcessorConfig({
      kafka: { brokers: [node.brokers], topics, groupId: `${name}-group`, transactionalIdPrefix: `${name}-tx`, transactionTimeoutMs: 60_000, sessionTimeoutMs: 6000, commitIntervalMs: 200 },
      sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15 },
      http: { port: 0 },
    });
    const recoveries = async (h: ProcessorHandle) => {
      const text = await (await fetch(`${h.httpUrl}/metrics`)).text();
      const v = /^edgewave_processor_kafka_recoveries_total\{consumer="processor"\} (\d+)$/m.exec(text)?.[1];
      if (v === undefined) throw new Error(`no edgewave_processor_kafka_recoveries_total{consumer="processor"} in the processor's metrics:\n${text.slice(0, 2000)}`);
      return Number(v);
    };
    const handle = await startProcessor(config, log, { kafka, onFatal: (err) => fatal.push(err) });
    const producer = plain.producer();
    let reader = await new OutputReader(plain, topics).start();
    try {
      expect(await recoveries(handle)).toBe(0);
      await producer.connect();
      await feed(producer, topics.features, batches.slice(0, half));
      await reader.expectEachOnce(windowKeys(batches.slice(0, half)), 60_000, 0);

      gate.lookups = false;
      await Promise.all([producer.disconnect(), reader.stop()]);
      await node.stop();
      await sleep(3000);
      await node.start();
      // Back, with coordinator lookups failing: kafkajs gives up on the processor's consumer and
      // the supervisor runs it again, counted, until lookups answer.
      const end = Date.now() + 90_000;
      while ((await recoveries(handle)) < 1) {
        if (Date.now() > end) throw new Error('timed out waiting for the processor to count a recovery');
        await sleep(200);
      }
      gate.lookups = true;
      await producer.connect();
      await feed(producer, topics.features, batches.slice(half));
      // A reader of its own reads everything again: each window once over both halves.
      reader = await new OutputReader(plain, topics).start();
      await reader.expectEachOnce(windowKeys(batches), 120_000, 2000);
      expect(fatal).toEqual([]);
      expect(await recoveries(handle)).toBeGreaterThanOrEqual(1);
    } finally {
      gate.lookups = true;
      await reader.stop().catch(() => {});
      await producer.disconnect().catch(() => {});
      await handle.stop();
    }
  }, 300_000);
});
