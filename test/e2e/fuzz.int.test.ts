// Bad input at scale through the running pipeline: while an edge agent sends good traffic, a
// publisher puts EW_E2E_FUZZ_FRAMES (default 1,000,000) bad frames of every kind (fuzz-frames.ts)
// on a gateway's MQTT topics, most in batches of 200, some one to a message. Then:
// - every bad frame is in the dead-letter topic exactly once, with its reason, and no bad frame
//   reached the raw topic or the processor;
// - nothing crashed: the bridge and the processor are running and ready;
// - every frame the agent sent is in the inference topic exactly once (read_committed).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_ERROR_CODES } from '../../protocol/index.js';
import { createTopics } from '../cloud/processor/harness.js';
import { servers, uniqueName } from '../config.js';
import { account, describeReport } from './accounting.js';
import { FuzzFrames } from './fuzz-frames.js';
import { freePort, readInferences, ready, seqFile, sleep, start, stop, until, type Proc } from './harness.js';

const s = servers();
const need = s.kafka && s.mosquitto ? describe : describe.skip;
if (!s.kafka || !s.mosquitto) console.warn(`e2e fuzz tests skipped: ${JSON.stringify(s.missing)}`);

const FRAMES = Number(process.env.EW_E2E_FUZZ_FRAMES ?? 1_000_000);
const PER_BATCH = 200;
/** How long the dead letters may take: 2,000 frames/s at least (about 35,000/s here). */
const WAIT_MS = Math.max(300_000, FRAMES / 2);
const tmp = mkdtempSync(join(tmpdir(), 'edgewave-e2e-fuzz-'));

