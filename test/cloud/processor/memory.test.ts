// The cloud side's own code in one process, as the embedded mode runs it: the processor on the
// in-process log (no Kafka) gives every window exactly once to a read_committed reader, labels and
// sessions equal to a reference run, also when stopped mid-run and restored from the changelog; its
// session sink fills the file store (no MongoDB) with the newest version of each session; its
// archiver writes every input frame once to a directory (no S3); the API
// serves those sessions and the live sensors from the same log and store. Stopped at once after a
// backlog, on a log that goes with it (the embedded mode), it processes, stores and archives all
// the log holds first.

import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MemoryKafka } from '../../../cloud/common/memory-kafka.js';
import { parseProcessorConfig } from '../../../cloud/processor/config.js';
import { startProcessor } from '../../../cloud/processor/processor.js';
import { loadDsp } from '../../../dsp/src/index.js';
import { createLogger } from '../../../protocol/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseApiConfig } from '../../../cloud/api/config.js';
import { startApi } from '../../../cloud/api/server.js';
import { DirObjects } from '../../../cloud/common/objects.js';
import { parquetToFrames } from '../../../cloud/store/archive.js';
import { FileSessionStore } from '../../../cloud/store/file-sessions.js';
import { encodeBatch, type Frame } from '../../../protocol/index.js';
import { newestVersions } from '../../../cloud/store/sessions-store.js';
import { OutputReader, createTopics, edgeFrames, feed, referenceRun, topicsFor, windowKeys } from './harness.js';

/** The in-process log with the processor's topics, 12 sensors' minute of edge frames, a file store and an archive directory; `done` removes them. */
async function setup(name: string, archive: { flushBytes?: number; flushS?: number }) {
  const dsp = await loadDsp();
  const log = new MemoryKafka({ compacted: [`${name}.state`] });
  const kafka = log as unknown as Kafka;
  const topics = topicsFor(name);
  await createTopics(kafka, topics);
  const batches = await edgeFrames(dsp, 12, 60);
  const archiveDir = mkdtempSync(join(tmpdir(), `edgewave-${name}-archive-`));
  const dir = mkdtempSync(join(tmpdir(), `edgewave-${name}-`));
  const config = parseProcessorConfig({
    kafka: { brokers: ['memory:0'], topics, groupId: `${name}-group`, transactionalIdPrefix: `${name}-tx`, sessionTimeoutMs: 6000 },
    sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15 },
    http: { port: 0 },
    archive: { url: `file://${archiveDir}`, ...archive },
    logLevel: 'warn',
  });
  const reader = await new OutputReader(kafka, topics).start();
  const producer = kafka.producer();
  await producer.connect();
  const sessionsStore = FileSessionStore.open(dir);
  const done = async () => {
    await reader.stop();
    await producer.disconnect();
    rmSync(dir, { recursive: true, force: true });
    rmSync(archiveDir, { recursive: true, force: true });
  };
  return { dsp, kafka, topics, batches, archiveDir, config, reader, producer, sessionsStore, done };
}

const quiet = createLogger('processor', { level: 'warn' });

