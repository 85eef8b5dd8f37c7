// The processor on real Kafka, MongoDB-wire and S3 servers: SIGKILLed five times while it works,
// every input window still comes out exactly once (read_committed), the sessions (in Kafka and in
// MongoDB) equal an uninterrupted run's, and the Parquet archive holds every input frame once; two
// processors sharing the partitions through rebalances still produce everything exactly once; a
// record that is no frame goes to the dead-letter topic and processing goes on.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessorConfigInput } from '../../../cloud/processor/config.js';
import type { SessionEvent } from '../../../cloud/processor/sessions.js';
import { parquetToFrames } from '../../../cloud/store/archive.js';
import { toDocument } from '../../../cloud/store/sessions-store.js';
import { loadDsp, type DspModule } from '../../../dsp/src/index.js';
import { encodeBatch, TICK_HEADER, type Frame } from '../../../protocol/index.js';
import { servers, uniqueName } from '../../config.js';
import { procChildren, procGone } from '../../../bench/proc.js';
import { OutputReader, createTopics, edgeFrames, feed, referenceRun, topicsFor, windowKeys } from './harness.js';

const s = servers();
const need = s.kafka && s.ferretdb && s.minio ? describe : describe.skip;
const root = new URL('../../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-processor-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFor(name: string, topics: ReturnType<typeof topicsFor>, sinks = false): ProcessorConfigInput {
  const m = s.minio!;
  return {
    ...(sinks
      ? {
          mongodb: { url: s.ferretdb!.url, database: name.replace(/-/g, '_') },
          s3: { endpoint: m.endpoint, region: m.region, accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey },
          // Small and frequent flushes, so kills land in the middle of them.
          archive: { url: `s3://${name}/archive`, flushBytes: 64 * 1024, flushS: 1 },
        }
      : {}),
    kafka: { brokers: s.kafka!.brokers, topics, groupId: `${name}-group`, transactionalIdPrefix: `${name}-tx`, transactionTimeoutMs: 10_000, sessionTimeoutMs: 6000 },
    sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15 },
    http: { port: 0 },
    logLevel: 'info',
  };
}

/** Every frame of every archive object under the bucket (and how many objects). */
async function readArchive(s3: S3Client, bucket: string): Promise<{ objects: number; frames: Frame[] }> {
  const frames: Frame[] = [];
  let objects = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'archive/', ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      frames.push(...(await parquetToFrames(await r.Body!.transformToByteArray())));
      objects++;
    }
    token = page.NextContinuationToken;
  } while (token);
  return { objects, frames };
}

// Each processor's log (stdout) and stderr are kept under .run/test-logs/ so a failed run can be read afterwards.
const logDir = join(root, '.run', 'test-logs');
mkdirSync(logDir, { recursive: true });
let spawned = 0;

/** A processor process; `up` settles when it says it is ready (or rejects when it exits or takes over 60 s). */
function spawnProcessor(file: string): { proc: ChildProcess; up: Promise<void>; log: string } {
  const log = join(logDir, `${basename(file, '.json')}-${++spawned}.log`);
  const proc = spawn(process.execPath, [join(root, 'bin/edgewave.js'), 'processor', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => appendFileSync(log, d));
  const up = new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`processor not ready after 60 s (log: ${log}): ${err.slice(-2000)}`)), 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      appendFileSync(log, d);
      err += d.toString();
      if (/ready and metrics on/.test(err)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`processor exited ${code ?? signal} (log: ${log}): ${err.slice(-2000)}`));
    });
  });
  up.catch(() => {});
  return { proc, up, log };
}

/** SIGTERM and wait for the exit; a processor still running after 30 s is a failure (its log named), killed so the test can end. */
async function stopProcessor(p: ReturnType<typeof spawnProcessor> | undefined): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill('SIGTERM');
  const late = await Promise.race([exited.then(() => false), new Promise((r) => setTimeout(() => r(true), 30_000))]);
  if (late) {
    p.proc.kill('SIGKILL');
    await exited;
    throw new Error(`processor did not exit within 30 s of SIGTERM (log: ${p.log})`);
  }
}

/** The archive processes seen go with their processor, killed (SIGKILL cannot be caught: they leave when its channel closes). */
let archiveChildrenGone = 0;

