// The bridge on real Mosquitto and real Kafka: everything arrives in per-sensor order; a SIGKILLed
// bridge, a second bridge in the share group and Kafka taken away for 20 s lose nothing; every kind
// of bad frame lands in the dead-letter topic with its reason; and the MQTT acknowledgement waits
// for Kafka.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startBridge, type BridgeHandle } from '../../../cloud/bridge/bridge.js';
import { parseBridgeConfig, type BridgeConfigInput } from '../../../cloud/bridge/config.js';
import { decodeBatchHeaders, encodeBatch, encodeFrame, encodeJsonFrame, type Frame } from '../../../protocol/index.js';
import { KafkaNode } from '../../../scripts/servers/kafka.js';
import { newRunLogDir } from '../../../scripts/servers/paths.js';
import { freePort } from '../../../scripts/servers/process.js';
import { servers, uniqueName } from '../../config.js';
import { KafkaReader, createTopics, kafkaTopicsFor, publishLoad, totalFrames, type Load } from './helpers.js';

const s = servers();
const root = new URL('../../..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'edgewave-bridge-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const need = s.kafka && s.mosquitto ? describe : describe.skip;
if (!s.kafka || !s.mosquitto) console.warn(`bridge integration tests skipped: ${JSON.stringify(s.missing)}`);

/** A fresh topic root, Kafka topics and share group, so tests never see each other's traffic. */
async function setup(brokers: string[] | null = s.kafka!.brokers) {
  const name = uniqueName('br');
  const topics = kafkaTopicsFor(name);
  if (brokers) await createTopics(brokers, Object.values(topics));
  return { name, root: `ew-${name}`, topics };
}

function bridgeConfig(ctx: { name: string; root: string; topics: ReturnType<typeof kafkaTopicsFor> }, over: { brokers?: string[]; clientId?: string; inFlight?: number; maxRecordBytes?: number; producers?: number } = {}): BridgeConfigInput {
  return {
    mqtt: { url: s.mosquitto!.url, clientId: over.clientId ?? `bridge-${ctx.name}`, shareGroup: ctx.name, topicRoot: ctx.root, inFlight: over.inFlight ?? 2000, reconnectMs: 200 },
    kafka: { brokers: over.brokers ?? s.kafka!.brokers, topics: ctx.topics, ...(over.maxRecordBytes ? { maxRecordBytes: over.maxRecordBytes } : {}), ...(over.producers ? { producers: over.producers } : {}) },
    http: { port: 0 },
    drainMs: 2000,
    logLevel: 'error',
  };
}

/** Publishes one batch of one raw frame (MQTT 3.1.1, QoS 1) and waits until the bridge has it. */
async function publishOne(bridge: BridgeHandle, root: string, name: string): Promise<void> {
  const pub = await mqtt.connectAsync(s.mosquitto!.url, { protocolVersion: 4, clientId: `pub-${name}` });
  const frame: Frame = { kind: 'raw', flags: 0, sensorId: 's-0', gatewayId: 'gw-0', group: 'g0', seq: 1, t0: Date.now() * 1000, sampleRate: 100, count: 2, width: 6, window: 0, hop: 0, layoutId: 1, data: new Float32Array(12).fill(1) };
  try {
    await pub.publishAsync(`${root}/gw-0/batch`, Buffer.from(encodeBatch([frame])), { qos: 1 });
  } finally {
    await pub.endAsync();
  }
  for (const end = Date.now() + 5000; bridge.stats().messages < 1 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
}

function check(reader: KafkaReader, load: Load, allowDuplicates: boolean, ordered = true) {
  const a = reader.account(load);
  expect(a.missing, 'missing (sensor: seqs)').toEqual([]);
  if (ordered) expect(a.outOfOrder, 'first arrivals out of order').toEqual([]);
  expect(a.unique).toBe(totalFrames(load));
  if (!allowDuplicates) expect(a.duplicates).toBe(0);
  return a;
}

need('bridge with Mosquitto and Kafka', () => {
  it('100,000 frames from 400 sensors reach Kafka, each sensor in order (through two producers), keyed by group, packed into records of at most maxRecordBytes', async () => {
    const ctx = await setup();
    const bridge = await startBridge(parseBridgeConfig(bridgeConfig(ctx, { maxRecordBytes: 65_536, producers: 2 })));
    const reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw], true).start();
    try {
      await new Promise((r) => setTimeout(r, 500));
      const load: Load = { gateways: 8, sensorsPerGateway: 50, groups: 20, perSensor: 250 };
      const messages = await publishLoad(s.mosquitto!.url, ctx.root, load);
      await reader.until(() => reader.unique() >= totalFrames(load), 45_000, 'every frame in Kafka');
      check(reader, load, false);
      // Every message acknowledged, none waiting; every record keyed by the group of all its frames.
      await reader.until(() => bridge.stats().acked === messages, 5000, 'every message acknowledged');
      expect(bridge.stats().inFlight).toBe(0);
      const keys = new Set<string>();
      for (const r of reader.records) {
        expect(r.headers['ew-gateway']).toMatch(/^gw-\d$/);
        expect(new Set(decodeBatchHeaders(r.value, { maxFutureMs: Infinity }).map((h) => h.group))).toEqual(new Set([r.key]));
        expect(r.value.length).toBeLessThanOrEqual(65_536);
        keys.add(r.key);
      }
      expect(keys.size).toBe(20);
      // Frames of one group from many messages share records: fewer records than (message, group)
      // pairs (a request, and so a record, holds at most maxRecordBytes here). How many share one
      // depends on how busy the producer is as messages come (records wait only while a request is
      // out, or lingerMs): about half as many on this machine, 0.51 on one run; without sharing, 1.
      expect(reader.records.length).toBeLessThan(messages * 20 * 0.75);
      const metrics = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
      expect(metrics).toContain(`edgewave_bridge_frames_total{kind="raw"} ${totalFrames(load)}`);
      expect(await (await fetch(`${bridge.httpUrl}/ready`)).json()).toMatchObject({ status: 'ready', mqtt: { connected: true }, kafka: { connected: true } });
    } finally {
      await reader.stop();
      await bridge.stop();
    }
  }, 90_000);

  it('topics Kafka does not have: the bridge says so once, naming them, /ready is 503 with them, and it holds every message until they are created; then every frame arrives once', async () => {
    const ctx = await setup(null);
    const lines: { level: number; code?: string; missing?: string[]; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const bridge = await startBridge(parseBridgeConfig(bridgeConfig(ctx)), log);
    let reader: KafkaReader | undefined;
    try {
      const all = Object.values(ctx.topics).sort();
      const missing = async () => ((await (await fetch(`${bridge.httpUrl}/ready`)).json()) as { kafka: { missingTopics?: string[] } }).kafka.missingTopics;
      for (const end = Date.now() + 15_000; !(await missing()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`${bridge.httpUrl}/ready`)).status).toBe(503);
      expect([...((await missing()) ?? [])].sort()).toEqual(all);
      const errors = lines.filter((l) => l.code === 'EW_KAFKA_TOPICS');
      expect(errors).toHaveLength(1);
      expect([...errors[0]!.missing!].sort()).toEqual(all);
      expect(errors[0]!.msg).toContain(ctx.topics.raw);
      const load: Load = { gateways: 2, sensorsPerGateway: 10, groups: 4, perSensor: 20 };
      const messages = await publishLoad(s.mosquitto!.url, ctx.root, load);
      await new Promise((r) => setTimeout(r, 1000));
      expect(bridge.stats()).toMatchObject({ messages, acked: 0, inFlight: messages });
      await createTopics(s.kafka!.brokers, all);
      reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw], true).start();
      await reader.until(() => reader!.unique() >= totalFrames(load), 30_000, 'every frame in Kafka once the topics exist');
      check(reader, load, false);
      await reader.until(() => bridge.stats().acked === messages, 5000, 'every message acknowledged');
      for (const end = Date.now() + 10_000; (await missing()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
      expect(await missing()).toBeUndefined();
      expect((await fetch(`${bridge.httpUrl}/ready`)).status).toBe(200);
      expect(lines.filter((l) => l.code === 'EW_KAFKA_TOPICS')).toHaveLength(1);
      expect(lines.some((l) => l.msg === 'the topics are there now')).toBe(true);
    } finally {
      await reader?.stop();
      await bridge.stop();
    }
  }, 90_000);

  it('MQTT 3.1.1 (protocolVersion 4, a plain subscription): every frame reaches Kafka once and in order, each message acknowledged only once Kafka has it', async () => {
    const ctx = await setup();
    const v4 = (c: BridgeConfigInput, brokers?: string[]): BridgeConfigInput => ({ ...c, mqtt: { ...c.mqtt, protocolVersion: 4, shareGroup: null }, ...(brokers ? { kafka: { ...c.kafka, brokers } } : {}) });
    const bridge = await startBridge(parseBridgeConfig(v4(bridgeConfig(ctx))));
    const reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw], true).start();
    try {
      await new Promise((r) => setTimeout(r, 500));
      const load: Load = { gateways: 2, sensorsPerGateway: 20, groups: 4, perSensor: 50 };
      const messages = await publishLoad(s.mosquitto!.url, ctx.root, load);
      await reader.until(() => reader.unique() >= totalFrames(load), 45_000, 'every frame in Kafka');
      check(reader, load, false);
      await reader.until(() => bridge.stats().acked === messages, 5000, 'every message acknowledged');
    } finally {
      await reader.stop();
      await bridge.stop();
    }
    // With no Kafka to take the record, the bridge does not acknowledge it; the broker keeps it in the
    // bridge's session and delivers it again to the same client id once it is back with a Kafka.
    const ctx2 = await setup();
    const clientId = `bridge-${ctx2.name}-v4`;
    const held = await startBridge(parseBridgeConfig(v4(bridgeConfig(ctx2, { clientId }), ['127.0.0.1:9'])));
    try {
      await publishOne(held, ctx2.root, ctx2.name);
      await new Promise((r) => setTimeout(r, 1000));
      expect(held.stats()).toMatchObject({ messages: 1, acked: 0, inFlight: 1 });
    } finally {
      await held.stop();
    }
    const again = await startBridge(parseBridgeConfig(v4(bridgeConfig(ctx2, { clientId }))));
    const reader2 = await new KafkaReader(s.kafka!.brokers, [ctx2.topics.raw], true).start();
    try {
      await reader2.until(() => reader2.unique() >= 1, 20_000, 'the held frame in Kafka');
      await reader2.until(() => again.stats().acked >= 1, 5000, 'its acknowledgement');
      expect(again.stats().redelivered).toBeGreaterThanOrEqual(1);
    } finally {
      await reader2.stop();
      await again.stop();
    }
  }, 90_000);

  it('a message held for Kafka longer than 1.5 keepalives (MQTT 3.1.1, keepalive 5 s): the connection stays, so nothing is delivered twice', async () => {
    // mqtt.js reads the connection's next packet only once a 3.1.1 message is acknowledged, so the
    // broker's PINGRESP waits unread behind a message held for Kafka; mqtt.js would take the silence
    // for a dead broker after 7.5 s, close the connection and have every held message sent again.
    const ctx = await setup();
    const clientId = `bridge-${ctx.name}-ka`;
    const config = bridgeConfig(ctx, { clientId, brokers: ['127.0.0.1:9'] });
    const bridge = await startBridge(parseBridgeConfig({ ...config, mqtt: { ...config.mqtt, protocolVersion: 4, shareGroup: null, keepaliveS: 5 } }));
    try {
      await publishOne(bridge, ctx.root, ctx.name);
      // Two keepalive timeouts' worth (7.5 s each), and the broker's own limit for silence from the client (1.5 keepalives).
      await new Promise((r) => setTimeout(r, 17_000));
      expect(bridge.stats()).toMatchObject({ messages: 1, redelivered: 0, acked: 0, inFlight: 1, mqttConnected: true });
      expect(bridge.stats().keepalivesHeld).toBeGreaterThanOrEqual(1);
      expect(await (await fetch(`${bridge.httpUrl}/metrics`)).text()).toContain('edgewave_bridge_mqtt_reconnects_total 0');
      // A reconnection with the message still held: another client takes the session for a moment
      // and does not acknowledge it, so the broker delivers it to the bridge again when it is back,
      // ahead of the answer to its SUBSCRIBE. The bridge still stops (its drainMs, then 2 s at most
      // for mqtt.js's own answers) instead of waiting for Kafka.
      const thief = mqtt.connect(s.mosquitto!.url, { protocolVersion: 4, clientId, clean: false, reconnectPeriod: 0 });
      let stolen = 0;
      thief.handleMessage = (_packet, _done) => void stolen++;
      await new Promise((r) => setTimeout(r, 1500));
      thief.end(true);
      for (const end = Date.now() + 10_000; bridge.stats().redelivered < 1 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      expect(stolen).toBe(1);
      expect(bridge.stats()).toMatchObject({ redelivered: 1, acked: 0, mqttConnected: true });
      const stop = await Promise.race([bridge.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still stopping after 10 s'), 10_000))]);
      expect(stop).toBe('stopped');
    } finally {
      await bridge.stop();
    }
  }, 90_000);

  it('a bridge SIGKILLed mid-run and started again: no (sensor, seq) missing, duplicates counted', async () => {
    const ctx = await setup();
    const file = join(tmp, `${ctx.name}.json`);
    writeFileSync(file, JSON.stringify(bridgeConfig(ctx, { inFlight: 500 })));
    const run = (): { proc: ChildProcess; up: Promise<string> } => {
      const proc = spawn(process.execPath, [join(root, 'bin/edgewave.js'), 'bridge', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      const up = new Promise<string>((resolve, reject) => {
        let err = '';
        proc.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /ready and metrics on (http:\/\/\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        proc.once('exit', (code) => reject(new Error(`bridge exited ${code}: ${err}`)));
      });
      return { proc, up };
    };
    const reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw]).start();
    let current = run();
    try {
      await current.up;
      const load: Load = { gateways: 4, sensorsPerGateway: 50, groups: 10, perSensor: 300 };
      let killed = false;
      const publishing = publishLoad(s.mosquitto!.url, ctx.root, load, 150, (sent) => {
        if (!killed && sent >= 400) {
          killed = true;
          current.proc.kill('SIGKILL');
        }
      });
      await reader.until(() => killed, 30_000, 'the kill');
      await new Promise((r) => current.proc.exitCode !== null || current.proc.signalCode !== null ? r(null) : current.proc.once('exit', r));
      await new Promise((r) => setTimeout(r, 1500));
      current = run();
      const url = await current.up;
      await publishing;
      // On a timeout, the accounting below says what is missing.
      await reader.until(() => reader.unique() >= totalFrames(load), 45_000, 'every frame in Kafka after the restart').catch(() => undefined);
      const a = check(reader, load, true);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const redelivered = Number(/edgewave_bridge_redelivered_total (\d+)/.exec(metrics)?.[1] ?? -1);
      console.log(`bridge SIGKILL: ${a.unique} frames, ${a.duplicates} duplicates in Kafka (the processor drops them), ${redelivered} messages delivered again by the broker`);
    } finally {
      current.proc.kill('SIGTERM');
      await new Promise((r) => (current.proc.exitCode !== null ? r(null) : current.proc.once('exit', r)));
      await reader.stop();
    }
  }, 120_000);

  it('ticks: while the bridge is subscribed and Kafka takes its records, a tick goes into every partition of the raw and features topics each tickMs; none while the broker cannot be reached; again once it can', async () => {
    const ctx = await setup();
    // The broker behind a TCP proxy the test can cut.
    const broker = new URL(s.mosquitto!.url);
    const sockets = new Set<Socket>();
    let proxy: Server | undefined;
    const listen = (port: number) =>
      new Promise<number>((resolve, reject) => {
        proxy = createServer((c) => {
          const u = connect(Number(broker.port), broker.hostname);
          for (const x of [c, u]) {
            sockets.add(x);
            x.on('error', () => {});
            x.on('close', () => sockets.delete(x));
          }
          c.pipe(u).pipe(c);
        });
        proxy.once('error', reject);
        proxy.listen(port, '127.0.0.1', () => resolve((proxy!.address() as { port: number }).port));
      });
    // Closing waits for the connections to end: they are destroyed meanwhile.
    const cut = async () => {
      const closed = new Promise((r) => proxy!.close(r));
      for (const x of sockets) x.destroy();
      await closed;
    };
    const port = await listen(0);
    const config = bridgeConfig(ctx);
    const bridge = await startBridge(parseBridgeConfig({ ...config, mqtt: { ...config.mqtt, url: `mqtt://127.0.0.1:${port}` }, kafka: { ...config.kafka, tickMs: 200 } }));
    const reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw, ctx.topics.features]).start();
    const keys = [ctx.topics.raw, ctx.topics.features].flatMap((t) => [0, 1, 2, 3].map((p) => `${t}:${p}`));
    const counts = () => keys.map((k) => reader.ticks.get(k)?.count ?? 0);
    try {
      await reader.until(() => counts().every((n) => n >= 3), 20_000, 'three ticks in every partition of both topics');
      expect(new Set(keys.map((k) => reader.ticks.get(k)!.intervalMs))).toEqual(new Set(['200']));
      expect(reader.frames, 'ticks are not frames').toBe(0);

      await cut();
      for (const end = Date.now() + 5000; bridge.stats().mqttConnected && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      expect(bridge.stats().mqttConnected).toBe(false);
      // A round under way when the connection went may still land.
      await new Promise((r) => setTimeout(r, 1000));
      const before = counts();
      const cutAt = Date.now();
      await new Promise((r) => setTimeout(r, 2000));
      expect(counts(), 'no ticks while the broker cannot be reached').toEqual(before);

      await listen(port);
      await reader.until(() => counts().every((n, i) => n >= before[i]! + 3), 20_000, 'ticks again in every partition');
      for (const k of keys) {
        const at = reader.ticks.get(k)!.at;
        expect(at.some((t) => t > cutAt && t < cutAt + 2000), `a tick in ${k} during the outage`).toBe(false);
      }
    } finally {
      await reader.stop();
      await bridge.stop();
      await cut();
    }
  }, 60_000);

  it('two bridges in one share group split the messages and together deliver everything, once', async () => {
    const ctx = await setup();
    const a = await startBridge(parseBridgeConfig(bridgeConfig(ctx, { clientId: `a-${ctx.name}` })));
    const b = await startBridge(parseBridgeConfig(bridgeConfig(ctx, { clientId: `b-${ctx.name}` })));
    const reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw]).start();
    try {
      await new Promise((r) => setTimeout(r, 500));
      const load: Load = { gateways: 6, sensorsPerGateway: 20, groups: 12, perSensor: 150 };
      const messages = await publishLoad(s.mosquitto!.url, ctx.root, load);
      await reader.until(() => reader.unique() >= totalFrames(load), 45_000, 'every frame in Kafka');
      // The broker hands each message to either bridge, so one sensor's frames may reach Kafka out
      // of order across the two (the processor orders them by seq); complete and once, though.
      check(reader, load, false, false);
      const [sa, sb] = [a.stats(), b.stats()];
      expect(sa.messages + sb.messages).toBe(messages);
      // Both took a real share.
      expect(Math.min(sa.messages, sb.messages)).toBeGreaterThan(messages / 5);
    } finally {
      await reader.stop();
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 90_000);

  it('Kafka absent when the bridge starts, then stopped for 20 s mid-run: the bridge holds, acknowledges nothing Kafka lacks, then delivers everything', async () => {
    const node = await KafkaNode.create({ logDir: newRunLogDir() }, mkdtempSync(join(tmpdir(), 'edgewave-kafka-')));
    const brokers = [node.brokers];
    const ctx = await setup(null);
    // A short keepalive: a connection given up while the bridge holds a message past the receive
    // maximum (its broker's answers unread behind it) would show as messages delivered again.
    const outageConfig = bridgeConfig(ctx, { brokers, inFlight: 200 });
    const bridge = await startBridge(parseBridgeConfig({ ...outageConfig, mqtt: { ...outageConfig.mqtt, keepaliveS: 5 } }));
    let reader: KafkaReader | undefined;
    let sampling: NodeJS.Timeout | undefined;
    let samplingError: Error | undefined;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      const load: Load = { gateways: 4, sensorsPerGateway: 25, groups: 10, perSensor: 170 };
      // 680 messages over about 34 s. Kafka starts at 3 s, is away from 8 s to 28 s.
      const publishing = publishLoad(s.mosquitto!.url, ctx.root, load, 20);
      await sleep(3000);
      expect(bridge.stats().acked).toBe(0);
      expect(bridge.stats().inFlight).toBeGreaterThan(0);
      expect((await fetch(`${bridge.httpUrl}/ready`)).status).toBe(503);
      await node.start();
      await createTopics(brokers, Object.values(ctx.topics));
      await sleep(5000);
      const ackedBefore = bridge.stats().acked;
      expect(ackedBefore).toBeGreaterThan(0);
      await node.stop();
      // Counted once the broker is gone: while it shuts down it still takes (and so acknowledges) records.
      const ackedAtStop = bridge.stats().acked;
      const outage = Date.now();
      let maxInFlight = 0;
      let sawNotReady = false;
      // At most the receive maximum held, and one more from a broker that sends past it (Mosquitto
      // before 2.0.13 lets a window more through for each PUBACK, such as those of the requests that
      // finish as Kafka stops and of the drain after), which the bridge then counts.
      const pastLimit = () => {
        const st = bridge.stats();
        expect(st.inFlight, `${st.inFlight} held, ${st.receiveMaximumExceeded} messages counted past the receive maximum`).toBeLessThanOrEqual(200 + Math.min(1, st.receiveMaximumExceeded));
        return st.inFlight;
      };
      while (Date.now() - outage < 20_000) {
        await sleep(500);
        maxInFlight = Math.max(maxInFlight, pastLimit());
        const ready = await fetch(`${bridge.httpUrl}/ready`);
        if (ready.status === 503) sawNotReady = true;
      }
      // Nothing acknowledged that Kafka did not take (a request in flight at the stop may finish), and at most inFlight held here.
      expect(bridge.stats().acked - ackedAtStop).toBeLessThanOrEqual(40);
      expect(maxInFlight).toBeGreaterThan(0);
      expect(sawNotReady).toBe(true);
      await node.start();
      const back = Date.now();
      // The backlog drains with PUBACKs going out while the broker still queues.
      sampling = setInterval(() => {
        try {
          maxInFlight = Math.max(maxInFlight, pastLimit());
        } catch (err) {
          samplingError ??= err as Error;
        }
      }, 50);
      await publishing;
      reader = await new KafkaReader(brokers, [ctx.topics.raw]).start();
      await reader.until(() => reader!.unique() >= totalFrames(load), 60_000, 'every frame in Kafka after the outage').catch(() => undefined);
      const a = check(reader, load, true);
      await reader.until(() => bridge.stats().inFlight === 0, 10_000, 'nothing left unacknowledged');
      clearInterval(sampling);
      if (samplingError) throw samplingError;
      expect((await fetch(`${bridge.httpUrl}/ready`)).status).toBe(200);
      const exceeded = bridge.stats().receiveMaximumExceeded;
      expect(bridge.stats().redelivered, 'messages the broker delivered again (the connection was lost)').toBe(0);
      expect(await (await fetch(`${bridge.httpUrl}/metrics`)).text()).toContain(`edgewave_bridge_receive_maximum_exceeded_total ${exceeded}`);
      console.log(`Kafka outage: held at most ${maxInFlight} messages (the broker kept the rest), ${exceeded} times one past the receive maximum of 200 (then waited), ${bridge.stats().keepalivesHeld} keepalive periods pinged again while holding; all ${a.unique} frames in Kafka ${((Date.now() - back) / 1000).toFixed(1)} s after Kafka came back, ${a.duplicates} duplicates`);
    } finally {
      clearInterval(sampling);
      await reader?.stop();
      await bridge.stop();
      await node.dispose();
    }
  }, 150_000);

  it('each kind of bad input lands in the dead-letter topic with its reason, the original bytes and the topic; good frames beside it go through', async () => {
    const ctx = await setup();
    const bridge: BridgeHandle = await startBridge(parseBridgeConfig(bridgeConfig(ctx)));
    const reader = await new KafkaReader(s.kafka!.brokers, [ctx.topics.raw, ctx.topics.deadletter, ctx.topics.status], true).start();
    const client = await mqtt.connectAsync(s.mosquitto!.url, { protocolVersion: 5 });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const now = Date.now() * 1000;
      const f = (over: Partial<Frame> = {}): Frame => ({
        kind: 'raw', flags: 0, sensorId: 'dl-1', gatewayId: 'gw-a', group: 'g', seq: 0, t0: now, sampleRate: 100, count: 2, width: 6, window: 0, hop: 0, layoutId: 1, data: new Float32Array(12).fill(1), ...over,
      });
      const nan = encodeFrame(f({ seq: 90 })).slice();
      nan.fill(0xff, nan.length - 4);
      const wrongVersion = encodeFrame(f({ seq: 91 })).slice();
      wrongVersion[2] = 7;
      const cases: [string, Uint8Array, string][] = [
        [`${ctx.root}/gw-a/dl-1/raw`, Buffer.from('not a frame at all'), 'EW_PROTO_MAGIC'],
        [`${ctx.root}/gw-a/dl-1/raw`, encodeFrame(f({ seq: 92 })).subarray(0, 70), 'EW_PROTO_TRUNCATED'],
        [`${ctx.root}/gw-a/dl-1/raw`, wrongVersion, 'EW_PROTO_VERSION'],
        [`${ctx.root}/gw-a/dl-1/raw`, nan, 'EW_PROTO_NONFINITE'],
        [`${ctx.root}/gw-a/dl-1/raw`, encodeFrame(f({ seq: 93, t0: now + 3600e6 })), 'EW_PROTO_FUTURE'],
        [`${ctx.root}/gw-b/dl-1/raw`, encodeFrame(f({ seq: 94 })), 'EW_BRIDGE_GATEWAY_MISMATCH'],
        [`${ctx.root}/gw-a/dl-2/raw`, encodeFrame(f({ seq: 95 })), 'EW_BRIDGE_SENSOR_MISMATCH'],
        [`${ctx.root}/gw-a/dl-1/features`, encodeFrame(f({ seq: 96 })), 'EW_BRIDGE_KIND_MISMATCH'],
        [`${ctx.root}/gw-a/dl-1/raw`, Buffer.from('{"kind":"raw","sensorId":'), 'EW_PROTO_JSON'],
        [`${ctx.root}/gw-a/dl-1/raw`, Buffer.from(JSON.stringify({ kind: 'raw', sensorId: 'dl-1' })), 'EW_PROTO_FIELD'],
        [`${ctx.root}/gw-a/status`, Buffer.from('online'), 'EW_PROTO_JSON'],
      ];
      for (const [topic, payload] of cases) await client.publishAsync(topic, Buffer.from(payload), { qos: 1 });
      // Good input beside the bad: a JSON frame, a batch with one stranger's frame in it, a status.
      await client.publishAsync(`${ctx.root}/gw-a/dl-1/raw`, encodeJsonFrame(f({ seq: 1 })), { qos: 1 });
      const mixed = encodeBatch([f({ seq: 2 }), f({ seq: 97, gatewayId: 'gw-z' }), f({ seq: 3 })]);
      await client.publishAsync(`${ctx.root}/gw-a/batch`, Buffer.from(mixed), { qos: 1 });
      await client.publishAsync(`${ctx.root}/gw-a/status`, JSON.stringify({ state: 'online' }), { qos: 1 });
      const dead = () => reader.records.filter((r) => r.topic === ctx.topics.deadletter);
      await reader.until(() => dead().length >= cases.length + 1 && reader.unique() >= 3, 20_000, 'the dead letters and the good frames');
      for (const [topic, payload, code] of cases) {
        const d = dead().find((r) => r.headers['ew-mqtt-topic'] === topic && r.value.equals(Buffer.from(payload)));
        expect(d, `dead letter for ${code}`).toBeDefined();
        expect(d!.headers['ew-reason']).toBe(code);
        expect(d!.headers['ew-message']!.length).toBeGreaterThan(10);
        expect(Date.parse(d!.headers['ew-received-at']!)).toBeGreaterThan(Date.now() - 60_000);
      }
      const stranger = dead().find((r) => r.headers['ew-entry'] === '1');
      expect(stranger?.headers['ew-reason']).toBe('EW_BRIDGE_GATEWAY_MISMATCH');
      expect(reader.seqs.get('dl-1')).toEqual([1, 2, 3]);
      expect(reader.records.filter((r) => r.topic === ctx.topics.status).map((r) => r.value.toString())).toEqual(['{"state":"online"}']);
      const metrics = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
      expect(metrics).toContain('edgewave_bridge_dead_letters_total{reason="EW_BRIDGE_GATEWAY_MISMATCH"} 2');
      expect(metrics).toContain('edgewave_bridge_dead_letters_total{reason="EW_PROTO_JSON"} 2');
      // The bridge kept going: every message acknowledged.
      await reader.until(() => bridge.stats().acked === cases.length + 3, 5000, 'every message acknowledged');
    } finally {
      await client.endAsync();
      await reader.stop();
      await bridge.stop();
    }
  }, 60_000);

  it("the broker's count of messages it dropped (over its queue limits, after acknowledging them): read, logged as an error when it rises, exported", async () => {
    // A Mosquitto of its own: a queue of 5 messages per session, its $SYS counts every second.
    const port = await freePort();
    const dir = mkdtempSync(join(tmp, 'mosquitto-'));
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 5', 'max_inflight_messages 0', 'sys_interval 1', ''].join('\n'));
    const broker = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    const url = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 1000 }).then((c) => c.endAsync().then(() => true), () => false);
      if (ok) break;
      if (i > 50) throw new Error('the test Mosquitto did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const ctx = await setup();
    const lines: { level: number; msg: string; dropped?: number; total?: number }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const config = bridgeConfig(ctx);
    const bridge = await startBridge(parseBridgeConfig({ ...config, mqtt: { ...config.mqtt, url } }), log);
    try {
      // Nothing dropped yet: the count is read, and nothing is logged.
      for (const end = Date.now() + 5000; bridge.stats().brokerDropped === undefined && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      expect(bridge.stats().brokerDropped).toBe(0);
      // A persistent session that is away, and 20 QoS 1 messages for it: the broker keeps 5.
      const away = await mqtt.connectAsync(url, { clientId: `away-${ctx.name}`, clean: false, protocolVersion: 4 });
      await away.subscribeAsync('elsewhere/#', { qos: 1 });
      await away.endAsync();
      const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
      for (let i = 0; i < 20; i++) await pub.publishAsync('elsewhere/x', String(i), { qos: 1 });
      await pub.endAsync();
      for (const end = Date.now() + 5000; (bridge.stats().brokerDropped ?? 0) < 15 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      expect(bridge.stats().brokerDropped).toBe(15);
      const errors = lines.filter((l) => l.level === 50 && /dropped messages it had acknowledged/.test(l.msg));
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.reduce((n, l) => n + (l.dropped ?? 0), 0)).toBe(15);
      expect(await bridge.metrics.registry.getSingleMetricAsString('edgewave_bridge_broker_dropped')).toMatch(/\nedgewave_bridge_broker_dropped 15$/);
    } finally {
      await bridge.stop();
      broker.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
