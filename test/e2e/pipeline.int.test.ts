// The distributed pipeline end to end, each component its own process as deployed: edge agents
// (simulated sensors) → Mosquitto → bridge → Kafka → processor → Kafka / MongoDB → API →
// WebSocket client. After the agents stop cleanly, each one's seq.json says how many frames each
// sensor sent; the accounting checker then finds every one of them exactly once in the inference
// topic (read_committed) and in what the WebSocket client received. The short run here has two
// faults: the processor is SIGKILLed mid-run and started again, then the bridge.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopics } from '../cloud/processor/harness.js';
import { servers, uniqueName } from '../config.js';
import { account, describeReport, type Observed } from './accounting.js';

const s = servers();
const need = s.kafka && s.mosquitto && s.ferretdb ? describe : describe.skip;
if (!s.kafka || !s.mosquitto || !s.ferretdb) console.warn(`e2e tests skipped: ${JSON.stringify(s.missing)}`);

const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'edgewave-e2e-'));
const logDir = join(root, '.run', 'test-logs', 'e2e');
mkdirSync(logDir, { recursive: true });

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

interface Proc {
  name: string;
  proc: ChildProcess;
  log: string;
}

/** `edgewave <component> --config <file>`, its output kept under .run/test-logs/e2e/. */
function start(name: string, component: string, config: unknown): Proc {
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const log = join(logDir, `${name}.log`);
  writeFileSync(log, '');
  const proc = spawn(process.execPath, [join(root, 'bin/edgewave.js'), component, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => appendFileSync(log, d));
  proc.stderr!.on('data', (d: Buffer) => appendFileSync(log, d));
  return { name, proc, log };
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined> | T | undefined, procs: Proc[] = []): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    for (const p of procs) if (p.proc.exitCode !== null) throw new Error(`${p.name} exited (${p.proc.exitCode}) while waiting for ${what}; log: ${p.log}`);
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const ready = (p: Proc, port: number, path = '/ready') =>
  until(`${p.name} ${path}`, 60_000, async () => ((await fetch(`http://127.0.0.1:${port}${path}`).catch(() => null))?.ok ? true : undefined), [p]);

/** Stops a process with a signal and waits for its exit; SIGTERM gets 30 s before SIGKILL. */
async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return p.proc.exitCode;
  const exited = new Promise<number | null>((r) => p.proc.once('exit', (code) => r(code)));
  p.proc.kill(signal);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

need('the distributed pipeline, end to end', () => {
  const name = uniqueName('e2e');
  const topics = { raw: `${name}.raw`, features: `${name}.features`, status: `${name}.status`, inferences: `${name}.inferences`, sessions: `${name}.sessions`, deadletter: `${name}.deadletter`, processorState: `${name}.state` };
  const procs: Proc[] = [];
  let kafka: Kafka;
  let mongo: MongoClient;

  beforeAll(async () => {
    kafka = new Kafka({ clientId: 'edgewave-e2e', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    await createTopics(kafka, topics);
    mongo = await new MongoClient(s.ferretdb!.url, { serverSelectionTimeoutMS: 10_000 }).connect();
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await mongo?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('every frame the agents sent is in the inferences exactly once, and at the WebSocket client exactly once, across a SIGKILL of the processor and one of the bridge', async () => {
    const brokers = s.kafka!.brokers;
    const topicRoot = `ew-${name}`;
    const database = name.replace(/[^A-Za-z0-9_]/g, '_');
    const [bridgePort, processorPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const processorConfig = {
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, inferences: topics.inferences, sessions: topics.sessions, deadletter: topics.deadletter, processorState: topics.processorState }, groupId: `${name}-processor`, transactionalIdPrefix: `${name}-processor`, sessionTimeoutMs: 6000 },
      mongodb: { url: s.ferretdb!.url, database },
      sessions: { minSensors: 2, startAfterS: 2, idleGapS: 10 },
      http: { port: processorPort },
      logLevel: 'info',
    };
    let processor = start('processor', 'processor', processorConfig);
    procs.push(processor);
    const api = start('api', 'api', {
      http: { port: apiPort },
      mongodb: { url: s.ferretdb!.url, database },
      kafka: { brokers, topics: { inferences: topics.inferences, sessions: topics.sessions, status: topics.status }, groupPrefix: `${name}-api` },
      auth: { open: true },
      live: { lookbackS: 0 },
      logLevel: 'info',
    });
    const bridgeConfig = {
      mqtt: { url: s.mosquitto!.url, clientId: `${name}-bridge`, shareGroup: name, topicRoot, reconnectMs: 200 },
      kafka: { brokers, topics: { raw: topics.raw, features: topics.features, status: topics.status, deadletter: topics.deadletter } },
      http: { port: bridgePort },
      logLevel: 'info',
    };
    let bridge = start('bridge', 'bridge', bridgeConfig);
    procs.push(api, bridge);
    await Promise.all([ready(processor, processorPort), ready(api, apiPort, '/health'), ready(bridge, bridgePort)]);

    // A WebSocket client of everything the processor classifies.
    const received: Observed[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${apiPort}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('message', (b) => {
      const m = JSON.parse(b.toString()) as { type: string; data: { sensorId: string; seq: number } };
      if (m.type === 'inferences') received.push({ sensorId: m.data.sensorId, seq: m.data.seq });
    });
    ws.send(JSON.stringify({ op: 'subscribe', kinds: ['inferences'] }));
    await until('the subscription', 10_000, () => (ws.readyState === WebSocket.OPEN ? true : undefined));

    // Two gateways of simulated sensors, sending features (one frame per window).
    const agents = [0, 1].map(async (g) => {
      const port = await freePort();
      const dataDir = join(tmp, `gw-${g}`);
      const p = start(`edge-${g}`, 'edge', {
        gatewayId: `gw${g}`,
        dataDir,
        mqtt: { url: s.mosquitto!.url, topicRoot, clientId: `${name}-gw${g}` },
        outbox: { fsync: 'none' },
        sources: [{ type: 'simulator', sensors: 12, rate: 200, groups: 3, seed: 40 + g }],
        http: { port },
        logLevel: 'info',
      });
      procs.push(p);
      await ready(p, port, '/health');
      return { p, dataDir };
    });
    const gateways = await Promise.all(agents);

    // Mid-run, the processor dies without warning and comes back.
    await new Promise((r) => setTimeout(r, 6000));
    await stop(processor, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    processor = start('processor-2', 'processor', processorConfig);
    procs.push(processor);
    await ready(processor, processorPort);
    await new Promise((r) => setTimeout(r, 3000));
    // Then the bridge, between taking messages and acknowledging them: the broker keeps its session
    // (the same client id) and delivers again what was not acknowledged.
    await stop(bridge, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    bridge = start('bridge-2', 'bridge', bridgeConfig);
    procs.push(bridge);
    await ready(bridge, bridgePort);
    await new Promise((r) => setTimeout(r, 3000));

    // The agents stop cleanly: everything delivered, and seq.json holds each sensor's count.
    for (const g of gateways) expect(await stop(g.p), `agent log: ${g.p.log}`).toBe(0);
    const sent = new Map<string, number[]>();
    for (const g of gateways) {
      const counts = JSON.parse(readFileSync(join(g.dataDir, 'seq.json'), 'utf8')) as Record<string, number>;
      for (const [sensorId, n] of Object.entries(counts)) sent.set(sensorId, Array.from({ length: n }, (_, i) => i));
      expect(readFileSync(g.p.log, 'utf8')).toContain('everything was delivered');
    }
    expect(sent.size).toBe(24);
    const total = [...sent.values()].reduce((n, x) => n + x.length, 0);
    expect(total).toBeGreaterThan(24 * 8);

    // What the processor committed, read as a consumer of its results would.
    const inferences: Observed[] = [];
    const consumer = kafka.consumer({ groupId: `${name}-check`, readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.inferences, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const r = JSON.parse(message.value!.toString()) as { sensorId: string; seq: number; label?: string };
        inferences.push({ sensorId: r.sensorId, seq: r.seq });
      },
    });
    try {
      await until(`${total} inferences`, 60_000, () => (inferences.length >= total ? true : undefined), [processor, api, bridge]);
      await until(`${total} windows at the WebSocket client`, 30_000, () => (received.length >= total ? true : undefined));
      // A moment for anything extra (a duplicate) to show up.
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await consumer.disconnect();
      ws.close();
    }
    const inKafka = account(sent, inferences);
    expect(inKafka.ok, describeReport('inferences (read_committed)', inKafka)).toBe(true);
    const atClient = account(sent, received);
    expect(atClient.ok, describeReport('WebSocket client', atClient)).toBe(true);

    // Sessions reached MongoDB.
    const sessions = await mongo.db(database).collection('sessions').countDocuments();
    expect(sessions).toBeGreaterThan(0);
    console.log(`e2e: ${sent.size} sensors, ${total} frames; inferences ${inferences.length}, at the client ${received.length}, sessions ${sessions}; processor and bridge SIGKILLed once each`);
  }, 180_000);
});