/** SIGKILLs the processor, waits for it to go, and starts another on the same config. */
async function killAndRestart(p: ReturnType<typeof spawnProcessor>, file: string): Promise<ReturnType<typeof spawnProcessor>> {
  const exited = new Promise((r) => p.proc.once('exit', r));
  const children = procChildren(p.proc.pid!);
  p.proc.kill('SIGKILL');
  await exited;
  for (const end = Date.now() + 10_000; !children.every(procGone) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
  expect(children.filter((pid) => !procGone(pid))).toEqual([]);
  archiveChildrenGone += children.length;
  const next = spawnProcessor(file);
  await next.up;
  return next;
}

/** Waits up to 30 s for the database's sessions to be those of `events`, each once as of its newest event, and checks they are; returns them. */
async function expectStoredSessions(mongo: MongoClient, database: string, events: readonly SessionEvent[]): Promise<ReturnType<typeof toDocument>[]> {
  const newest = new Map<string, ReturnType<typeof toDocument>>();
  for (const e of events) newest.set(e.session.sessionId, toDocument(e.session));
  const want = [...newest.values()].sort((a, b) => (a._id < b._id ? -1 : 1));
  const collection = mongo.db(database).collection('sessions');
  const until = Date.now() + 30_000;
  let docs = await collection.find().sort({ _id: 1 }).toArray();
  while (JSON.stringify(docs.map((d) => [d._id, d.version])) !== JSON.stringify(want.map((d) => [d._id, d.version])) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    docs = await collection.find().sort({ _id: 1 }).toArray();
  }
  expect(docs).toEqual(want);
  return want;
}

need('processor on real Kafka', () => {
  let dsp: DspModule;
  let kafka: Kafka;
  let producer: Producer;
  let s3: S3Client;
  let mongo: MongoClient;
  beforeAll(async () => {
    dsp = await loadDsp();
    const m = s.minio!;
    s3 = new S3Client({ endpoint: m.endpoint, region: m.region, forcePathStyle: true, credentials: { accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey } });
    mongo = await new MongoClient(s.ferretdb!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
    kafka = new Kafka({ clientId: 'edgewave-test-processor', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await mongo?.close();
    s3?.destroy();
  });

  it('SIGKILLed 5 times while it works: every window exactly once (read_committed), sessions in Kafka and MongoDB equal to an uninterrupted run, every frame archived once', async () => {
    const name = uniqueName('proc');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    const batches = await edgeFrames(dsp, 30, 120);
    const expected = windowKeys(batches);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics, true)));
    const reader = await new OutputReader(kafka, topics).start();
    let current = spawnProcessor(file);
    try {
      await current.up;
      // The input arrives over about 12 s while the processor is killed and started again.
      const feeding = feed(producer, topics.features, batches);
      let seed = 7;
      const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
      const childrenBefore = archiveChildrenGone;
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 1000 + rand() * 2000));
        current = await killAndRestart(current, file);
      }
      // Each killed processor had its archive process (archive.runIn: process), and it went too.
      expect(archiveChildrenGone - childrenBefore).toBe(5);
      await feeding;
      await reader.expectEachOnce(expected, 90_000, 2000);
      // Windows travel many to a record, each under its group's key.
      expect(reader.wrongKeys).toEqual([]);
      expect(reader.inferenceRecords).toBeLessThan(expected.size / 4);

      // The uninterrupted run: the same frames, in the same order per group, through one engine.
      const { sessions: reference, labels } = await referenceRun(dsp, batches);
      expect(reader.labels).toEqual(labels);
      expect([...reference.values()].flat().filter((e) => e.type === 'started').length).toBeGreaterThan(0);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference));

      // MongoDB: each session once, as of its newest event.
      await expectStoredSessions(mongo, name.replace(/-/g, '_'), [...reference.values()].flat());

      // The archive: every input frame exactly once, equal to what was sent.
      const input = batches.flat();
      let archived = await readArchive(s3, name);
      for (const end = Date.now() + 30_000; archived.frames.length < input.length && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 1000));
        archived = await readArchive(s3, name);
      }
      const id = (f: Frame) => `${f.sensorId}#${f.seq}`;
      const counts = new Map<string, number>();
      for (const f of archived.frames) counts.set(id(f), (counts.get(id(f)) ?? 0) + 1);
      expect([...counts].filter(([, n]) => n > 1), 'frames archived more than once').toEqual([]);
      expect(archived.frames.length).toBe(input.length);
      const byId = new Map(input.map((f) => [id(f), f]));
      for (const f of archived.frames) expect({ ...f, data: Array.from(f.data) }).toEqual({ ...byId.get(id(f))!, data: Array.from(byId.get(id(f))!.data) });
      expect(archived.objects).toBeGreaterThan(5);

      // Replay: the archive through the same engine gives the same windows, classes and sessions.
      const out = join(dir, `${name}-replay.jsonl`);
      const t0 = Math.min(...input.map((f) => f.t0));
      const t1 = Math.max(...input.map((f) => f.t0)) + 1;
      const r = spawnSync(process.execPath, [join(root, 'bin/edgewave.js'), 'processor', 'replay', '--config', file, '--since', new Date(Math.floor(t0 / 1000)).toISOString(), '--until', new Date(Math.ceil(t1 / 1000)).toISOString(), '--to', `jsonl:${out}`], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`${archived.objects} objects from s3://${name}/archive, ${input.length} frames → ${expected.size} windows`));
      const replayed = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; value: { sensorId: string; t0: number; label: string } & SessionEvent });
      const replayLabels = new Map(replayed.filter((x) => x.type === 'inference').map((x) => [`${x.value.sensorId}@${x.value.t0}`, x.value.label]));
      expect(replayLabels).toEqual(labels);
      const replaySessions = new Map<string, SessionEvent[]>();
      for (const x of replayed.filter((x) => x.type === 'session')) {
        const e = x.value as SessionEvent;
        let list = replaySessions.get(e.session.group);
        if (!list) replaySessions.set(e.session.group, (list = []));
        list.push(e);
      }
      expect(Object.fromEntries(replaySessions)).toEqual(Object.fromEntries(reference));
    } finally {
      await stopProcessor(current);
      await reader.stop();
    }
  }, 240_000);

  it('session events larger than a record travel in parts under the topic\'s max.message.bytes, SIGKILLed twice: the events read back and MongoDB\'s sessions equal an uninterrupted run\'s', async () => {
    // Groups of 30 sensors: an `updated` event is some 20 KB, the topics take 8 KB records.
    const name = uniqueName('proc-parts');
    const topics = topicsFor(name);
    const maxRecordBytes = 8192;
    await createTopics(kafka, topics, maxRecordBytes);
    const batches = await edgeFrames(dsp, 60, 90, 'features', 2);
    const expected = windowKeys(batches);
    const file = join(dir, `${name}.json`);
    const base = configFor(name, topics);
    writeFileSync(file, JSON.stringify({ ...base, kafka: { ...base.kafka, maxRecordBytes }, mongodb: { url: s.ferretdb!.url, database: name.replace(/-/g, '_') } }));
    const reader = await new OutputReader(kafka, topics).start();
    let current = spawnProcessor(file);
    try {
      await current.up;
      const feeding = feed(producer, topics.features, batches);
      for (const wait of [4000, 3000]) {
        await new Promise((r) => setTimeout(r, wait));
        current = await killAndRestart(current, file);
      }
      await feeding;
      await reader.expectEachOnce(expected, 90_000, 2000);
      const { sessions: reference } = await referenceRun(dsp, batches);
      const events = [...reference.values()].flat();
      expect(events.filter((e) => Buffer.byteLength(JSON.stringify(e)) > maxRecordBytes).length).toBeGreaterThan(2);
      await reader.until(() => [...reader.sessions.values()].flat().length >= events.length, 30_000, 'every session event');
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference));
      expect(reader.sessionParts).toBeGreaterThan(reader.sessionRecords / 2);
      expect(reader.largestSessionRecord).toBeLessThanOrEqual(maxRecordBytes - 4096);

      // MongoDB: each session once, whole, as of its newest event.
      const want = await expectStoredSessions(mongo, name.replace(/-/g, '_'), events);
      expect(want.filter((d) => Buffer.byteLength(JSON.stringify(d)) > maxRecordBytes).length).toBeGreaterThan(0);
    } finally {
      await stopProcessor(current);
      await reader.stop();
    }
  }, 240_000);

  it('raw frames, SIGKILLed 5 times: every window exactly once with the features and classes of an uninterrupted run; the samples awaiting a window are read again from the input', async () => {
    const name = uniqueName('procraw');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 24, 60, 'raw');
    const reference = await referenceRun(dsp, batches);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics)));
    const reader = await new OutputReader(kafka, topics).start();
    const logs: string[] = [];
    let current = spawnProcessor(file);
    logs.push(current.log);
    try {
      await current.up;
      const feeding = feed(producer, topics.raw, batches);
      let seed = 11;
      const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 1000 + rand() * 1500));
        current = await killAndRestart(current, file);
        logs.push(current.log);
      }
      await feeding;
      await reader.expectEachOnce(new Set(reference.labels.keys()), 90_000, 2000);
      expect(reader.features).toEqual(reference.features);
      expect(reader.labels).toEqual(reference.labels);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference.sessions));
      // The restarts read samples back from the raw topic (the changelog holds where they came from).
      const refilled = logs.flatMap((l) => [...readFileSync(l, 'utf8').matchAll(/"refilled":(\d+)/g)].map((m) => Number(m[1])));
      expect(refilled.filter((n) => n > 0).length, `restores that read samples again: ${refilled.join(', ')}`).toBeGreaterThan(0);
    } finally {
      await stopProcessor(current);
      await reader.stop();
    }
  }, 240_000);

  it('an agent in mode `both` (raw frames to the raw topic, feature frames to the feature topic), SIGKILLed twice: every window once, from the edge\'s features, with the classes and sessions of the feature frames alone', async () => {
    const name = uniqueName('procboth');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 24, 30, 'both');
    const raw = batches.filter((fs) => fs[0]!.kind === 'raw');
    const features = batches.filter((fs) => fs[0]!.kind === 'features');
    expect(raw.length).toBeGreaterThan(features.length);
    const reference = await referenceRun(dsp, features);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics)));
    const reader = await new OutputReader(kafka, topics).start();
    let current = spawnProcessor(file);
    try {
      await current.up;
      const feeding = Promise.all([feed(producer, topics.raw, raw), feed(producer, topics.features, features)]);
      for (let k = 0; k < 2; k++) {
        await new Promise((r) => setTimeout(r, 2500 + 1000 * k));
        current = await killAndRestart(current, file);
      }
      await feeding;
      await reader.expectEachOnce(new Set(reference.labels.keys()), 90_000, 2000);
      expect(reader.features).toEqual(reference.features);
      expect(reader.labels).toEqual(reference.labels);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference.sessions));
      // The last processor says how many raw frames it left to the archive: the last raw batch once
      // more (it may have come before this processor started) is counted, and adds no window.
      await producer.send({ topic: topics.raw, messages: [{ key: raw.at(-1)![0]!.group, value: Buffer.from(encodeBatch(raw.at(-1)!)) }] });
      const url = /metrics on (http:\/\/\S+)/.exec(readFileSync(current.log, 'utf8'))![1]!;
      const uncut = async () => Number(/^edgewave_processor_raw_frames_uncut_total (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
      const until = Date.now() + 30_000;
      while ((await uncut()) < raw.at(-1)!.length && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
      expect(await uncut()).toBeGreaterThanOrEqual(raw.at(-1)!.length);
      await new Promise((r) => setTimeout(r, 1000));
      expect(reader.windows.size).toBe(reference.labels.size);
    } finally {
      await stopProcessor(current);
      await reader.stop();
    }
  }, 180_000);

  /** Fresh topics, a processor on them with `sessions.silentGraceS` 1 s (idleGapS 10 s), and a reader of its outputs. */
  it('a group alone that stops sending mid-session (a small deployment\'s one gateway gone): the bridges\' ticks go on, its session ends with the event the engine makes, once, across a SIGKILL in the silence; a gap in the ticks (an outage) ends nothing', async () => {
    const graceS = 10;
    const batches = await edgeFrames(dsp, 4, 60, 'features', 1);
    const group = batches[0]![0]!.group;
    // The group stops 12 s into a session that would have gone on for 20 s more.
    const whole = await referenceRun(dsp, batches, { silentGraceS: graceS });
    const events = whole.sessions.get(group)!;
    const ends = new Map(events.filter((e) => e.type === 'ended').map((e) => [e.session.sessionId, e.session.end!]));
    const started = events.find((e) => e.type === 'started' && (ends.get(e.session.sessionId) ?? Infinity) - e.session.start > 20e6 && e.session.start < events[0]!.session.start + 40e6)!;
    expect(started, 'a long session of the group').toBeDefined();
    const cut = started.session.start + 12e6;
    const mine = batches.map((fs) => fs.filter((f) => f.t0 < cut)).filter((fs) => fs.length);
    const open = await referenceRun(dsp, mine, { silentGraceS: graceS });
    expect(open.sessions.get(group)!.at(-1)!.type).not.toBe('ended');
    const reference = await referenceRun(dsp, mine, { silentGraceS: graceS, advanceTo: Number.MAX_SAFE_INTEGER });
    expect(reference.sessions.get(group)!.at(-1)!.type).toBe('ended');

    const name = uniqueName('procsilent');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const file = join(dir, `${name}.json`);
    const config = configFor(name, topics);
    writeFileSync(file, JSON.stringify({ ...config, sessions: { ...config.sessions, silentGraceS: graceS } }));
    const reader = await new OutputReader(kafka, topics).start();
    let current = spawnProcessor(file);
    // A round of ticks as a bridge writes them: into every partition of both input topics, stamped `at`.
    const tick = (at: number) =>
      producer.sendBatch({ topicMessages: [topics.raw, topics.features].map((topic) => ({ topic, messages: [0, 1, 2, 3].map((partition) => ({ partition, key: null, value: null, timestamp: String(at), headers: { [TICK_HEADER]: '1000' } })) })) });
    /** Waits until the processor running now has committed `n` ticks. */
    const ticksCommitted = async (n: number) => {
      const metricsUrl = `${/metrics on (http:\/\/\S+)/.exec(readFileSync(current.log, 'utf8'))![1]!.replace(/\/$/, '')}/metrics`;
      const read = async () => Number(/^edgewave_processor_ticks_total (\d+)/m.exec(await (await fetch(metricsUrl)).text())?.[1] ?? 0);
      for (const deadline = Date.now() + 20_000; (await read()) < n; ) {
        if (Date.now() > deadline) throw new Error(`the processor committed ${await read()} of ${n} ticks in 20 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    try {
      await current.up;
      // The frames, and every tick after them, with timestamps of the test's choosing (the bridge's
      // clock in a live pipeline): the silence counted is then known to the millisecond.
      const T = Date.now();
      for (let i = 0; i < mine.length; i += 20) {
        await producer.send({ topic: topics.features, messages: mine.slice(i, i + 20).map((fs) => ({ key: fs[0]!.group, value: Buffer.from(encodeBatch(fs)), timestamp: String(T) })) });
      }
      await reader.expectEachOnce(new Set(open.labels.keys()), 90_000, 0);
      // The session is due once the partition's time (its time at the last frames, plus the
      // silence) is idleGapS + silentGraceS (20 s) past the session's last active moment.
      const endedEvent = reference.sessions.get(group)!.at(-1)!;
      const needMs = 20_000 - (open.eventTime - endedEvent.session.end!) / 1000;
      expect(needMs).toBeGreaterThan(10_000);
      // A tick at the frames' time, then ten minutes later (the bridges, the broker or Kafka away:
      // the gap counts 2.5 s), then a tick a second, to at least 1.5 s short of due: still open.
      const at = (i: number) => T + 600_000 + i * 1000;
      const before = Math.floor((needMs - 2500 - 1500) / 1000);
      const quietBefore = 2500 + before * 1000;
      await tick(T);
      await tick(at(0));
      for (let i = 1; i <= before; i++) await tick(at(i));
      await ticksCommitted(8 * (2 + before));
      await new Promise((r) => setTimeout(r, 2000));
      expect(reader.sessions.get(group)).toEqual(open.sessions.get(group));
      // SIGKILLed in the silence: the next processor goes on counting from the changelog, so a few
      // more ticks (at least 0.5 s past due) end the session; counted afresh they would be 2-3 s.
      current = await killAndRestart(current, file);
      const after = Math.ceil((needMs - quietBefore + 500) / 1000);
      for (let i = before + 1; i <= before + after; i++) await tick(at(i));
      await reader.until(() => reader.sessions.get(group)?.at(-1)?.type === 'ended', 30_000, `the ended event (${after} ticks after the restart, ${quietBefore} ms of silence before it, ${needMs} ms due)`);
      // It ends at its last active moment, as a window of that time would have ended it, once.
      for (let i = before + after + 1; i <= before + after + 10; i++) await tick(at(i));
      await new Promise((r) => setTimeout(r, 3000));
      expect(reader.sessions.get(group)).toEqual(reference.sessions.get(group));
      expect(readFileSync(current.log, 'utf8')).toMatch(/sessions of groups that sent nothing more ended/);
      expect(reader.dead, 'ticks are not dead letters').toEqual([]);
    } finally {
      await stopProcessor(current);
      await reader.stop();
    }
  }, 180_000);

  it('two processors in one group, rebalanced mid-run three times: the sum of their outputs is exactly once and the sessions equal an uninterrupted run', async () => {
    const name = uniqueName('proc2');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = await edgeFrames(dsp, 24, 90);
    const expected = windowKeys(batches);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics)));
    const reader = await new OutputReader(kafka, topics).start();
    const a = spawnProcessor(file);
    let b: ReturnType<typeof spawnProcessor> | undefined;
    let c: ReturnType<typeof spawnProcessor> | undefined;
    try {
      await a.up;
      const feeding = feed(producer, topics.features, batches);
      // A second processor joins (the partitions are split), a third joins, then the first leaves.
      await new Promise((r) => setTimeout(r, 2500));
      b = spawnProcessor(file);
      await b.up;
      await new Promise((r) => setTimeout(r, 3000));
      c = spawnProcessor(file);
      await c.up;
      await new Promise((r) => setTimeout(r, 2000));
      await stopProcessor(a);
      await feeding;
      await reader.expectEachOnce(expected, 90_000, 2000);
      const { sessions: reference, labels } = await referenceRun(dsp, batches);
      expect(reader.labels).toEqual(labels);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference));
    } finally {
      await Promise.allSettled([stopProcessor(a), stopProcessor(b), stopProcessor(c)]);
      await reader.stop();
    }
  }, 240_000);

  it('topics that do not exist: the CLI exits 2 naming them, and creates none (the dev broker would, with its defaults)', async () => {
    const name = uniqueName('proc-notopics');
    const topics = topicsFor(name);
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Two of the six exist.
      await admin.createTopics({ topics: [topics.raw, topics.features].map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(configFor(name, topics)));
      const p = spawnProcessor(file);
      const code = await new Promise<number | null>((r) => p.proc.once('exit', (c) => r(c)));
      await p.up.catch(() => {});
      const said = readFileSync(p.log, 'utf8');
      expect(code).toBe(2);
      expect(said).toContain(`edgewave processor: Kafka has no topic ${[topics.inferences, topics.sessions, topics.deadletter, topics.processorState].join(', ')}: create them first`);
      expect(said).toContain('[EW_KAFKA_TOPICS]');
      expect(said).not.toMatch(/KafkaJS|at .*node_modules/);
      expect((await admin.listTopics()).filter((t) => t.startsWith(`${name}.`)).sort()).toEqual([topics.features, topics.raw].sort());
    } finally {
      await admin.disconnect();
    }
  }, 60_000);

  it('a record that is no frame goes to the dead-letter topic with its reason, one near the broker\'s limit cut to fit; the frames around them are processed', async () => {
    const name = uniqueName('proc');
    const topics = topicsFor(name);
    await createTopics(kafka, topics);
    const batches = (await edgeFrames(dsp, 4, 20)).filter((fs) => fs[0]!.group === 'group-0');
    const half = Math.floor(batches.length / 2);
    const poison = Buffer.from('EW definitely not a frame');
    // Within the broker's record batch limit (1,048,588 bytes by default) by 109 bytes, so not with
    // a dead letter's headers on top: sent as it is, that dead letter would be refused, and the
    // transaction with it, again and again.
    const large = Buffer.alloc(1_048_400, 0x5a);
    const records = (from: number, to: number) => batches.slice(from, to).map((fs) => ({ key: 'group-0', value: Buffer.from(encodeBatch(fs)) }));
    await producer.send({ topic: topics.features, messages: [...records(0, half), { key: 'group-0', value: poison }] });
    await producer.send({ topic: topics.features, messages: [{ key: 'group-0', value: large }] });
    await producer.send({ topic: topics.features, messages: records(half, batches.length) });
    const windows = batches.flat().reduce((n, f) => n + f.count, 0);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(configFor(name, topics)));
    const reader = await new OutputReader(kafka, topics).start();
    const p = spawnProcessor(file);
    try {
      await p.up;
      await reader.until(() => reader.windows.size >= windows && reader.dead.length >= 2, 60_000, 'the windows and the dead letters');
      expect(reader.dead).toHaveLength(2);
      expect(reader.dead.map((d) => d.reason)).toEqual([expect.stringMatching(/^EW_PROTO_/), expect.stringMatching(/^EW_PROTO_/)]);
      expect(reader.dead[0]!.value.equals(poison)).toBe(true);
      expect(reader.dead[0]!.bytes).toBe(poison.length);
      // The large one: its first 1,000,000 - 4,096 bytes (kafka.maxRecordBytes), and its length.
      expect(reader.dead[1]!.value.equals(large.subarray(0, 1_000_000 - 4096))).toBe(true);
      expect(reader.dead[1]!.bytes).toBe(large.length);
      expect(reader.windows.size).toBe(windows);
    } finally {
      await stopProcessor(p);
      await reader.stop();
    }
  }, 120_000);
});
