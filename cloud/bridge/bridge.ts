// The MQTT → Kafka bridge: a shared subscription to every gateway's topics; each message checked
// and routed (route.ts), its records produced to Kafka (kafka-sink.ts), and its PUBACK sent only
// once Kafka has acknowledged every record it gave, in the order the messages came. The broker
// keeps whatever is not acknowledged: when Kafka is slow or away, at most mqtt.inFlight messages
// wait here (the MQTT v5 receive maximum) and the rest wait in the broker; when this process dies,
// the broker delivers again what it had not acknowledged. A broker that sends past the receive
// maximum (Mosquitto before 2.0.13 sends a whole window more for each PUBACK) is not refused, since
// MQTT's only answer would be to disconnect and take every message again. The message past the
// limit is taken, counted (receiveMaximumExceeded, logged once a connection), and mqtt.js is given
// the connection's next packet only once acknowledgements bring this connection back to the limit:
// the rest waits in the socket and the broker, and at most mqtt.inFlight + 1 are held here.
//
// mqtt.js handles incoming packets one at a time and would hold every later packet until a
// message's acknowledgement is sent. So the bridge answers mqtt.js's `customHandleAcks` with a
// marker error, which makes mqtt.js move on without sending a PUBACK (and emit the marker as an
// `error`, ignored here), and sends the PUBACK itself when Kafka has the records. A PUBACK is only
// ever sent on the connection the message came on: after a reconnect, the broker delivers the
// unacknowledged messages again.

import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { createLogger, mqttTopics, TICK_HEADER, type Logger } from '../../protocol/index.js';
import { json, listenStatus, tlsOptions } from '../../protocol/node-support.js';
import { createKafka, deadLetterValue, missingTopics, missingTopicsError } from '../common/kafka.js';
import { defaultClientId, type BridgeConfig } from './config.js';
import { BridgeError } from './errors.js';
import { KafkaSink, recordBytes } from './kafka-sink.js';
import { createBridgeMetrics, type BridgeMetrics } from './metrics.js';
import { route, type RouteOptions } from './route.js';

export interface BridgeStats {
  messages: number;
  frames: number;
  deadLetters: number;
  acked: number;
  redelivered: number;
  inFlight: number;
  /** QoS 1 messages the broker sent while mqtt.inFlight of this connection's were unacknowledged (MQTT 5). */
  receiveMaximumExceeded: number;
  /** Keepalive periods the broker's answer waited unread behind a held message (the bridge pinged again instead of reconnecting). */
  keepalivesHeld: number;
  mqttConnected: boolean;
  kafkaConnected: boolean;
  /** The broker's count of messages it dropped since it started (mqtt.brokerDroppedTopic), once it has said. */
  brokerDropped: number | undefined;
}

export interface BridgeHandle {
  readonly config: BridgeConfig;
  readonly httpUrl: string;
  readonly metrics: BridgeMetrics;
  readonly clientId: string;
  stats(): BridgeStats;
  /** Broker and Kafka both reachable, and Kafka taking records. */
  ready(): { ready: boolean; mqtt: { connected: boolean; subscribed: boolean }; kafka: { connected: boolean; stalledMs: number; lastError?: string; missingTopics?: string[] } };
  /** Stops taking messages, gives Kafka up to drainMs for what was received, acknowledges that, disconnects. */
  stop(): Promise<void>;
}

/** Passed to mqtt.js as the outcome of `customHandleAcks`: "do not acknowledge now". */
const DEFERRED = new Error('acknowledged later, once Kafka has the records');

/** A message received and not yet routed. */
interface WorkItem {
  topic: string;
  payload: Buffer;
  p: Pending;
  acks: boolean;
}

/** How long routing runs before the connection's incoming packets get their turn, ms. */
const SLICE_MS = 10;

interface Pending {
  messageId: number;
  generation: number;
  /** performance.now() when received. */
  at: number;
  /** Records not yet acknowledged by Kafka. */
  remaining: number;
  /** MQTT 3.1.1: mqtt.js's callback that sends the PUBACK (MQTT 5 sends it through _sendPacket). */
  release?: () => void;
}

