// The processor's own code on the embedded mode's in-process log (no Kafka): every window exactly
// once to a read_committed reader, labels and sessions equal to a reference run, and the same after
// the processor is stopped mid-run and a new one restores its state from the changelog.

import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../../../cloud/common/memory-kafka.js';
import { parseProcessorConfig } from '../../../cloud/processor/config.js';
import { startProcessor } from '../../../cloud/processor/processor.js';
import { loadDsp } from '../../../dsp/src/index.js';
import { createLogger } from '../../../protocol/index.js';
import { OutputReader, createTopics, edgeFrames, feed, referenceRun, topicsFor } from './harness.js';

describe('processor on the in-process log', () => {
  it('every window exactly once, sessions equal to a reference run, across a stop and a restore from the changelog', async () => {
    const dsp = await loadDsp();
    const log = new MemoryKafka({ compacted: ['mem.state'] });
    const kafka = log as unknown as Kafka;
    const topics = topicsFor('mem');
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 12, 60);
    const expected = new Set(batches.flat().flatMap((f) => Array.from({ length: f.count }, (_, i) => `${f.sensorId}@${f.t0 + Math.round((i * f.hop * 1e6) / f.sampleRate)}`)));
    const config = parseProcessorConfig({
      kafka: { brokers: ['memory:0'], topics, groupId: 'mem-group', transactionalIdPrefix: 'mem-tx', sessionTimeoutMs: 6000 },
      sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15 },
      http: { port: 0 },
      logLevel: 'warn',
    });
    const quiet = createLogger('processor', { level: 'warn' });
    const reader = await new OutputReader(kafka, topics).start();
    const producer = kafka.producer();
    await producer.connect();
    let p = await startProcessor(config, quiet, { kafka });
    try {
      const half = Math.floor(batches.length / 2);
      await feed(producer, topics.features, batches.slice(0, half));
      await reader.until(() => reader.windows.size > 0, 30_000, 'the first windows');
      // Stopped mid-stream, a new processor restores from the changelog and goes on.
      await p.stop();
      p = await startProcessor(config, quiet, { kafka });
      await feed(producer, topics.features, batches.slice(half));
      await reader.until(() => [...expected].every((k) => reader.windows.has(k)), 60_000, 'every window');
      await new Promise((r) => setTimeout(r, 500));
      expect([...reader.windows].filter(([, n]) => n > 1), 'windows seen more than once').toEqual([]);
      expect(reader.windows.size).toBe(expected.size);
      const { sessions, labels } = await referenceRun(dsp, batches);
      expect(reader.labels).toEqual(labels);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(sessions));
      expect([...reader.sessions.values()].flat().length).toBeGreaterThan(0);
    } finally {
      await p.stop();
      await reader.stop();
      await producer.disconnect();
    }
  }, 120_000);
});