need('bad input at scale through the running pipeline', () => {
  const procs: Proc[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    rmSync(tmp, { recursive: true, force: true });
  });

  it(`${FRAMES} bad frames: each one dead-lettered once with its reason, nothing crashes, the good traffic alongside exactly once`, async () => {
    const name = uniqueName('e2e-fuzz');
    const kafka = new Kafka({ clientId: 'edgewave-e2e', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    const topics = { raw: `${name}.raw`, features: `${name}.features`, status: `${name}.status`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` };
    await createTopics(kafka, topics);
    const brokers = s.kafka!.brokers;
    const topicRoot = `ew-${name}`;
    const [bridgePort, processorPort, agentPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const processor = start(tmp, 'fuzz-processor', 'processor', {
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, inferences: topics.inferences, sessions: topics.sessions, deadletter: topics.deadletter, processorState: topics.processorState }, groupId: `${name}-processor`, transactionalIdPrefix: `${name}-processor`, sessionTimeoutMs: 6000 },
      http: { port: processorPort },
      logLevel: 'info',
    });
    const bridge = start(tmp, 'fuzz-bridge', 'bridge', {
      // A short keepalive: under this load the bridge often holds a message past the receive maximum
      // (the test Mosquitto does not keep it), with the broker's answers to its pings unread behind it.
      mqtt: { url: s.mosquitto!.url, clientId: `${name}-bridge`, shareGroup: null, topicRoot, keepaliveS: 5 },
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, status: topics.status, deadletter: topics.deadletter } },
      http: { port: bridgePort },
      logLevel: 'warn',
    });
    procs.push(processor, bridge);
    await Promise.all([ready(processor, processorPort), ready(bridge, bridgePort)]);

    // Every dead letter, counted by reason; and anything the fuzzed gateway got into the raw topic.
    const reasons = new Map<string, number>();
    let dead = 0;
    let leaked = 0;
    const dl = kafka.consumer({ groupId: `${name}-dl` });
    await dl.connect();
    await dl.subscribe({ topics: [topics.deadletter, topics.raw], fromBeginning: true });
    await dl.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (batch.topic === topics.raw) {
            if (String(m.headers?.['ew-gateway']) === 'gwF') leaked++;
            continue;
          }
          const r = String(m.headers?.['ew-reason']);
          reasons.set(r, (reasons.get(r) ?? 0) + 1);
          dead++;
        }
      },
    });
    const inferences = await readInferences(kafka, topics.inferences, `${name}-check`);

    const dataDir = join(tmp, 'fuzz-gw0');
    const agent = start(tmp, 'fuzz-edge', 'edge', {
      gatewayId: 'gw0',
      dataDir,
      mqtt: { url: s.mosquitto!.url, topicRoot, clientId: `${topicRoot}-gw0` },
      outbox: { fsync: 'none' },
      sources: [{ type: 'simulator', sensors: 12, rate: 200, groups: 3, seed: 90 }],
      http: { port: agentPort },
      logLevel: 'info',
    });
    procs.push(agent);
    await ready(agent, agentPort, '/health');

    // The fuzzing gateway: batches on its batch topic, every 25th message one frame on a sensor topic.
    const client = await mqtt.connectAsync(s.mosquitto!.url, { clientId: `${name}-fuzzer`, protocolVersion: 5, clean: true });
    const fuzz = new FuzzFrames('gwF', 20261202);
    const t0 = performance.now();
    let sent = 0;
    let messages = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (sent < FRAMES) {
      let payload: Uint8Array;
      let topic: string;
      if (messages % 25 === 24) {
        payload = fuzz.single();
        topic = `${topicRoot}/gwF/fz-${messages % 50}/raw`;
        sent++;
      } else {
        const n = Math.min(PER_BATCH, FRAMES - sent);
        payload = fuzz.batch(n);
        topic = `${topicRoot}/gwF/batch`;
        sent += n;
      }
      messages++;
      const p = client.publishAsync(topic, Buffer.from(payload), { qos: 1 });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 200) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await client.endAsync();
    const published = (performance.now() - t0) / 1000;

    await until(`${FRAMES} dead letters`, WAIT_MS, () => (dead >= FRAMES ? true : undefined), [bridge, processor]).catch(() => {});
    const through = (performance.now() - t0) / 1000;
    await sleep(2000);
    // The agent stops cleanly: seq.json holds what each sensor sent.
    expect(await stop(agent), `agent log: ${agent.log}`).toBe(0);
    const good = new Map([...seqFile(dataDir)].map(([id, n]) => [id, Array.from({ length: n }, (_, i) => i)]));
    const total = [...good.values()].reduce((n, x) => n + x.length, 0);
    await until(`${total} inferences`, 60_000, () => (inferences.seen.length >= total ? true : undefined)).catch(() => {});
    await sleep(2000);
    await inferences.stop();
    await dl.disconnect();

    for (const p of [bridge, processor]) expect(p.proc.exitCode, `${p.name} exited; log: ${p.log}`).toBeNull();
    expect((await fetch(`http://127.0.0.1:${bridgePort}/ready`)).ok).toBe(true);
    expect((await fetch(`http://127.0.0.1:${processorPort}/ready`)).ok).toBe(true);
    // The bridge kept its MQTT connection: a lost one has the broker deliver every unacknowledged
    // message again, and their dead letters twice.
    const bridgeMetrics = await (await fetch(`http://127.0.0.1:${bridgePort}/metrics`)).text();
    expect(bridgeMetrics, 'the bridge reconnected to the broker').toContain('edgewave_bridge_mqtt_reconnects_total 0');
    expect(leaked, 'fuzzed frames in the raw topic').toBe(0);
    expect(dead, `dead letters by reason: ${JSON.stringify(Object.fromEntries(reasons))}`).toBe(FRAMES);
    const known = new Set([...Object.keys(PROTOCOL_ERROR_CODES), 'EW_BRIDGE_GATEWAY_MISMATCH']);
    expect([...reasons.keys()].filter((r) => !known.has(r)), 'reasons that are no documented code').toEqual([]);
    expect(reasons.size).toBeGreaterThanOrEqual(10);
    expect(total).toBeGreaterThan(12 * 5);
    const report = account(good, inferences.seen);
    expect(report.ok, describeReport('good traffic (inferences, read_committed)', report)).toBe(true);
    console.log(`e2e fuzz: ${FRAMES} bad frames in ${messages} messages published in ${published.toFixed(1)} s, all dead-lettered after ${through.toFixed(1)} s (${Math.round(FRAMES / through)} frames/s); reasons ${JSON.stringify(Object.fromEntries(reasons))}; ${total} good frames exactly once`);
  }, WAIT_MS + 300_000);
});
