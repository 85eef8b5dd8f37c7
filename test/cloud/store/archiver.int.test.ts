// The archiver on real Kafka: a frame that reaches the raw topic twice, the second copy in a later
// flush's range (a request the bridge sent again around a Kafka outage), is archived once, also
// when another archiver process has taken the partition on in between.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { getPriority } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DirObjects } from '../../../cloud/common/objects.js';
import { parquetToFrames } from '../../../cloud/store/archive.js';
import { startArchiver } from '../../../cloud/store/archiver.js';
import { startArchiverApart } from '../../../cloud/store/archiver-apart.js';
import { parseProcessorConfig } from '../../../cloud/processor/config.js';
import { createLogger, encodeBatch, TICK_HEADER, type Frame } from '../../../protocol/index.js';
import { servers, uniqueName } from '../../config.js';
import { autogroupNice, procChildren, procSession, threadNices } from '../../../bench/proc.js';
import { createTopics } from '../bridge/helpers.js';

const s = servers();
const need = s.kafka ? describe : describe.skip;

function frame(seq: number): Frame {
  return {
    kind: 'raw', flags: 0, sensorId: 'imu-1', gatewayId: 'gw-1', group: 'g1', seq, t0: 1_795_000_000_000_000 + seq * 50_000, sampleRate: 200,
    count: 10, width: 6, window: 0, hop: 0, layoutId: 1, data: Float32Array.from({ length: 60 }, (_, i) => seq + i / 100),
  };
}

