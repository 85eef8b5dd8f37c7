// The embedded mode: the whole system in one process, with no server to install. An MQTT broker
// (aedes), simulated gateways running the edge agent, the bridge, the processor with the shipped
// model and the API, each started from its own config by the same function distributed mode uses.
// Only the transports and stores are swapped: Kafka for the in-process log (memory-kafka.ts),
// MongoDB for the file store under <dataDir>/sessions, S3 for the directory <dataDir>/archive. The
// sessions and the archive survive a restart; the log lives as long as the process.

import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { Aedes } from 'aedes';
import type { Kafka } from 'kafkajs';
import { DEFAULT_KAFKA_TOPICS, createLogger, type Logger } from '../../protocol/index.js';
import { startAgent, type AgentHandle } from '../../edge/agent.js';
import { parseEdgeConfig } from '../../edge/config.js';
import { parseApiConfig } from '../api/config.js';
import { startApi, type ApiHandle } from '../api/server.js';
import { startBridge, type BridgeHandle } from '../bridge/bridge.js';
import { parseBridgeConfig } from '../bridge/config.js';
import { MemoryKafka } from '../common/memory-kafka.js';
import { DirObjects, type ObjectStore } from '../common/objects.js';
import { consumerGroups, parseProcessorConfig } from '../processor/config.js';
import { startProcessor, type ProcessorHandle } from '../processor/processor.js';
import { parseArchiveKey } from '../store/archive.js';
import { FileSessionStore } from '../store/file-sessions.js';

export interface EmbeddedOptions {
  /** Sessions, the archive and the gateways' outboxes (default ./data). */
  dataDir?: string;
  /** Simulated sensors, spread over `gateways` gateways and `groups` groups. */
  sensors?: number;
  rate?: number;
  groups?: number;
  gateways?: number;
  /** The API (and the web app): host and port; 0 picks a free port. */
  host?: string;
  port?: number;
  /** The MQTT broker's port on 127.0.0.1 (0: a free one). */
  mqttPort?: number;
  seed?: number;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
  /**
   * Bytes the in-process log keeps per partition (default 64 MiB). When the processor or its
   * archive has not read what a write would drop, the write waits (the bridge holds it and its
   * acknowledgements, the gateways their outboxes).
   */
  logRetentionBytes?: number;
  /**
   * QoS 1 messages the MQTT broker holds for the bridge (default 10,000) before it stops taking the
   * gateways' (they keep them in their outboxes and send them again).
   */
  brokerHoldMax?: number;
  /** The archive's flush by size per partition (default 8 MiB) and by age (default 60 s). */
  archiveFlushBytes?: number;
  archiveFlushS?: number;
}

export interface EmbeddedHandle {
  /** The API's URL. */
  readonly url: string;
  readonly mqttUrl: string;
  readonly dataDir: string;
  readonly api: ApiHandle;
  readonly processor: ProcessorHandle;
  readonly bridge: BridgeHandle;
  readonly agents: readonly AgentHandle[];
  readonly sessions: FileSessionStore;
  /** The in-process log (its `stats()`: writes it refused while full). */
  readonly log: MemoryKafka;
  /** Ids of the sessions a previous run left active, ended at startup. */
  readonly interruptedSessions: readonly string[];
  stop(): Promise<void>;
}

const TOPICS = DEFAULT_KAFKA_TOPICS;
const BRIDGE_CLIENT_ID = 'edgewave-embedded-bridge';
/** How long a stop waits for the bridge to take what the broker holds for it. */
const BROKER_DRAIN_MS = 30_000;

/** QoS 1 messages the broker holds for a client: queued for it, or sent and not yet acknowledged. */
async function brokerHolds(broker: Aedes, clientId: string): Promise<number> {
  const persistence = (broker as unknown as { persistence: { outgoingStream(client: { id: string }): AsyncIterable<unknown> } }).persistence;
  let n = 0;
  for await (const _ of persistence.outgoingStream({ id: clientId })) n++;
  return n;
}

