// The distributed pipeline end to end, each component its own process as deployed: edge agents
// (simulated sensors) → Mosquitto → bridge → Kafka → processor → Kafka / MongoDB → API →
// WebSocket client. What the agents sent comes from the agents (harness.ts); the accounting
// checker then finds every frame exactly once in the inference topic (read_committed) and in what
// the WebSocket client received. Two short runs, each with faults:
// 1. the processor SIGKILLed mid-run and started again, then the bridge;
// 2. the broker (a Mosquitto of the test's own) stopped for a while, one agent SIGKILLed during
//    that outage and started again, then the broker back.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopics } from '../cloud/processor/harness.js';
import { servers, uniqueName } from '../config.js';
import { PrivateBroker } from '../edge/private-broker.js';
import { account, describeReport } from './accounting.js';
import { apiConfig, freePort, outboxHighest, readInferences, ready, seqFile, sleep, start, stop, until, wsInferences, type Proc } from './harness.js';

const s = servers();
const need = s.kafka && s.mosquitto && s.ferretdb ? describe : describe.skip;
if (!s.kafka || !s.mosquitto || !s.ferretdb) console.warn(`e2e tests skipped: ${JSON.stringify(s.missing)}`);

const tmp = mkdtempSync(join(tmpdir(), 'edgewave-e2e-'));
/** How long the broker is away in the outage run, seconds (scripts/e2e-long.sh: 60). */
const OUTAGE_S = Number(process.env.EW_E2E_OUTAGE_S ?? 6);
/** How many times the processor is SIGKILLed in the first run (scripts/e2e-long.sh: 10). */
const KILLS = Number(process.env.EW_E2E_KILLS ?? 2);

