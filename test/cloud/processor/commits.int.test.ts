// The processor's commits on real Kafka. A partition's transactions are committed in the
// background, on one of its two transactional producers, while the other's transaction takes the
// next batches: a commit the broker answers late does not stop the partition's outputs; a commit
// that fails aborts the transaction after it too, and every window still comes out exactly once.

import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parseProcessorConfig } from '../../../cloud/processor/config.js';
import { startProcessor, type ProcessorHandle } from '../../../cloud/processor/processor.js';
import { loadDsp, type DspModule } from '../../../dsp/src/index.js';
import { createLogger, type Frame } from '../../../protocol/index.js';
import { servers, uniqueName } from '../../config.js';
import { API_KEY, endTxnId, interceptRequests, type Request } from '../common/reset-requests.js';
import { inferenceLines, type InferenceRecord } from '../../../cloud/processor/records.js';
import { OutputReader, createTopics, edgeFrames, feed, referenceRun, topicsFor, windowKeys } from './harness.js';

const s = servers();
const quiet = process.env.EW_TEST_DEBUG ? createLogger('processor', { level: 'debug' }) : createLogger('processor', { level: 'silent' });

function configFor(name: string, commitIntervalMs: number) {
  return parseProcessorConfig({
    kafka: { brokers: s.kafka!.brokers, topics: topicsFor(name), groupId: `${name}-group`, transactionalIdPrefix: `${name}-tx`, transactionTimeoutMs: 60_000, sessionTimeoutMs: 6000, commitIntervalMs },
    sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15 },
    http: { port: 0 },
  });
}

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; !(await pred()); ) {
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.runIf(s.kafka)('processor commits on real Kafka', () => {
  let dsp: DspModule;
  let kafka: Kafka;
  let producer: Producer;
  let admin: Admin;
  let handle: ProcessorHandle | undefined;
  beforeAll(async () => {
    dsp = await loadDsp();
    kafka = new Kafka({ clientId: 'edgewave-test-commits', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
  });
  afterAll(async () => {
    await handle?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
  });

  /** Whether every window came out once, and the sessions equal an uninterrupted run's. */
  async function expectExactlyOnce(reader: OutputReader, batches: Frame[][]): Promise<void> {
    await reader.expectEachOnce(windowKeys(batches), 90_000, 2000);
    const { sessions, labels } = await referenceRun(dsp, batches);
    expect(reader.labels).toEqual(labels);
    expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(sessions));
  }

  it('a commit the broker answers late does not hold its partition up: the next transaction sends its outputs meanwhile, and everything comes out once', async () => {
    const name = uniqueName('commit-late');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 24, 60);
    // The first partition seen to have committed input offsets (its restore is behind it) has its
    // next commits (EndTxn, either of its producers) held until released.
    const committed = new Set<number>();
    let heldPartition: number | undefined;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let firstHeld!: (p: number) => void;
    const held = new Promise<number>((r) => (firstHeld = r));
    const prefix = `${name}-tx-`;
    const hold = (r: Request) => {
      if (r.apiKey !== API_KEY.endTxn) return undefined;
      const id = endTxnId(r.bytes);
      if (!id.startsWith(prefix)) return undefined;
      const p = Number.parseInt(id.slice(prefix.length), 10);
      if (heldPartition === undefined && committed.has(p)) {
        heldPartition = p;
        firstHeld(p);
      }
      return p === heldPartition ? released : undefined;
    };
    const faulty = new Kafka({ clientId: 'edgewave-test-commits-late', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING, socketFactory: interceptRequests(hold) });
    // Windows of the frames sent once a commit is held, and those a read_uncommitted reader saw
    // come out of the held partition.
    const afterHold = new Set<string>();
    const seen = new Set<string>();
    const live = kafka.consumer({ groupId: uniqueName('live-reader'), maxWaitTimeInMs: 100, readUncommitted: true });
    await live.connect();
    await live.subscribe({ topics: [topics.inferences], fromBeginning: true });
    await live.run({
      eachMessage: async ({ partition, message }) => {
        if (partition !== heldPartition) return;
        for (const line of inferenceLines(message.value!.toString())) {
          const v = JSON.parse(line) as InferenceRecord;
          if (afterHold.has(`${v.sensorId}@${v.t0}`)) seen.add(`${v.sensorId}@${v.t0}`);
        }
      },
    });
    onTestFinished(() => live.disconnect());
    const reader = await new OutputReader(kafka, topics).start();
    handle = await startProcessor(configFor(name, 3000), quiet, { kafka: faulty });
    try {
      const feeding = feed(producer, topics.features, batches, (step) => {
        if (heldPartition !== undefined) for (const k of windowKeys(step)) afterHold.add(k);
      });
      const watch = setInterval(() => {
        admin
          .fetchOffsets({ groupId: `${name}-group`, topics: [topics.features] })
          .then(([t]) => t?.partitions.forEach((x) => Number(x.offset) > 0 && committed.add(x.partition)))
          .catch(() => {});
      }, 100);
      onTestFinished(() => clearInterval(watch));
      const p = await Promise.race([held, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('no commit within 30 s')), 30_000))]);
      // Frames sent after the commit was held, processed and their inferences sent while it still is.
      await until(() => seen.size > 0, 15_000, `inferences from partition ${p} of frames sent after its commit was held`);
      expect(handle.stats().batches).toBeGreaterThan(0);
      release();
      await feeding;
      await expectExactlyOnce(reader, batches);
    } finally {
      release();
      await handle.stop();
      handle = undefined;
      await reader.stop();
    }
  });

  it('commits that fail (their connection reset) abort the transaction after them too; every window still comes out once, the sessions equal an uninterrupted run', async () => {
    const name = uniqueName('commit-fail');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 24, 60);
    let failing = false;
    let endTxns = 0;
    let resets = 0;
    const reset = (r: Request) => {
      if (!failing || r.apiKey !== API_KEY.endTxn || ++endTxns % 5 !== 0 || resets >= 4) return undefined;
      resets++;
      return 'reset' as const;
    };
    const faulty = new Kafka({ clientId: 'edgewave-test-commits-fail', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING, socketFactory: interceptRequests(reset) });
    const reader = await new OutputReader(kafka, topics).start();
    handle = await startProcessor(configFor(name, 100), quiet, { kafka: faulty });
    try {
      failing = true;
      await feed(producer, topics.features, batches);
      await expectExactlyOnce(reader, batches);
      expect(resets).toBe(4);
      expect(handle.stats().aborted).toBeGreaterThanOrEqual(1);
    } finally {
      await handle.stop();
      handle = undefined;
      await reader.stop();
    }
  });
});