describe('the cloud side in one process: processor, session sink and API on the in-process log and the file store', () => {
  it('every window exactly once, sessions equal to a reference run, across a stop and a restore from the changelog; the sessions in the file store, the archive in a directory; the API serving the sessions and the live sensors', async () => {
    const { dsp, kafka, topics, batches, archiveDir, config, reader, producer, sessionsStore, done } = await setup('mem', { flushBytes: 64 * 1024, flushS: 1 });
    const expected = windowKeys(batches);
    let p = await startProcessor(config, quiet, { kafka, sessions: sessionsStore });
    try {
      const half = Math.floor(batches.length / 2);
      await feed(producer, topics.features, batches.slice(0, half));
      await reader.until(() => reader.windows.size > 0, 30_000, 'the first windows');
      // Stopped mid-stream, a new processor restores from the changelog and goes on.
      await p.stop();
      p = await startProcessor(config, quiet, { kafka, sessions: sessionsStore });
      await feed(producer, topics.features, batches.slice(half));
      await reader.expectEachOnce(expected, 60_000, 500);
      const { sessions, labels } = await referenceRun(dsp, batches);
      expect(reader.labels).toEqual(labels);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(sessions));
      expect([...reader.sessions.values()].flat().length).toBeGreaterThan(0);

      // The sink: the newest version of each session, in the file store.
      const newest = newestVersions([...sessions.values()].flat());
      const stored = async () => (await sessionsStore.find({ desc: false, limit: 10_000 })).map((d) => [d._id, d.version]);
      const want = [...newest.values()].sort((a, b) => a.start - b.start || (a._id < b._id ? -1 : 1)).map((d) => [d._id, d.version]);
      for (const end = Date.now() + 20_000; JSON.stringify(await stored()) !== JSON.stringify(want) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
      expect(await stored()).toEqual(want);

      // The archive in a directory: every input frame once, equal field by field.
      const store = new DirObjects(archiveDir);
      const input = batches.flat();
      const readBack = async () => (await Promise.all((await store.list('')).map(async (k) => parquetToFrames(await store.get(k))))).flat();
      let archived = await readBack();
      for (const end = Date.now() + 20_000; archived.length < input.length && Date.now() < end; archived = await readBack()) await new Promise((r) => setTimeout(r, 200));
      const id = (f: Frame) => `${f.sensorId}#${f.seq}`;
      expect(archived.map(id).sort()).toEqual(input.map(id).sort());
      const byId = new Map(input.map((f) => [id(f), f]));
      for (const f of archived) expect({ ...f, data: Array.from(f.data) }).toEqual({ ...byId.get(id(f))!, data: Array.from(byId.get(id(f))!.data) });

      // The API from the same log and store.
      const api = await startApi(parseApiConfig({ http: { port: 0 }, kafka: { brokers: ['memory:0'], topics: { inferences: topics.inferences, sessions: topics.sessions, status: `${topics.raw}.status` }, groupPrefix: 'mem-api' }, auth: { open: true }, logLevel: 'warn' }), createLogger('api', { level: 'warn' }), { kafka, sessions: sessionsStore });
      try {
        const page = (await (await fetch(`${api.url}/sessions?limit=500&sort=start`)).json()) as { items: { sessionId: string }[] };
        expect(page.items.map((x) => x.sessionId)).toEqual(want.map(([id]) => id));
        const ready = (await (await fetch(`${api.url}/ready`)).json()) as { status: string };
        expect(ready.status).toBe('ready');
        // Its feed read the inferences back from the log: every sensor, with its latest window.
        const sensors = new Set(batches.flat().map((f) => f.sensorId));
        for (const end = Date.now() + 20_000; [...api.hub!.sensors()].length < sensors.size && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
        const listed = (await (await fetch(`${api.url}/sensors`)).json()) as { items: { sensorId: string }[] };
        expect(listed.items.map((x) => x.sensorId).sort()).toEqual([...sensors].sort());
      } finally {
        await api.stop();
      }
    } finally {
      await p.stop();
      await done();
    }
  }, 120_000);

  it('stopped right after a backlog, on a log that goes with it: every window out, the sessions stored, every frame archived, before the stop returns', async () => {
    // The archive's flush age and size as deployed (60 s, 8 MB): nothing is written before the stop.
    const { dsp, kafka, topics, batches, archiveDir, config, reader, producer, sessionsStore, done } = await setup('drain', {});
    const p = await startProcessor(config, quiet, { kafka, sessions: sessionsStore, logGoesAtStop: true });
    try {
      // In two sends back to back, keyed by group as the bridge keys them (the processor takes the
      // first while the second arrives), and the stop right after.
      const send = (part: Frame[][]) => producer.send({ topic: topics.features, messages: part.map((fs) => ({ key: fs[0]!.group, value: Buffer.from(encodeBatch(fs)) })) });
      const half = Math.floor(batches.length / 2);
      await send(batches.slice(0, half));
      await send(batches.slice(half));
      expect(p.stats().frames).toBeLessThan(batches.flat().length);
      await p.stop();
      const input = batches.flat();
      expect(p.stats().frames).toBe(input.length);
      // What the stop left: the sessions in the store and the archive, as they are now.
      const { sessions } = await referenceRun(dsp, batches);
      const newest = newestVersions([...sessions.values()].flat());
      expect(newest.size).toBeGreaterThan(0);
      const stored = (await sessionsStore.find({ desc: false, limit: 10_000 })).map((d) => [d._id, d.version]);
      expect(stored).toEqual([...newest.values()].sort((a, b) => a.start - b.start || (a._id < b._id ? -1 : 1)).map((d) => [d._id, d.version]));
      const store = new DirObjects(archiveDir);
      const archived = (await Promise.all((await store.list('')).map(async (k) => parquetToFrames(await store.get(k))))).flat();
      const id = (f: Frame) => `${f.sensorId}#${f.seq}`;
      expect(archived.map(id).sort()).toEqual(input.map(id).sort());
      // And every window in the log, once, committed.
      await reader.expectEachOnce(windowKeys(batches), 30_000, 500);
    } finally {
      await p.stop();
      await done();
    }
  }, 120_000);
});
