// offsetCommitter on real Kafka: a reader that commits its positions off its fetch path goes on
// reading while a commit is on its way (kafkajs's own autoCommit waits for each), coalesces the
// positions marked meanwhile into the next commit, leaves the group's committed offsets at the end
// of what it read, so a new member resumes there, and rides out a commit that fails.

import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { offsetCommitter } from '../../../cloud/common/kafka.js';
import { createLogger } from '../../../protocol/index.js';
import { servers, uniqueName } from '../../config.js';
import { createTopics } from '../bridge/helpers.js';

const s = servers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = createLogger('test', { level: 'silent' });

async function until(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.runIf(s.kafka)('offsetCommitter (real Kafka)', () => {
  const kafka = new Kafka({ clientId: 'edgewave-test-offset-committer', brokers: s.kafka?.brokers ?? [], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const consumers: Consumer[] = [];
  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => {})));
    await producer.disconnect().catch(() => {});
  });

  it('reads on while a slow commit is on its way, commits the newest positions, and a new member resumes where it left off', async () => {
    const topic = uniqueName('committer');
    const groupId = uniqueName('committer-group');
    await createTopics(s.kafka!.brokers, [topic], 2);
    await producer.connect();

    const reader = kafka.consumer({ groupId, maxWaitTimeInMs: 20 });
    consumers.push(reader);
    // Each commit held 300 ms before it goes to the broker: a coordinator slow to answer.
    let commitsStarted = 0;
    const batchesDuringFirstCommit: number[] = [];
    let firstCommitOpen = false;
    const slow = {
      commitOffsets: async (list: Parameters<Consumer['commitOffsets']>[0]) => {
        commitsStarted++;
        if (commitsStarted === 1) firstCommitOpen = true;
        await sleep(300);
        firstCommitOpen = false;
        return reader.commitOffsets(list);
      },
    };
    const committer = offsetCommitter(slow, log, 'test');
    const read: string[] = [];
    let batches = 0;
    await reader.connect();
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        batches++;
        if (firstCommitOpen) batchesDuringFirstCommit.push(batch.messages.length);
        for (const m of batch.messages) read.push(m.value!.toString());
        committer.mark(batch.topic, batch.partition, String(BigInt(batch.lastOffset()) + 1n));
      },
    });

    // 20 rounds 50 ms apart, 10 records to each partition a round.
    for (let r = 0; r < 20; r++) {
      await producer.send({ topic, messages: [0, 1].flatMap((p) => Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `${r}:${p}:${i}` }))) });
      await sleep(50);
    }
    await until('400 records read', 30_000, () => read.length >= 400);
    await committer.flush();

    expect(read.length).toBe(400);
    // Reading went on while the first commit was held, and the positions marked meanwhile went out
    // together: fewer commits than batches.
    expect(batchesDuringFirstCommit.length).toBeGreaterThanOrEqual(2);
    expect(committer.commits).toBeLessThan(batches);
    expect(committer.commits).toBe(commitsStarted);
    expect(committer.failures).toBe(0);

    const admin = kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      expect(committed!.partitions.map((p) => [p.partition, p.offset]).sort()).toEqual([
        [0, '200'],
        [1, '200'],
      ]);
    } finally {
      await admin.disconnect();
    }

    // A commit that fails (the reader gone) is counted, throws nowhere, and leaves flush() settled.
    await reader.disconnect();
    committer.mark(topic, 0, '200');
    await committer.flush();
    expect(committer.failures).toBe(1);

    // A new member of the group starts where the first one's commits left it: only the new records.
    await producer.send({ topic, messages: [0, 1].flatMap((p) => Array.from({ length: 5 }, (_, i) => ({ partition: p, value: `new:${p}:${i}` }))) });
    const next = kafka.consumer({ groupId, maxWaitTimeInMs: 20 });
    consumers.push(next);
    const again: string[] = [];
    await next.connect();
    await next.subscribe({ topic, fromBeginning: true });
    await next.run({ autoCommit: false, eachBatch: async ({ batch }) => void again.push(...batch.messages.map((m) => m.value!.toString())) });
    await until('the 10 new records', 30_000, () => again.length >= 10);
    await sleep(300);
    expect(again.sort()).toEqual([0, 1].flatMap((p) => Array.from({ length: 5 }, (_, i) => `new:${p}:${i}`)).sort());
  }, 60_000);
});