export async function startEmbedded(o: EmbeddedOptions = {}, log: Logger = createLogger('embedded', { level: o.logLevel ?? 'warn' })): Promise<EmbeddedHandle> {
  const dataDir = resolve(o.dataDir ?? './data');
  const sensors = o.sensors ?? 50;
  const gateways = Math.max(1, Math.min(o.gateways ?? 5, sensors));
  const groups = o.groups ?? 5;
  const rate = o.rate ?? 200;
  const level = o.logLevel ?? 'warn';
  const child = (component: string) => createLogger(component, { level });
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'stopping a component failed'));
  };

  try {
    // The broker.
    // Flow control: a gateway's QoS 1 message is taken (and acknowledged) only while the broker
    // holds fewer than `brokerHoldMax` for the bridge; beyond that it waits unacknowledged, so a
    // pipeline that falls behind leaves what the gateways cannot send in their outboxes, on disk,
    // not in this process's memory.
    const holdMax = o.brokerHoldMax ?? 10_000;
    let brokerStopping = false;
    let held = { n: 0, at: 0 };
    let counting: Promise<void> | null = null;
    const heldNow = async (): Promise<number> => {
      if (Date.now() - held.at > 100) await (counting ??= brokerHolds(broker, BRIDGE_CLIENT_ID).then((n) => void (held = { n, at: Date.now() })).finally(() => (counting = null)));
      return held.n;
    };
    const broker: Aedes = await Aedes.createBroker({
      authorizePublish: (client, packet, callback) => {
        if (!client || client.id === BRIDGE_CLIENT_ID || packet.qos === 0) return callback(null);
        // The usual case, on every message: a recent count below the limit, no waiting.
        if (Date.now() - held.at <= 100 && held.n < holdMax) return callback(null);
        void (async () => {
          // A gateway that went away while it waited sends the message again: not taken here too.
          while (!brokerStopping && !client.closed && (await heldNow()) >= holdMax) await new Promise((r) => setTimeout(r, 50));
          callback(brokerStopping || client.closed ? new Error('the gateway or the broker went away while the message waited') : null);
        })();
      },
    });
    const server: Server = createServer(broker.handle);
    server.listen(o.mqttPort ?? 0, '127.0.0.1');
    await once(server, 'listening');
    const mqttUrl = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stops.push(async () => {
      brokerStopping = true;
      await new Promise((r) => server.close(r));
      await new Promise<void>((r) => broker.close(() => r()));
    });

    const brokers = ['memory:0'];
    const processorConfig = parseProcessorConfig({
      kafka: { brokers, topics: { raw: TOPICS.raw, features: TOPICS.features, inferences: TOPICS.inferences, sessions: TOPICS.sessions, deadletter: TOPICS.deadletter, processorState: TOPICS.processorState }, groupId: 'edgewave-processor', transactionalIdPrefix: 'edgewave-processor', sessionTimeoutMs: 6000 },
      archive: { url: `file://${join(dataDir, 'archive')}`, ...(o.archiveFlushBytes !== undefined ? { flushBytes: o.archiveFlushBytes } : {}), ...(o.archiveFlushS !== undefined ? { flushS: o.archiveFlushS } : {}) },
      // One bridge and an in-process log never swap frames, so an earlier frame is never on its
      // way: after a restart (sequence numbers going on) each stream is taken from where it is at
      // its second frame, not after the 5 s a distributed processor waits.
      sequencer: { maxPending: 32, maxSpanMs: 1000 },
      http: { port: 0 },
      logLevel: level,
    });

    // The log and the stores. The archive's object names hold the offsets of the records they came
    // from: the log goes on after the offsets the archive holds, so this run's objects never take
    // the names of an earlier run's (which would overwrite them).
    const archivedEnds = await archiveEnds(new DirObjects(join(dataDir, 'archive')));
    // Bounded in memory, but never by dropping what the processor, its archive or its session sink
    // have not read: the bridge then holds its acknowledgements, and the gateways their outboxes.
    const readers = consumerGroups(processorConfig);
    const mustRead = [readers.processor, readers.archive];
    const memory = new MemoryKafka({
      compacted: [TOPICS.processorState],
      ...(o.logRetentionBytes !== undefined ? { retentionBytes: o.logRetentionBytes } : {}),
      firstOffsets: { [TOPICS.raw]: archivedEnds.raw, [TOPICS.features]: archivedEnds.features },
      keepUnread: { [TOPICS.raw]: mustRead, [TOPICS.features]: mustRead, [TOPICS.sessions]: [readers.sessions] },
    });
    if (archivedEnds.raw || archivedEnds.features) log.info(archivedEnds, 'the in-process log\'s offsets go on after those in the archive');
    const kafka = memory as unknown as Kafka;
    const sessions = FileSessionStore.open(join(dataDir, 'sessions'));
    stops.push(() => sessions.flush());
    // The log, and so the processor's state, is gone: sessions a previous run left active would
    // stay active for good. They end at the newest window stored for them.
    const interrupted = await sessions.endActive();
    if (interrupted.length) log.info({ sessions: interrupted }, 'sessions left active by the previous run ended at their newest stored window');

    // The processor and its sinks, then the API, then the bridge, then the gateways: each ready before what feeds it.
    const processor = await startProcessor(
      processorConfig,
      child('processor'),
      { kafka, sessions, logGoesAtStop: true },
    );
    stops.push(() => processor.stop());
    const api = await startApi(
      parseApiConfig({
        http: { host: o.host ?? '127.0.0.1', port: o.port ?? 8080 },
        kafka: { brokers, topics: { inferences: TOPICS.inferences, sessions: TOPICS.sessions, status: TOPICS.status } },
        // Local use: no keys. The API listens on the loopback address unless told otherwise.
        auth: { open: true },
        logLevel: level,
      }),
      child('api'),
      { kafka, sessions },
    );
    stops.push(() => api.stop());
    const bridge = await startBridge(
      // aedes speaks MQTT 3.1.1 and has no shared subscriptions: one bridge, a plain subscription.
      parseBridgeConfig({ mqtt: { url: mqttUrl, clientId: BRIDGE_CLIENT_ID, protocolVersion: 4, shareGroup: null, brokerDroppedTopic: null }, kafka: { brokers, topics: { raw: TOPICS.raw, features: TOPICS.features, status: TOPICS.status, deadletter: TOPICS.deadletter } }, http: { port: 0 }, logLevel: level }),
      child('bridge'),
      { kafka },
    );
    // The broker acknowledges a gateway's message when it has it, and holds it for the bridge until
    // the bridge acknowledges it in turn, which it does once the log has it. The broker keeps that
    // in memory: what it still held when the bridge stopped would go with this process, though the
    // gateway has let it go. So at a stop (the gateways first) the bridge stops once the broker
    // holds nothing for it; while the log refuses writes for want of room, the archive, the reader
    // that holds it back longest, is asked to write what it has.
    stops.push(async () => {
      const end = Date.now() + BROKER_DRAIN_MS;
      let refused = memory.stats().refusedWrites;
      for (;;) {
        const holding = await brokerHolds(broker, BRIDGE_CLIENT_ID);
        if (holding === 0 && bridge.stats().inFlight === 0) break;
        if (Date.now() > end) {
          log.error({ held: holding }, `messages the gateways sent were still with the broker ${BROKER_DRAIN_MS / 1000} s after they stopped; they go with this process`);
          break;
        }
        if (memory.stats().refusedWrites > refused) {
          refused = memory.stats().refusedWrites;
          await processor.archiver?.flushAll().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'the archive could not write what it holds'));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await bridge.stop();
    });
    const agents: AgentHandle[] = [];
    for (let g = 0; g < gateways; g++) {
      const gatewayId = `gw-${g + 1}`;
      const count = Math.floor(sensors / gateways) + (g < sensors % gateways ? 1 : 0);
      const agent = await startAgent(
        parseEdgeConfig({
          gatewayId,
          dataDir: join(dataDir, 'edge', gatewayId),
          mqtt: { url: mqttUrl, protocolVersion: 4, backoff: { minMs: 100, maxMs: 2000 } },
          outbox: { fsync: 'none' },
          sources: [{ type: 'simulator', sensors: count, rate, groups, seed: (o.seed ?? 1) * 1000 + g }],
          http: { port: 0 },
          logLevel: level,
        }),
        child('edge'),
      );
      agents.push(agent);
      stops.push(() => agent.stop(2000));
    }
    log.info({ url: api.url, mqttUrl, dataDir, sensors, gateways, groups, rate }, 'embedded mode running');
    return { url: api.url, mqttUrl, dataDir, api, processor, bridge, agents, sessions, log: memory, interruptedSessions: interrupted, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Per input topic, the offset after the newest one any archive object was written from (0 for none). */
export async function archiveEnds(objects: ObjectStore): Promise<{ raw: number; features: number }> {
  const ends = { raw: 0, features: 0 };
  for (const key of await objects.list('')) {
    const k = parseArchiveKey(key);
    if (k && Number(k.last) + 1 > ends[k.source]) ends[k.source] = Number(k.last) + 1;
  }
  return ends;
}