export interface BridgeOptions {
  /** The log client, instead of one made from `config.kafka` (the embedded mode passes its in-process log). */
  kafka?: Kafka;
}

export async function startBridge(config: BridgeConfig, log: Logger = createLogger('bridge', { level: config.logLevel }), injected: BridgeOptions = {}): Promise<BridgeHandle> {
  const clientId = config.mqtt.clientId ?? defaultClientId();
  const kafkaTopic = config.kafka.topics;
  const routeOptions: RouteOptions = { topics: mqttTopics(config.mqtt.topicRoot), json: config.frames.json, maxFutureMs: config.frames.maxFutureMs, maxRecordBytes: config.kafka.maxRecordBytes };

  // Kafka: one idempotent producer, acks=all, one request in flight.
  const kafka = injected.kafka ?? createKafka(config.kafka, log, { initialRetryTime: 100, maxRetryTime: 2000, retries: 5 });
  const producers: Producer[] = Array.from({ length: config.kafka.producers }, () =>
    kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: config.kafka.allowAutoTopicCreation,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Retries inside kafkajs keep each batch's sequence numbers, so Kafka drops a batch it already
      // has; they go on while Kafka is away (the sink's own retry is for errors kafkajs gives up on).
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: Number.MAX_SAFE_INTEGER },
    }),
  );
  const connected = new Set<Producer>();
  for (const p of producers) {
    p.on(p.events.CONNECT, () => connected.add(p));
    p.on(p.events.DISCONNECT, () => connected.delete(p));
  }
  const kafkaConnectedNow = () => connected.size === producers.length;
  let stopping = false;
  // Connect in the background: the bridge starts (and holds messages unacknowledged) while Kafka is away.
  const connectKafka = async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await Promise.all(producers.map((p) => p.connect()));
        log.info({ brokers: config.kafka.brokers }, 'connected to Kafka');
        return;
      } catch (err) {
        if (attempt === 1) log.warn({ err: (err as Error).message, brokers: config.kafka.brokers }, 'cannot reach Kafka; trying again (messages wait in the broker meanwhile)');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * attempt)));
      }
    }
  };
  const kafkaReady = connectKafka();

  // Topics Kafka does not have: records for them wait (kafkajs retries without end, and nothing
  // else would say why), so say it once, name them in /ready, and look again every 5 s. The bridge
  // goes on holding what it received: nothing is acknowledged that Kafka does not have.
  const kindsOf = { batch: ['raw', 'features'], raw: ['raw'], features: ['features'], status: ['status'] } as const;
  const needed = [...new Set([...config.mqtt.subscribe.flatMap((k) => kindsOf[k]), 'deadletter' as const])].map((k) => kafkaTopic[k]);
  let absent: string[] = [];
  let topicTimer: NodeJS.Timeout | undefined;
  const checkTopics = async (): Promise<void> => {
    if (stopping) return;
    try {
      const missing = await missingTopics(kafka, needed);
      if (missing.join() !== absent.join()) {
        if (missing.length) {
          const e = missingTopicsError(missing);
          log.error({ code: e.code, missing }, `${e.message}; the bridge holds what it receives until they exist`);
        } else log.info({ topics: needed }, 'the topics are there now');
      }
      absent = missing;
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'cannot list the topics; trying again');
    }
    if (absent.length && !stopping) topicTimer = setTimeout(() => void checkTopics(), 5000);
  };
  const topicsChecked = config.kafka.allowAutoTopicCreation || injected.kafka ? Promise.resolve() : kafkaReady.then(checkTopics);

  const pending: Pending[] = [];
  let head = 0;
  /** This connection's messages received and not yet acknowledged: what the broker counts against the receive maximum. */
  let connInFlight = 0;
  let exceededLogged = false;
  /** mqtt.js's callback for the message that took this connection past the limit, held until it is back within it. */
  let held: (() => void) | null = null;
  /** When the bridge last let mqtt.js go on after holding it (performance.now()). */
  let heldUntil = -Infinity;
  /** Lets mqtt.js go on to the connection's next packet, if a message held it. */
  const readOn = () => {
    const next = held;
    held = null;
    if (next) heldUntil = performance.now();
    next?.();
  };
  /** Messages received and not yet routed, in arrival order. */
  const work: WorkItem[] = [];
  let workHead = 0;
  let working = false;
  let generation = 0;
  let client: MqttClient | undefined;
  let mqttConnected = false;
  const counts = { messages: 0, frames: 0, deadLetters: 0, acked: 0, redelivered: 0, receiveMaximumExceeded: 0, keepalivesHeld: 0 };
  const deadLogged = new Map<string, number>();

  /** The broker's count of messages it dropped (mqtt.brokerDroppedTopic), once it has said. */
  let brokerDropped: number | undefined;
  const metrics = createBridgeMetrics({ inFlight: () => pending.length - head, mqttConnected: () => mqttConnected, kafkaConnected: () => kafkaConnectedNow() && !sink.lastError, brokerDropped: () => brokerDropped });
  const sink = new KafkaSink(producers, {
    lingerMs: config.kafka.lingerMs,
    batchBytes: config.kafka.batchBytes,
    compression: config.kafka.compression,
    maxRecordBytes: config.kafka.maxRecordBytes,
    onSent: (byTopic, _bytes, s) => {
      metrics.kafkaLatency.observe(s);
      for (const [topic, n] of byTopic) metrics.records.inc({ topic }, n);
    },
    onError: () => metrics.kafkaErrors.inc(),
  }, log);

  // PUBACKs in the order the messages came, for the messages of the current connection.
  const flushAcks = () => {
    while (head < pending.length && pending[head]!.remaining === 0) {
      const p = pending[head++]!;
      if (p.generation === generation && mqttConnected && client) {
        if (p.release) p.release();
        else (client as unknown as { _sendPacket(packet: object): void })._sendPacket({ cmd: 'puback', messageId: p.messageId, reasonCode: 0 });
        counts.acked++;
        connInFlight--;
        metrics.acked.inc();
        metrics.ackLatency.observe((performance.now() - p.at) / 1000);
      }
    }
    if (head > 4096 && head * 2 > pending.length) {
      pending.splice(0, head);
      head = 0;
    }
    if (connInFlight <= config.mqtt.inFlight) readOn();
  };

  const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket, release?: () => void) => {
    if (stopping) return; // not acknowledged: the broker delivers it again to the next session
    // One hold until the message is routed: flushAcks must not acknowledge it before its records are queued.
    const p: Pending = { messageId: packet.messageId ?? 0, generation, at: performance.now(), remaining: 1, ...(release ? { release } : {}) };
    const acks = packet.qos > 0;
    if (acks) {
      pending.push(p);
      if (++connInFlight > config.mqtt.inFlight && config.mqtt.protocolVersion === 5) {
        counts.receiveMaximumExceeded++;
        metrics.receiveMaximumExceeded.inc();
        if (!exceededLogged) {
          exceededLogged = true;
          log.warn({ receiveMaximum: config.mqtt.inFlight, inFlight: connInFlight }, 'the broker sends past the receive maximum (mqtt.inFlight): the bridge reads its next packet only once acknowledgements bring the connection back within the limit (Mosquitto keeps the limit from 2.0.13 on)');
        }
      }
    }
    counts.messages++;
    if (packet.dup) {
      counts.redelivered++;
      metrics.redelivered.inc();
    }
    metrics.bytes.inc(payload.length);
    // Routed in time slices off the socket's path (below), so that the connection's own packets
    // (PINGRESP above all) are read while a deep backlog of heavy messages is worked through.
    work.push({ topic, payload, p, acks });
    if (!working) {
      working = true;
      setImmediate(workSlice);
    }
  };

  /** Routes queued messages for up to SLICE_MS, then lets I/O run before the next slice. */
  const workSlice = () => {
    const until = performance.now() + SLICE_MS;
    while (workHead < work.length && !stopping) {
      const w = work[workHead]!;
      work[workHead++] = undefined as unknown as WorkItem;
      handle(w.topic, w.payload, w.p, w.acks);
      if (performance.now() >= until) break;
    }
    if (workHead >= work.length || stopping) {
      work.length = 0;
      workHead = 0;
      working = false;
    } else {
      if (workHead > 4096) {
        work.splice(0, workHead);
        workHead = 0;
      }
      setImmediate(workSlice);
    }
  };

  const handle = (topic: string, payload: Buffer, p: Pending, acks: boolean) => {
    const r = route(topic, payload, routeOptions);
    metrics.messages.inc({ topic_kind: topic.slice(topic.lastIndexOf('/') + 1) });
    const settle = () => {
      p.remaining--;
      if (p.remaining === 0) flushAcks();
    };
    for (const rec of r.records) {
      p.remaining++;
      const kafkaName = kafkaTopic[rec.topic];
      sink.add({
        topic: kafkaName,
        key: rec.key,
        ...(rec.parts ? { parts: rec.parts } : {}),
        ...(rec.value ? { value: rec.value } : {}),
        bytes: recordBytes(rec.key, rec.value?.length ?? rec.parts!.reduce((n, f) => n + 4 + f.length, 12), { 'ew-gateway': rec.gatewayId }),
        headers: { 'ew-gateway': rec.gatewayId },
        done: () => {
          if (rec.frames) metrics.frames.inc({ kind: rec.topic }, rec.frames);
          settle();
        },
      });
    }
    counts.frames += r.frames;
    let receivedAt: string | undefined;
    for (const d of r.dead) {
      p.remaining++;
      counts.deadLetters++;
      metrics.deadLetters.inc({ reason: d.code });
      const seen = (deadLogged.get(d.code) ?? 0) + 1;
      deadLogged.set(d.code, seen);
      if (seen <= 10 || seen % 1000 === 0) log.warn({ code: d.code, topic, entry: d.entry, offset: d.offset, seen }, `dead letter: ${d.message}`);
      const headers: Record<string, string> = {
        'ew-reason': d.code,
        'ew-message': d.message.slice(0, 1000),
        'ew-mqtt-topic': topic,
        'ew-received-at': (receivedAt ??= new Date().toISOString()),
        'ew-bytes': String(d.bytes.length),
      };
      if (d.entry !== undefined) headers['ew-entry'] = String(d.entry);
      if (d.offset !== undefined) headers['ew-offset'] = String(d.offset);
      const value = deadLetterValue(d.bytes, config.kafka.maxRecordBytes);
      const key = d.gatewayId ?? 'unknown';
      sink.add({ topic: kafkaTopic.deadletter, key, value, bytes: recordBytes(key, value.length, headers), headers, done: settle });
    }
    p.remaining--;
    if (acks && p.remaining === 0) flushAcks();
  };

  const filters = config.mqtt.subscribe.map((k) => (config.mqtt.shareGroup === null ? routeOptions.topics.filters[k] : `$share/${config.mqtt.shareGroup}/${routeOptions.topics.filters[k]}`));
  const v5 = config.mqtt.protocolVersion === 5;
  const options: IClientOptions = {
    protocolVersion: config.mqtt.protocolVersion,
    clientId,
    clean: false,
    keepalive: config.mqtt.keepaliveS,
    reconnectPeriod: config.mqtt.reconnectMs,
    connectTimeout: 10_000,
    resubscribe: false,
    username: config.mqtt.username,
    password: config.mqtt.password,
    ...(v5 ? { properties: { sessionExpiryInterval: config.mqtt.sessionExpiryS, receiveMaximum: config.mqtt.inFlight } } : {}),
    ...tlsOptions(config.mqtt.tls),
    customHandleAcks: (topic, message, packet, done) => {
      if (packet.qos !== 1) {
        // Subscriptions are QoS 1, so the broker sends nothing higher; acknowledge anything else as mqtt.js would.
        done(0);
        return;
      }
      onMessage(topic, message, packet);
      if (connInFlight > config.mqtt.inFlight && mqttConnected && !stopping) held = () => done(DEFERRED);
      else done(DEFERRED);
    },
  };
  client = mqtt.connect(config.mqtt.url, options);
  // A broker acknowledges a gateway's message when it has it; over its queue limits (Mosquitto's
  // max_queued_messages and max_queued_bytes, while Kafka is away) it then drops messages for the
  // bridge, and the gateways, having let them go, cannot send them again. Nothing else says so: the
  // broker's own count is read on a connection of its own (clean, QoS 0), apart from the gateways'
  // messages, and a rise is an error in the log.
  let droppedClient: MqttClient | undefined;
  const droppedTopic = config.mqtt.brokerDroppedTopic;
  if (droppedTopic) {
    droppedClient = mqtt.connect(config.mqtt.url, {
      protocolVersion: config.mqtt.protocolVersion,
      clientId: `${clientId}-dropped`,
      clean: true,
      keepalive: config.mqtt.keepaliveS,
      reconnectPeriod: Math.max(config.mqtt.reconnectMs, 1000),
      connectTimeout: 10_000,
      username: config.mqtt.username,
      password: config.mqtt.password,
      ...tlsOptions(config.mqtt.tls),
    });
    droppedClient.on('error', () => {});
    droppedClient.on('connect', () => {
      droppedClient!.subscribe(droppedTopic, { qos: 0 }, (err, granted) => {
        if (err || granted?.[0]?.qos === 128) log.info({ topic: droppedTopic, err: err?.message }, "the broker's count of dropped messages cannot be read here (mqtt.brokerDroppedTopic); not watched");
      });
    });
    droppedClient.on('message', (_topic, payload) => {
      const n = Number(payload.toString());
      if (!Number.isSafeInteger(n) || n < 0) return;
      if (brokerDropped === undefined) {
        // Its count before this bridge read it: said once, as a warning.
        if (n > 0) log.warn({ total: n, topic: droppedTopic }, 'the MQTT broker has dropped messages since it started (over its queue limits); any of them from gateways were lost before reaching a bridge: size its queue (helm/scaling.md, "How long Kafka may be away")');
      } else {
        // A broker that restarted counts from 0 again.
        const since = n >= brokerDropped ? brokerDropped : 0;
        if (n > since) log.error({ dropped: n - since, total: n, topic: droppedTopic }, 'the MQTT broker dropped messages it had acknowledged (over its queue limits, e.g. while Kafka is away); those from gateways are lost: size its queue (helm/scaling.md, "How long Kafka may be away")');
      }
      brokerDropped = n;
    });
  }
  /** An MQTT 3.1.1 message's PUBACK (and so mqtt.js's next packet: it takes one message at a time) waits for Kafka. */
  let heldV3 = false;
  if (!v5) {
    // MQTT 3.1.1: mqtt.js calls customHandleAcks only for MQTT 5. Its handleMessage hook sends the
    // PUBACK when its callback runs, and takes the connection's next packet only then: the
    // acknowledgement still waits for Kafka, one message at a time (enough for the embedded mode).
    client.handleMessage = (packet, done) => {
      if (packet.cmd !== 'publish' || packet.qos !== 1) return done();
      heldV3 = true;
      onMessage(packet.topic, packet.payload as Buffer, packet, () => {
        heldV3 = false;
        heldUntil = performance.now();
        done();
      });
    };
  }
  // While the bridge holds mqtt.js's next packet (a message past the receive maximum, or a 3.1.1
  // message waiting for Kafka), the broker's PINGRESP waits unread behind it. mqtt.js would take
  // the silence for a dead connection 1.5 keepalives after its PINGREQ and close it, and the broker
  // would then deliver every unacknowledged message again: a reconnection every 45 s while Kafka
  // lags or is away, each sending up to mqtt.inFlight messages twice. While it holds, the bridge
  // sends another PINGREQ instead (the broker must hear from it within 1.5 keepalives); once it
  // reads on, the answers are read and mqtt.js's own check goes on. A broker gone meanwhile is
  // found then, or by a PUBACK that cannot be written. Under a steady overload the bridge holds and
  // reads on many times a second, and the PINGRESP is still far behind when a hold ends: a hold
  // within the last 1.5 keepalives counts too.
  const keepaliveTimeout = client.onKeepaliveTimeout.bind(client);
  client.onKeepaliveTimeout = () => {
    const holding = held !== null || heldV3 || performance.now() - heldUntil < config.mqtt.keepaliveS * 1500;
    if (!mqttConnected || !holding) return keepaliveTimeout();
    counts.keepalivesHeld++;
    metrics.keepalivesHeld.inc();
    client!.reschedulePing(true);
    client!.sendPing();
  };
  let connects = 0;
  let lastMqttError = '';
  let subscribed = false;
  const subscribedWaiters: (() => void)[] = [];
  client.on('connect', (connack) => {
    // PUBACKs are small writes, each to go at once.
    (client!.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    generation++;
    connInFlight = 0;
    exceededLogged = false;
    mqttConnected = true;
    if (connects++ > 0) metrics.reconnects.inc();
    log.info({ url: config.mqtt.url, clientId, sessionPresent: connack.sessionPresent, filters }, 'connected to the MQTT broker');
    client!.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err) return log.error({ err: err.message, filters }, 'subscribing failed');
      const refused = granted?.filter((g) => g.qos > 2) ?? [];
      if (refused.length) return log.error({ refused: refused.map((g) => g.topic) }, 'the broker refused subscriptions (check its ACL for this user)');
      subscribed = true;
      for (const w of subscribedWaiters.splice(0)) w();
    });
  });
  client.on('message', (topic, payload, packet) => {
    if (packet.qos === 0) onMessage(topic, payload, packet);
  });
  client.on('close', () => {
    if (mqttConnected && !stopping) log.warn({ inFlight: pending.length - head }, 'MQTT connection lost; what was not acknowledged will be delivered again');
    mqttConnected = false;
    subscribed = false;
    generation++;
    connInFlight = 0;
    // Never handed on: what mqtt.js still queues is of the closed connection, and the broker sends it again.
    held = null;
    heldV3 = false;
    // Acknowledgements belong to the connection: drop the waiting ones (their records still go to Kafka).
    for (let i = head; i < pending.length; i++) pending[i]!.generation = -1;
  });
  client.on('error', (err) => {
    if (err === DEFERRED) return;
    if (err.message !== lastMqttError) log.warn({ err: err.message }, 'MQTT error');
    lastMqttError = err.message;
  });

  // Ticks (protocol/README.md): while the bridge takes messages from the broker and Kafka takes its
  // records, a record of no key and no value goes into every partition of the raw and features
  // topics each tickMs. They say the input of a partition flows even when no gateway sends into it,
  // so the processor can end the sessions of groups that went silent; when the broker, the bridge or
  // Kafka is away there are none, and nothing is ended for that. They are disposable (a lost or
  // repeated tick changes nothing), so they go with a producer of their own, not idempotent, one
  // round at a time and never queued behind the frames' requests.
  const carriesFrames = config.mqtt.subscribe.some((k) => k !== 'status');
  const tickTopics = [kafkaTopic.raw, kafkaTopic.features];
  let tickTimer: NodeJS.Timeout | undefined;
  let tickProducer: Producer | undefined;
  let tickAdmin: Admin | undefined;
  /** Partition counts of the tick topics, looked up again every 30 s (partitions can be added). */
  let tickPartitions: { counts: number[]; at: number } | undefined;
  let ticking = false;
  let tickFailed = false;
  const tick = async (): Promise<void> => {
    const tickMs = config.kafka.tickMs;
    if (tickMs === null || ticking || stopping || !subscribed || !mqttConnected || !kafkaConnectedNow() || sink.lastError || sink.stalledMs > tickMs || absent.length) return;
    ticking = true;
    try {
      if (!tickProducer) {
        const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
        await producer.connect();
        tickProducer = producer;
      }
      if (!tickPartitions || Date.now() - tickPartitions.at > 30_000) {
        if (!tickAdmin) {
          const admin = kafka.admin();
          await admin.connect();
          tickAdmin = admin;
        }
        const counts = await Promise.all(tickTopics.map(async (t) => (await tickAdmin!.fetchTopicOffsets(t)).length));
        tickPartitions = { counts, at: Date.now() };
      }
      const timestamp = String(Date.now());
      const headers = { [TICK_HEADER]: String(tickMs) };
      await tickProducer.sendBatch({
        acks: 1,
        topicMessages: tickTopics.map((topic, i) => ({ topic, messages: Array.from({ length: tickPartitions!.counts[i]! }, (_, partition) => ({ partition, key: null, value: null, timestamp, headers })) })),
      });
      metrics.ticks.inc();
      if (tickFailed) log.info('ticks written again');
      tickFailed = false;
    } catch (err) {
      if (!tickFailed && !stopping) log.warn({ err: (err as Error).message }, 'a round of ticks was not written; trying again at the next');
      tickFailed = true;
      tickPartitions = undefined;
    } finally {
      ticking = false;
    }
  };
  if (config.kafka.tickMs !== null && carriesFrames) {
    tickTimer = setInterval(() => void tick(), config.kafka.tickMs);
    tickTimer.unref();
  }

  const ready = () => {
    const k = { connected: kafkaConnectedNow() && !sink.lastError, stalledMs: sink.stalledMs, ...(sink.lastError ? { lastError: sink.lastError.message } : {}), ...(absent.length ? { missingTopics: absent } : {}) };
    return { ready: subscribed && k.connected && k.stalledMs < 10_000 && !absent.length, mqtt: { connected: mqttConnected, subscribed }, kafka: k };
  };
  const { server, url: httpUrl } = await listenStatus(config.http.host, config.http.port, async (path) => {
    if (path === '/health') return json(200, { status: 'ok' });
    if (path === '/ready') {
      const r = ready();
      return json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', mqtt: r.mqtt, kafka: r.kafka });
    }
    if (path === '/metrics') return { status: 200, type: metrics.registry.contentType, body: await metrics.registry.metrics() };
    return { status: 404, type: 'text/plain', body: 'not found' };
  }, (err) => new BridgeError('EW_BRIDGE_LISTEN', `cannot serve /health, /ready and /metrics on ${config.http.host}:${config.http.port}: ${err.message}`, { cause: err }));

  // Start up once subscribed (messages published before that have no subscriber to queue for), or
  // after 10 s with the broker still away: the bridge keeps trying, and /ready says so.
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      log.warn({ url: config.mqtt.url }, 'not subscribed yet: the broker is not answering; trying on');
      resolve();
    }, 10_000);
    subscribedWaiters.push(() => {
      clearTimeout(t);
      resolve();
    });
  });

  let stopped: Promise<void> | undefined;
  return {
    config,
    httpUrl,
    metrics,
    clientId,
    stats: () => ({ ...counts, inFlight: pending.length - head, mqttConnected, kafkaConnected: kafkaConnectedNow() && !sink.lastError, brokerDropped }),
    ready,
    stop() {
      return (stopped ??= (async () => {
        stopping = true;
        clearTimeout(topicTimer);
        clearInterval(tickTimer);
        const drained = await sink.drain(config.drainMs);
        flushAcks();
        // mqtt.js may go on: what it still queues is not taken (stopping), and the broker sends it again.
        readOn();
        sink.close();
        // Disconnect without removing the session: the broker keeps queueing for this bridge. mqtt.js
        // waits for its own requests' answers first (a SUBSCRIBE's SUBACK), which may sit unread
        // behind a 3.1.1 message still held for Kafka: after 2 s the socket is closed without them.
        const ended = client!.endAsync(false, v5 ? { properties: { sessionExpiryInterval: config.mqtt.sessionExpiryS } } : {}).then(() => true, () => true);
        if (!(await Promise.race([ended, new Promise<false>((r) => setTimeout(() => r(false), 2000).unref())]))) {
          log.warn('the MQTT connection did not end within 2 s (answers waiting behind a held message); closing it');
          client!.end(true);
        }
        await Promise.race([Promise.all([kafkaReady, topicsChecked]), new Promise((r) => setTimeout(r, 100))]);
        await Promise.all([...producers, ...(tickProducer ? [tickProducer] : []), ...(tickAdmin ? [tickAdmin] : [])].map((p) => p.disconnect().catch(() => {})));
        droppedClient?.end(true);
        await new Promise((r) => server.close(r));
        log.info({ drained, ...counts }, drained ? 'bridge stopped; everything received was in Kafka and acknowledged' : 'bridge stopped; what Kafka did not take will be delivered again by the broker');
      })());
    },
  };
}
