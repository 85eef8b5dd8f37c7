// Raw mode end to end, with Kafka taken away mid-run: edge agents sending raw frames → Mosquitto →
// bridge → Kafka (a node of the test's own, stopped and started again) → processor → Kafka, MongoDB
// and the S3 archive → API → WebSocket client. Checked afterwards:
// - every frame the agents sent is in the archive exactly once, equal field by field to what the
//   raw topic holds;
// - every window those frames make is in the inference topic (read_committed) exactly once, with
//   the features, classes and session events of a fault-free run of the processor's engine over
//   the same input, and at the WebSocket client exactly once;
// - MongoDB holds exactly the newest version of each of those sessions.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parquetToFrames } from '../../cloud/store/archive.js';
import { toDocument } from '../../cloud/store/sessions-store.js';
import { loadDsp } from '../../dsp/src/index.js';
import type { Frame } from '../../protocol/index.js';
import { KafkaNode } from '../../scripts/servers/kafka.js';
import { newRunLogDir } from '../../scripts/servers/paths.js';
import { OutputReader, createTopics, referenceRun } from '../cloud/processor/harness.js';
import { servers, uniqueName } from '../config.js';
import { account, describeReport } from './accounting.js';
import { apiConfig, freePort, readRecords, ready, seqFile, sleep, start, stop, until, wsInferences, type Proc } from './harness.js';

const s = servers();
const need = s.mosquitto && s.ferretdb && s.minio ? describe : describe.skip;
if (!s.mosquitto || !s.ferretdb || !s.minio) console.warn(`e2e raw tests skipped: ${JSON.stringify(s.missing)}`);

const tmp = mkdtempSync(join(tmpdir(), 'edgewave-e2e-raw-'));
/** How long Kafka is away, seconds (scripts/e2e-long.sh: 60). */
const KAFKA_DOWN_S = Number(process.env.EW_E2E_KAFKA_DOWN_S ?? 8);
/** sessions.silentGraceS of the processor and of the fault-free run it is compared with (see the processor's config). */
const SILENT_GRACE_S = 3600;