/** Fresh topics of one partition, a producer, a directory for the objects, and a group id; `start` starts an archiver in that group. */
async function setup() {
  const brokers = s.kafka!.brokers;
  const [raw, features] = [uniqueName('arch-raw'), uniqueName('arch-features')];
  await createTopics(brokers, [raw, features], 1);
  const dir = mkdtempSync(join(tmpdir(), 'edgewave-archiver-'));
  const kafka = new Kafka({ clientId: 'edgewave-test', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const objects = new DirObjects(dir);
  const groupId = uniqueName('arch');
  return {
    start: () => startArchiver({ kafka, groupId, topics: { raw, features }, objects, flushBytes: 1 << 20, flushMs: 200, log: createLogger('archiver', { level: 'silent' }) }),
    /** The same archive as the processor runs it: apart from this thread, from the processor's configuration. */
    startApart: (how: 'process' | 'thread', onFatal?: (err: Error) => void) => {
      const config = parseProcessorConfig({
        kafka: { brokers, groupId: uniqueName('arch-processor'), topics: { raw, features, inferences: `${raw}.i`, sessions: `${raw}.s`, deadletter: `${raw}.d`, processorState: `${raw}.st` } },
        archive: { url: `file://${dir}`, flushBytes: 1 << 20, flushS: 60, groupId },
        logLevel: 'warn',
      });
      return startArchiverApart(config, how, { log: createLogger('archiver', { level: 'silent' }), onFatal });
    },
    send: (seqs: number[]) => producer.send({ topic: raw, acks: -1, messages: [{ key: 'g1', value: Buffer.from(encodeBatch(seqs.map(frame))) }] }),
    /** Ticks as a bridge writes them (no key, no value) into the raw topic's partition. */
    tick: (n: number) => producer.send({ topic: raw, acks: -1, messages: Array.from({ length: n }, () => ({ partition: 0, key: null, value: null, headers: { [TICK_HEADER]: '1000' } })) }),
    /** The archiver group's committed offset of the raw partition, and the partition's end. */
    async offsets(): Promise<{ committed: number; end: number }> {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [c] = (await admin.fetchOffsets({ groupId, topics: [raw] }))[0]!.partitions;
        const [e] = await admin.fetchTopicOffsets(raw);
        return { committed: Number(c!.offset), end: Number(e!.high) };
      } finally {
        await admin.disconnect();
      }
    },
    /** Every frame in the archive. */
    async archived(): Promise<Frame[]> {
      const frames: Frame[] = [];
      for (const key of await objects.list('')) frames.push(...(await parquetToFrames(readFileSync(join(dir, ...key.split('/'))))));
      return frames;
    },
    async close() {
      await producer.disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (const end = Date.now() + 30_000; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
  expect(cond()).toBe(true);
}

need('archiver (real Kafka)', () => {
  it.each(['process', 'thread'] as const)('in a %s of its own, as the processor runs it: every frame archived once, at a lower CPU priority, its counts and flushes reach the processor, and stop ends it', async (how) => {
    const t = await setup();
    const fatal: Error[] = [];
    const childrenOfSelf = () => new Set(procChildren(process.pid));
    const before = childrenOfSelf();
    const base = getPriority(0);
    const archiver = await t.startApart(how, (err) => fatal.push(err));
    const lower = Math.min(19, base + 10);
    try {
      // It runs at a lower CPU priority (archive.nice, 10 by default), this thread does not: a
      // worker's thread alone, or every thread of the child.
      expect(getPriority(0)).toBe(base);
      if (how === 'thread') expect(threadNices('self')).toContain(lower);
      else {
        const child = [...childrenOfSelf()].filter((pid) => !before.has(pid));
        expect(child).toHaveLength(1);
        expect(new Set(threadNices(child[0]!))).toEqual(new Set([lower]));
        expect(threadNices('self')).not.toContain(lower);
        // In a session of its own, and where the kernel shares the CPU by session (autogroup),
        // that session's priority is the lower one, this one's is not.
        expect(procSession(child[0]!)).toBe(child[0]);
        const ours = autogroupNice('self');
        if (ours !== undefined) {
          await until(() => autogroupNice(child[0]!) === Math.min(19, ours + 10));
          expect(autogroupNice('self')).toBe(ours);
        }
      }
      await t.send([0, 1, 2]);
      await t.send([3, 4]);
      // Nothing is due by size or age (1 MB, 60 s): only the calling thread's flushAll writes them.
      for (const end = Date.now() + 30_000; archiver.stats().frames < 5 && Date.now() < end; ) {
        await archiver.flushAll();
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(archiver.stats()).toMatchObject({ frames: 5, unreadable: 0, duplicates: 0 });
      expect((await t.archived()).map((f) => f.seq)).toEqual([0, 1, 2, 3, 4]);
      expect(await t.offsets()).toEqual({ committed: 2, end: 2 });
    } finally {
      await archiver.stop();
      await t.close();
    }
    // Stopped on purpose: no failure reported, no process left, and a flush asked of it now fails rather than hangs.
    expect(fatal).toEqual([]);
    expect([...childrenOfSelf()].filter((pid) => !before.has(pid))).toEqual([]);
    await expect(archiver.flushAll()).rejects.toThrow(/stopped/);
  }, 90_000);

  it('the bridges\' ticks are not archived, and a partition holding nothing but ticks after its frames has its offsets moved to its end', async () => {
    const t = await setup();
    const archiver = await t.start();
    try {
      await t.tick(3);
      await t.send([0, 1, 2]);
      await t.tick(5);
      await until(() => archiver.stats().flushes >= 1);
      let o = await t.offsets();
      for (const end = Date.now() + 30_000; o.committed < o.end && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 500));
        o = await t.offsets();
      }
      expect(o).toEqual({ committed: 9, end: 9 });
      expect((await t.archived()).map((f) => f.seq)).toEqual([0, 1, 2]);
      expect(archiver.stats()).toMatchObject({ unreadable: 0, frames: 3, flushes: 1 });
    } finally {
      await archiver.stop();
      await t.close();
    }
  }, 90_000);

  it('a frame repeated in a later range is archived once, and every frame is there', async () => {
    const t = await setup();
    const archiver = await t.start();
    try {
      await t.send([0, 1, 2]);
      await until(() => archiver.stats().flushes >= 1);
      // The same request again (seqs 1 and 2), with a new frame: a later range.
      await t.send([1, 2, 3]);
      await until(() => archiver.stats().flushes >= 2);
      const frames = await t.archived();
      expect(frames.map((f) => f.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
      expect(archiver.stats().duplicates).toBe(2);
      for (const f of frames) expect(Array.from(f.data)).toEqual(Array.from(frame(f.seq).data));
    } finally {
      await archiver.stop();
      await t.close();
    }
  }, 90_000);

  it('a frame repeated after the archiver restarted (another process takes the partition on) is archived once: the new one reads the last committed ranges again', async () => {
    const t = await setup();
    let second: Awaited<ReturnType<typeof t.start>> | undefined;
    try {
      const first = await t.start();
      try {
        await t.send([0, 1, 2]);
        await until(() => first.stats().flushes >= 1);
      } finally {
        await first.stop();
      }
      // While no archiver runs, the same frames again (seqs 1 and 2) with a new one.
      await t.send([1, 2, 3]);
      second = await t.start();
      await until(() => second!.stats().flushes >= 1);
      await t.send([3, 4]);
      await until(() => second!.stats().frames >= 2);
      expect((await t.archived()).map((f) => f.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
      expect(second.stats()).toMatchObject({ duplicates: 3, frames: 2 });
    } finally {
      await second?.stop();
      await t.close();
    }
  }, 90_000);
});