need('the distributed pipeline, end to end', () => {
  const procs: Proc[] = [];
  let kafka: Kafka;
  let mongo: MongoClient;

  beforeAll(async () => {
    kafka = new Kafka({ clientId: 'edgewave-e2e', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    mongo = await new MongoClient(s.ferretdb!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await mongo?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Kafka topics, the processor, the API and a bridge on `mqttUrl`, each ready; and the two readers of the outputs. */
  async function cloud(run: string, mqttUrl: string, shared = true, commitIntervalMs = 100) {
    const name = uniqueName(`e2e-${run}`);
    const topics = { raw: `${name}.raw`, features: `${name}.features`, status: `${name}.status`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` };
    await createTopics(kafka, topics);
    const brokers = s.kafka!.brokers;
    const database = name.replace(/[^A-Za-z0-9_]/g, '_');
    const [bridgePort, processorPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const topicRoot = `ew-${name}`;
    const processorConfig = {
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, inferences: topics.inferences, sessions: topics.sessions, deadletter: topics.deadletter, processorState: topics.processorState }, groupId: `${name}-processor`, transactionalIdPrefix: `${name}-processor`, sessionTimeoutMs: 6000, commitIntervalMs },
      mongodb: { url: s.ferretdb!.url, database },
      // A short grace: the sessions still open when the agents stop end by the bridge's ticks within the check.
      sessions: { minSensors: 2, startAfterS: 2, idleGapS: 10, silentGraceS: 3 },
      http: { port: processorPort },
      logLevel: 'info',
    };
    const bridgeConfig = {
      mqtt: { url: mqttUrl, clientId: `${name}-bridge`, shareGroup: shared ? name : null, topicRoot, reconnectMs: 200 },
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, status: topics.status, deadletter: topics.deadletter } },
      http: { port: bridgePort },
      logLevel: 'info',
    };
    const c = {
      name, topics, database, topicRoot,
      processor: start(tmp, `${run}-processor`, 'processor', processorConfig),
      api: start(tmp, `${run}-api`, 'api', apiConfig({ port: apiPort, mongodbUrl: s.ferretdb!.url, database, brokers, topics, groupPrefix: `${name}-api` })),
      bridge: start(tmp, `${run}-bridge`, 'bridge', bridgeConfig),
      restartProcessor: async (tag: string) => {
        c.processor = start(tmp, `${run}-processor-${tag}`, 'processor', processorConfig);
        procs.push(c.processor);
        await ready(c.processor, processorPort);
      },
      restartBridge: async (tag: string) => {
        c.bridge = start(tmp, `${run}-bridge-${tag}`, 'bridge', bridgeConfig);
        procs.push(c.bridge);
        await ready(c.bridge, bridgePort);
      },
    };
    procs.push(c.processor, c.api, c.bridge);
    await Promise.all([ready(c.processor, processorPort), ready(c.api, apiPort, '/health'), ready(c.bridge, bridgePort)]);
    const ws = await wsInferences(apiPort);
    /** Inferences the API read before their commit, then again after an aborted transaction, and did not send twice. */
    const repeats = async () => /^edgewave_api_live_repeats_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text())?.[1];
    // The same object, not a copy: restartProcessor and restartBridge replace c.processor and
    // c.bridge, and the next SIGKILL must reach the process running now.
    return Object.assign(c, { ws, repeats });
  }

  /** An edge agent of 12 simulated sensors (features: one frame per window), with its own data directory. */
  async function agent(run: string, g: number, mqttUrl: string, topicRoot: string, tag = '') {
    const port = await freePort();
    const dataDir = join(tmp, `${run}-gw${g}`);
    const p = start(tmp, `${run}-edge-${g}${tag}`, 'edge', {
      gatewayId: `gw${g}`,
      dataDir,
      mqtt: { url: mqttUrl, topicRoot, clientId: `${topicRoot}-gw${g}`, backoff: { minMs: 100, maxMs: 1000 } },
      outbox: { fsync: 'none' },
      sources: [{ type: 'simulator', sensors: 12, rate: 200, groups: 3, seed: 40 + g }],
      http: { port },
      logLevel: 'info',
    });
    procs.push(p);
    await ready(p, port, '/health');
    return { p, dataDir };
  }

  /** Reads the outputs until `expected` windows arrived at both, then checks them against `sent`. */
  async function check(c: Awaited<ReturnType<typeof cloud>>, sent: Map<string, number[]>): Promise<{ total: number; sessions: number; endedSilent: number }> {
    const total = [...sent.values()].reduce((n, x) => n + x.length, 0);
    const inferences = await readInferences(kafka, c.topics.inferences, `${c.name}-check`);
    try {
      // Until every window is there (or a minute has passed: then the report says what is missing).
      await until(`${total} inferences`, 60_000, () => (inferences.seen.length >= total && c.ws.seen.length >= total ? true : undefined), [c.processor, c.api, c.bridge]).catch(() => {});
      // A moment for anything extra (a duplicate) to show up.
      await sleep(2000);
    } finally {
      await inferences.stop();
      c.ws.close();
    }
    const inKafka = account(sent, inferences.seen);
    expect(inKafka.ok, describeReport('inferences (read_committed)', inKafka)).toBe(true);
    const atClient = account(sent, c.ws.seen);
    expect(atClient.ok, describeReport('WebSocket client', atClient)).toBe(true);
    // What the client was sent (some of it before its commit) is what was committed.
    expect(c.ws.features).toEqual(inferences.features);
    expect(c.ws.labels).toEqual(inferences.labels);
    const collection = mongo.db(c.database).collection('sessions');
    const sessions = await collection.countDocuments();
    expect(sessions).toBeGreaterThan(0);
    // The agents have stopped and no gateway sends; the bridge goes on writing ticks, and each
    // session still open ends once its partition's input time is idleGapS + silentGraceS (13 s) past
    // its last active moment.
    await until('every session ended', 60_000, async () => ((await collection.countDocuments({ status: 'active' })) === 0 ? true : undefined), [c.processor, c.bridge]);
    expect(await collection.countDocuments(), 'sessions').toBe(sessions);
    // How many the ticks ended (the processor's log names them).
    const endedSilent = endedBySilenceBefore([c.processor], Infinity).length;
    return { total, sessions, endedSilent };
  }

  /** Sessions the bridge's ticks ended before `t` (ms): none may be while the agents send. */
  const endedBySilenceBefore = (procs: Proc[], t: number): string[] =>
    procs.flatMap((p) =>
      readFileSync(p.log, 'utf8')
        .split('\n')
        .filter((line) => line.includes('sessions of groups that sent nothing more ended'))
        .map((line) => JSON.parse(line) as { time: number; sessions: string[] })
        .filter((x) => x.time < t)
        .flatMap((x) => x.sessions.map((id) => `${id} (${p.name})`)),
    );

  /** After a clean stop: each sensor sent exactly seqs 0 … n − 1. */
  const sentAfterCleanStop = (dataDir: string) => new Map([...seqFile(dataDir)].map(([id, n]) => [id, Array.from({ length: n }, (_, i) => i)]));

  it('every frame the agents sent is in the inferences exactly once, and at the WebSocket client exactly once, across SIGKILLs of the processor and one of the bridge', async () => {
    // Transactions of 2 s: each kill below lands in one that has written inferences, which the API
    // has sent (it reads before the commit) and which the next processor writes again.
    const c = await cloud('kill', s.mosquitto!.url, true, 2000);
    const gateways = await Promise.all([0, 1].map((g) => agent('kill', g, s.mosquitto!.url, c.topicRoot)));
    const committed = await readInferences(kafka, c.topics.inferences, `${c.name}-committed`);
    const key = (o: { sensorId: string; seq: number }) => `${o.sensorId}#${o.seq}`;
    // Mid-run, the processor dies without warning at random points and comes back.
    await sleep(5000);
    let seed = 3;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const killed: Proc[] = [];
    for (let k = 0; k < KILLS; k++) {
      // A point where the client has a window that is not committed yet.
      await until('an inference sent before its commit', 30_000, () => {
        const done = new Set(committed.seen.map(key));
        return c.ws.seen.some((o) => !done.has(key(o))) ? true : undefined;
      }, [c.processor]);
      killed.push(c.processor);
      await stop(c.processor, 'SIGKILL');
      await sleep(500 + rand() * 1500);
      await c.restartProcessor(String(k + 2));
      await sleep(1000 + rand() * 3000);
    }
    // Each kill reached a different processor, the one running then, and none of them ended otherwise.
    expect(new Set(killed).size).toBe(KILLS);
    expect(killed.map((p) => p.proc.signalCode), killed.map((p) => p.log).join(', ')).toEqual(killed.map(() => 'SIGKILL'));
    expect(c.processor.proc.exitCode, `processor log: ${c.processor.log}`).toBeNull();
    // Then the bridge, between taking messages and acknowledging them: the broker keeps its session
    // (the same client id) and delivers again what was not acknowledged.
    await stop(c.bridge, 'SIGKILL');
    await sleep(1000);
    await c.restartBridge('2');
    await sleep(3000);
    // The agents stop cleanly: everything delivered, and seq.json holds each sensor's count.
    const stoppingAt = Date.now();
    const sent = new Map<string, number[]>();
    for (const g of gateways) {
      expect(await stop(g.p), `agent log: ${g.p.log}`).toBe(0);
      for (const [id, seqs] of sentAfterCleanStop(g.dataDir)) sent.set(id, seqs);
    }
    expect(sent.size).toBe(24);
    await committed.stop();
    const { total, sessions, endedSilent } = await check(c, sent);
    expect(total).toBeGreaterThan(24 * 8);
    // Restarts read one input topic behind the other: no session ended by the ticks while the agents sent.
    expect(endedBySilenceBefore([...killed, c.processor], stoppingAt)).toEqual([]);
    // The aborted transactions' inferences reached the API, and were recognised when written again.
    const repeats = Number(await c.repeats());
    expect(repeats).toBeGreaterThan(0);
    console.log(`e2e kill: ${sent.size} sensors, ${total} frames, each once in Kafka and at the client (${repeats} written again after aborted transactions, recognised by the API); ${sessions} sessions (${endedSilent} ended by the ticks after the agents stopped); processor SIGKILLed ${KILLS} times, the bridge once`);
  }, 180_000 + KILLS * 15_000);

  it('a broker outage with an agent SIGKILLed in it: nothing the agents stored is lost, nothing is doubled', async () => {
    const broker = new PrivateBroker(await freePort());
    await broker.start();
    try {
      // One bridge on a plain persistent subscription. Mosquitto (2.0.11 here) restores a shared
      // subscription from its persistence file but queues nothing for it until a member of the group
      // reconnects: a gateway that reconnects first after the restart has its messages acknowledged
      // and dropped. helm/scaling.md says so, and which setting keeps them.
      const c = await cloud('outage', broker.url, false);
      const gateways = await Promise.all([0, 1].map((g) => agent('outage', g, broker.url, c.topicRoot)));
      await sleep(5000);
      // The broker goes away (the uplink is cut); the agents keep sampling into their outboxes.
      await broker.stop();
      await sleep((OUTAGE_S * 1000) / 2);
      // Agent 0 dies in the outage. What it had accepted is in its outbox on disk; it continues at
      // the sequence numbers it had reserved (seq.json), skipping the ones it never used.
      const crashed = gateways[0]!;
      await stop(crashed.p, 'SIGKILL');
      const reserved = seqFile(crashed.dataDir);
      const stored = await outboxHighest(crashed.dataDir);
      expect(stored.size, 'frames waiting in the outbox of the crashed agent').toBe(12);
      gateways[0] = await agent('outage', 0, broker.url, c.topicRoot, '-2');
      await sleep((OUTAGE_S * 1000) / 2);
      await broker.start();
      await sleep(6000);
      const stoppingAt = Date.now();
      const sent = new Map<string, number[]>();
      for (const g of gateways) expect(await stop(g.p), `agent log: ${g.p.log}`).toBe(0);
      for (const [id, seqs] of sentAfterCleanStop(gateways[1]!.dataDir)) sent.set(id, seqs);
      // The crashed agent's sensors: every seq up to the highest it had stored, then from where it continued.
      for (const [id, end] of seqFile(crashed.dataDir)) {
        const upTo = stored.get(id)!;
        const from = reserved.get(id)!;
        expect(from, id).toBeGreaterThan(upTo);
        sent.set(id, [...Array.from({ length: upTo + 1 }, (_, i) => i), ...Array.from({ length: end - from }, (_, i) => from + i)]);
      }
      expect(sent.size).toBe(24);
      const { total, sessions, endedSilent } = await check(c, sent);
      expect(endedBySilenceBefore([c.processor], stoppingAt)).toEqual([]);
      console.log(`e2e outage: ${sent.size} sensors, ${total} frames, each once in Kafka and at the client; ${sessions} sessions (${endedSilent} ended by the ticks after the agents stopped); broker away ${OUTAGE_S} s and more, an agent SIGKILLed in it`);
    } finally {
      await broker.dispose();
    }
  }, 180_000 + OUTAGE_S * 2000);
});