need('raw mode end to end, Kafka restarted mid-run', () => {
  const procs: Proc[] = [];
  let node: KafkaNode;
  let mongo: MongoClient;
  let s3: S3Client;

  beforeAll(async () => {
    node = await KafkaNode.create({ logDir: newRunLogDir() }, mkdtempSync(join(tmpdir(), 'edgewave-e2e-kafka-')));
    await node.start();
    mongo = await new MongoClient(s.ferretdb!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
    const m = s.minio!;
    s3 = new S3Client({ endpoint: m.endpoint, region: m.region, forcePathStyle: true, credentials: { accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey } });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await mongo?.close();
    s3?.destroy();
    await node?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('every raw frame archived once, every window once in Kafka and at the client, with the features, classes and sessions of a fault-free run, across a Kafka restart', async () => {
    const name = uniqueName('e2e-raw');
    const kafka = new Kafka({ clientId: 'edgewave-e2e', brokers: [node.brokers], logLevel: logLevel.NOTHING });
    const topics = { raw: `${name}.raw`, features: `${name}.features`, status: `${name}.status`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` };
    await createTopics(kafka, topics);
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    const database = name.replace(/[^A-Za-z0-9_]/g, '_');
    const brokers = [node.brokers];
    const topicRoot = `ew-${name}`;
    const m = s.minio!;
    const [bridgePort, processorPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const processor = start(tmp, 'raw-processor', 'processor', {
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, inferences: topics.inferences, sessions: topics.sessions, deadletter: topics.deadletter, processorState: topics.processorState }, groupId: `${name}-processor`, transactionalIdPrefix: `${name}-processor`, sessionTimeoutMs: 6000 },
      mongodb: { url: s.ferretdb!.url, database },
      s3: { endpoint: m.endpoint, region: m.region, accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey },
      archive: { url: `s3://${name}/archive`, flushBytes: 256 * 1024, flushS: 1 },
      // The bridge's ticks go on after the agents stop, and would end the sessions still open then
      // once the grace had passed: the fault-free run (the engine over the records, with nothing
      // after their end) has them open. A grace longer than the whole check keeps the two alike.
      sessions: { minSensors: 2, startAfterS: 5, idleGapS: 10, updateEveryS: 15, silentGraceS: SILENT_GRACE_S },
      http: { port: processorPort },
      logLevel: 'info',
    });
    const api = start(tmp, 'raw-api', 'api', apiConfig({ port: apiPort, mongodbUrl: s.ferretdb!.url, database, brokers, topics, groupPrefix: `${name}-api` }));
    const bridge = start(tmp, 'raw-bridge', 'bridge', {
      mqtt: { url: s.mosquitto!.url, clientId: `${name}-bridge`, shareGroup: null, topicRoot, reconnectMs: 200 },
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, status: topics.status, deadletter: topics.deadletter } },
      http: { port: bridgePort },
      logLevel: 'info',
    });
    procs.push(processor, api, bridge);
    await Promise.all([ready(processor, processorPort), ready(api, apiPort, '/health'), ready(bridge, bridgePort)]);
    const ws = await wsInferences(apiPort);
    const reader = await new OutputReader(kafka, topics).start();

    const agents: { p: Proc; dataDir: string }[] = [];
    for (const g of [0, 1]) {
      const port = await freePort();
      const dataDir = join(tmp, `raw-gw${g}`);
      const p = start(tmp, `raw-edge-${g}`, 'edge', {
        gatewayId: `gw${g}`,
        dataDir,
        mqtt: { url: s.mosquitto!.url, topicRoot, clientId: `${topicRoot}-gw${g}`, backoff: { minMs: 100, maxMs: 1000 } },
        outbox: { fsync: 'none' },
        sources: [{ type: 'simulator', sensors: 12, rate: 200, groups: 3, seed: 60 + g }],
        groups: { default: { mode: 'raw', decimate: 1 } },
        http: { port },
        logLevel: 'info',
      });
      procs.push(p);
      agents.push({ p, dataDir });
      await ready(p, port, '/health');
    }
    try {
      await sleep(6000);
      // Kafka goes away: the bridge stops acknowledging (the broker keeps the messages), the
      // processor's transactions fail and it rebuilds its state when Kafka is back.
      await node.stop();
      await sleep(KAFKA_DOWN_S * 1000);
      await node.start();
      await sleep(8000);
      const sent = new Map<string, number[]>();
      for (const a of agents) {
        expect(await stop(a.p), `agent log: ${a.p.log}`).toBe(0);
        for (const [id, n] of seqFile(a.dataDir)) sent.set(id, Array.from({ length: n }, (_, i) => i));
      }
      expect(sent.size).toBe(24);
      for (const p of [processor, api, bridge]) expect(p.proc.exitCode, `${p.name} exited; log: ${p.log}`).toBeNull();

      // What the bridge wrote; the fault-free run of the engine over it, in the same order.
      await until('the bridge to take every frame', 60_000, async () => {
        const frames = (await readRecords(kafka, topics.raw, uniqueName('e2e-records'))).flat();
        return account(sent, frames).ok ? true : undefined;
      }, [bridge]);
      const records = await readRecords(kafka, topics.raw, uniqueName('e2e-records'));
      const frames = records.flat();
      const inKafka = account(sent, frames);
      expect(inKafka.ok, describeReport('raw topic', inKafka)).toBe(true);
      const reference = await referenceRun(await loadDsp(), records, { silentGraceS: SILENT_GRACE_S });
      const windows = reference.labels.size;
      expect(windows).toBeGreaterThan(24 * 10);

      // Inferences (read_committed): each window once, as the fault-free run has it.
      await reader.until(() => [...reference.labels.keys()].every((k) => reader.windows.has(k)), 90_000, 'every window');
      await sleep(2000);
      expect([...reader.windows].filter(([, n]) => n > 1), 'windows seen more than once').toEqual([]);
      expect(reader.windows.size).toBe(windows);
      expect(reader.features).toEqual(reference.features);
      expect(reader.labels).toEqual(reference.labels);
      expect(Object.fromEntries(reader.sessions)).toEqual(Object.fromEntries(reference.sessions));
      const started = [...reference.sessions.values()].flat().filter((e) => e.type === 'started').length;

      // The WebSocket client: each window once, with the features and class the fault-free run has.
      // The API sends inferences before their transaction commits: what a transaction aborted at
      // the Kafka restart had written reached the client, and was written again after it.
      await until('every window at the WebSocket client', 30_000, () => (ws.seen.length >= windows ? true : undefined)).catch(() => {});
      const atClient = account(reference.seqs, ws.seen);
      expect(atClient.ok, describeReport('WebSocket client', atClient)).toBe(true);
      expect(ws.features).toEqual(reference.features);
      expect(ws.labels).toEqual(reference.labels);

      // MongoDB: each session once, as of its newest event.
      const newest = new Map<string, ReturnType<typeof toDocument>>();
      for (const e of [...reference.sessions.values()].flat()) newest.set(e.session.sessionId, toDocument(e.session));
      const want = [...newest.values()].sort((a, b) => (a._id < b._id ? -1 : 1));
      const collection = mongo.db(database).collection('sessions');
      const docs = await until('MongoDB to hold the newest sessions', 30_000, async () => {
        const d = await collection.find().sort({ _id: 1 }).toArray();
        return JSON.stringify(d.map((x) => [x._id, x.version])) === JSON.stringify(want.map((x) => [x._id, x.version])) ? d : undefined;
      }).catch(async () => collection.find().sort({ _id: 1 }).toArray());
      expect(docs).toEqual(want);

      // The archive: every frame once, equal to the raw topic's.
      const archived = await until('every frame in the archive', 60_000, async () => {
        const list: Frame[] = [];
        let token: string | undefined;
        do {
          const page = await s3.send(new ListObjectsV2Command({ Bucket: name, Prefix: 'archive/', ContinuationToken: token }));
          for (const o of page.Contents ?? []) list.push(...(await parquetToFrames(await (await s3.send(new GetObjectCommand({ Bucket: name, Key: o.Key! }))).Body!.transformToByteArray())));
          token = page.NextContinuationToken;
        } while (token);
        return list.length >= frames.length ? list : undefined;
      });
      const inArchive = account(sent, archived);
      expect(inArchive.ok, describeReport('archive', inArchive)).toBe(true);
      const byId = new Map(frames.map((f) => [`${f.sensorId}#${f.seq}`, f]));
      for (const f of archived) {
        const k = byId.get(`${f.sensorId}#${f.seq}`)!;
        expect({ ...f, data: Array.from(f.data) }).toEqual({ ...k, data: Array.from(k.data) });
      }
      const repeats = /^edgewave_api_live_repeats_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text())?.[1];
      console.log(`e2e raw: ${sent.size} sensors, ${frames.length} raw frames archived once each, ${windows} windows once in Kafka and at the client (${repeats} written again after aborted transactions, recognised by the API), ${started} sessions started as in the fault-free run; Kafka stopped for ${KAFKA_DOWN_S} s`);
    } finally {
      ws.close();
      await reader.stop().catch(() => {});
    }
  }, 300_000 + KAFKA_DOWN_S * 2000);
});
