// The live side: this replica's own Kafka consumer over the processor's output topics, feeding the
// hub (hub.ts), and the `/ws` WebSocket route clients subscribe on. Every replica reads every
// partition (a consumer group of its own), so replicas scale out by clients, not by data.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Consumer, Kafka } from 'kafkajs';
import type { WebSocket } from 'ws';
import type { Logger } from '../../protocol/index.js';
import { superviseConsumer, type Supervisor } from '../common/consumer-supervisor.js';
import { consumerTimeouts, offsetCommitter } from '../common/kafka.js';
import { inferenceLines, parseInference, SessionAssembler, type SessionRecord } from '../processor/records.js';
import { ApiError } from './errors.js';
import { LIVE_KINDS, type Hub, type LiveClient, type LiveKind } from './hub.js';

export interface LiveTopics {
  inferences: string;
  sessions: string;
  status: string;
}

/** Reads sensor, group, seq, start and source of a window from the head of an inference record as the processor writes it; else parses it. */
const INFERENCE_HEAD = /^\{"sensorId":"([^"\\]*)","gatewayId":"[^"\\]*","group":"([^"\\]*)","seq":(\d+),"t0":(-?\d+),"t1":-?\d+,"sampleRate":[^,]*,"hop":\d+,"layoutId":\d+,"source":"([a-z]+)"/;

export interface LiveFeedOptions {
  /** Inferences and session events from this long ago are read back at start (seconds). */
  lookbackS?: number;
  /**
   * Inferences go out as soon as the processor writes them, before its transaction commits
   * (read_uncommitted), each window once: a window already sent for its sensor (the same or an
   * earlier seq and start) is not sent again. False: only committed inferences, up to the processor's
   * commit interval later. Session events and statuses are always read committed.
   */
  readUncommitted?: boolean;
  /** A consumer stopped for good (not by a Kafka outage, which the feed rides out). */
  onFatal?: (err: Error) => void;
}

/**
 * Starts this replica's feed. Its groups are new, so before they run, their offsets are set to
 * where the current state can be rebuilt from: inferences and session events from `lookbackS` ago,
 * gateway statuses (births, with their layouts' feature names) from the start of the topic. Records
 * from before the start update the state late joiners get; only newer ones go out live.
 *
 * Why inferences may be read before their commit: the processor is deterministic. A transaction
 * it aborts (it died, or was fenced) is processed again from the same input offsets and the same
 * restored state, so the windows it wrote come again with the same sensor, seq and start, and are
 * recognised here as already sent. A window is shown once, and the committed record is the same
 * window (its scores may differ in the last bits: a batch of other sensors' windows around it).
 */
export async function startLiveFeed(kafka: Kafka, groupPrefix: string, topics: LiveTopics, hub: Hub, log: Logger, options: LiveFeedOptions = {}): Promise<{ stop(): Promise<void>; stats(): { repeats: number; recoveries: number } }> {
  const lookbackS = options.lookbackS ?? 120;
  const early = options.readUncommitted ?? true;
  const groupId = `${groupPrefix}-${hostname()}-${randomBytes(4).toString('hex')}`;
  // Early inferences: a group of their own, read_uncommitted.
  const earlyGroupId = early ? `${groupId}-early` : null;
  const startedAt = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const topic of [topics.inferences, topics.sessions]) {
      const partitions = await admin.fetchTopicOffsetsByTimestamp(topic, startedAt - lookbackS * 1000);
      await admin.setOffsets({ groupId: topic === topics.inferences && earlyGroupId ? earlyGroupId : groupId, topic, partitions });
    }
    const status = await admin.fetchTopicOffsets(topics.status);
    await admin.setOffsets({ groupId, topic: topics.status, partitions: status.map((p) => ({ partition: p.partition, offset: p.low })) });
  } finally {
    await admin.disconnect().catch(() => {});
  }

  // Per sensor and source (windows cut by the processor from raw frames, or sent by the edge), the
  // latest window sent, as (seq, start): the processor writes those in that order (a window's seq
  // is the frame that completed it, and one frame may complete several, one hop apart), so a window
  // at or before it is one written again after an aborted transaction.
  const last = new Map<string, { seq: number; t0: number }>();
  let repeats = 0;
  const onInference = (json: string, live: boolean) => {
    const head = INFERENCE_HEAD.exec(json);
    let sensorId: string | undefined;
    let group: string | undefined;
    let seq: number | undefined;
    let t0: number | undefined;
    let source: string | undefined;
    if (head) [sensorId, group, seq, t0, source] = [head[1]!, head[2]!, Number(head[3]), Number(head[4]), head[5]!];
    else ({ sensorId, group, seq, t0, source } = JSON.parse(json) as { sensorId?: string; group?: string; seq?: number; t0?: number; source?: string });
    if (earlyGroupId && sensorId !== undefined && typeof seq === 'number' && typeof t0 === 'number') {
      const stream = `${source ?? ''}\u0000${sensorId}`;
      const prev = last.get(stream);
      if (prev && (seq < prev.seq || (seq === prev.seq && t0 <= prev.t0))) {
        repeats++;
        return;
      }
      if (prev) [prev.seq, prev.t0] = [seq, t0];
      else last.set(stream, { seq, t0 });
    }
    hub.publish('inferences', json, { ...(sensorId ? { sensorId } : {}), ...(group ? { group } : {}) }, live);
  };

  const supervisors: Supervisor[] = [];
  const sessionParts = new Map<string, SessionAssembler>();
  const consume = async (consumer: Consumer, subscribed: string[]) => {
    // Positions committed off the fetch path (`offsetCommitter`): kafkajs's own commit after every
    // batch held the next fetch, and every inference behind it, for a round trip to the coordinator.
    const committer = offsetCommitter(consumer, log, 'live feed');
    const run = () => consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const kind: LiveKind = batch.topic === topics.sessions ? 'sessions' : batch.topic === topics.status ? 'status' : 'inferences';
        // How late a batch comes and how long it takes to go out, at debug level (as the processor's).
        const T = log.isLevelEnabled('debug') && batch.messages.length ? { at: performance.now(), now: Date.now() } : null;
        for (const m of batch.messages) {
          if (!m.value) continue;
          const json = m.value.toString();
          const live = Number(m.timestamp) >= startedAt;
          if (kind === 'inferences') {
            // A record holds windows of one group, a JSON line each.
            for (const line of inferenceLines(json)) {
              try {
                onInference(line, live);
              } catch (err) {
                log.warn({ topic: batch.topic, partition: batch.partition, offset: m.offset, err: (err as Error).message }, 'an inference line that is not JSON; skipped');
              }
            }
            continue;
          }
          try {
            if (kind === 'status') {
              // A gateway's birth, health or death (keyed by gateway): for every status subscriber.
              // A birth names the features of each layout the gateway sends.
              const st = JSON.parse(json) as { layouts?: unknown };
              if (Array.isArray(st.layouts)) for (const l of st.layouts as { id?: unknown; names?: unknown }[]) if (typeof l?.id === 'number' && Array.isArray(l.names) && l.names.every((n) => typeof n === 'string')) hub.layoutNames.set(l.id, l.names as string[]);
              hub.publish(kind, json, { gatewayId: m.key?.toString() ?? '' }, live);
            } else {
              let e = JSON.parse(json) as { type?: string; session?: { sessionId?: string; group?: string }; part?: unknown };
              let text = json;
              // An event in parts (cloud/processor/records.ts) goes out whole, once its last part is read.
              if (e.part !== undefined && typeof e.session?.sessionId === 'string') {
                const key = `${batch.topic}/${batch.partition}`;
                let a = sessionParts.get(key);
                if (!a) sessionParts.set(key, (a = new SessionAssembler()));
                const whole = a.add(e as SessionRecord);
                if (!whole) continue;
                e = whole;
                text = JSON.stringify(whole);
              }
              hub.publish(kind, text, { ...(e.session?.group ? { group: e.session.group } : {}), ...(e.session?.sessionId ? { sessionId: e.session.sessionId } : {}), ended: e.type === 'ended' }, live);
            }
          } catch (err) {
            log.warn({ topic: batch.topic, partition: batch.partition, offset: m.offset, err: (err as Error).message }, 'a record that is not JSON; skipped');
          }
        }
        if (batch.messages.length) committer.mark(batch.topic, batch.partition, String(BigInt(batch.lastOffset()) + 1n));
        if (T) {
          const first = Number(batch.messages[0]!.timestamp);
          const last = Number(batch.messages.at(-1)!.timestamp);
          log.debug({ topic: batch.topic, partition: batch.partition, offsets: `${batch.firstOffset()}-${batch.lastOffset()}`, records: batch.messages.length, ageMs: T.now - first, newestAgeMs: T.now - last, firstTs: first, publishMs: Math.round((performance.now() - T.at) * 10) / 10 }, 'live batch');
        }
      },
    });
    supervisors.push(superviseConsumer(consumer, { name: 'live feed', log, run, onFatal: options.onFatal }));
    await consumer.connect();
    await consumer.subscribe({ topics: subscribed, fromBeginning: false });
    await run();
  };
  const consumers: Consumer[] = [];
  try {
    const committed = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 20, ...consumerTimeouts(10_000) });
    consumers.push(committed);
    await consume(committed, earlyGroupId ? [topics.sessions, topics.status] : [topics.inferences, topics.sessions, topics.status]);
    if (earlyGroupId) {
      const uncommitted = kafka.consumer({ groupId: earlyGroupId, readUncommitted: true, allowAutoTopicCreation: false, maxWaitTimeInMs: 20, ...consumerTimeouts(10_000) });
      consumers.push(uncommitted);
      await consume(uncommitted, [topics.inferences]);
    }
  } catch (err) {
    for (const sv of supervisors) sv.stop();
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => {})));
    throw err;
  }
  return {
    stop: async () => {
      for (const sv of supervisors) sv.stop();
      await Promise.all(consumers.map((c) => c.disconnect()));
      if (earlyGroupId) log.info({ repeats }, 'live feed stopped (repeats: inferences written again after an aborted transaction, not sent twice)');
    },
    stats: () => ({ repeats, recoveries: supervisors.reduce((n, sv) => n + sv.recoveries, 0) }),
  };
}

interface SubscribeRequest {
  op: 'subscribe' | 'unsubscribe';
  id?: unknown;
  kinds?: unknown;
  sensors?: unknown;
  groups?: unknown;
}

const ids = (x: unknown, what: string): Set<string> | null => {
  if (x === undefined) return null;
  if (!Array.isArray(x) || x.length > 10_000 || !x.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 128)) throw new Error(`${what}: expected an array of ids (at most 10,000)`);
  return new Set(x as string[]);
};

/** Handles one client's messages (subscribe, unsubscribe). */
export function onClientMessage(hub: Hub, c: LiveClient, text: string): void {
  let req: SubscribeRequest;
  try {
    req = JSON.parse(text) as SubscribeRequest;
    if (typeof req !== 'object' || req === null) throw new Error('not an object');
  } catch {
    c.sendJson({ type: 'error', code: 'EW_API_INVALID', message: 'messages are JSON objects: { "op": "subscribe" | "unsubscribe", ... }' });
    return;
  }
  try {
    if (req.op === 'subscribe') {
      const kinds = req.kinds ?? LIVE_KINDS;
      if (!Array.isArray(kinds) || !kinds.length || !kinds.every((k) => LIVE_KINDS.includes(k as LiveKind))) throw new Error(`kinds: expected a non-empty array of ${LIVE_KINDS.join(', ')}`);
      if (req.id !== undefined && (typeof req.id !== 'string' || !req.id || req.id.length > 64)) throw new Error('id: expected a string of 1 to 64 characters');
      const id = (req.id as string | undefined) ?? c.newId();
      if (c.subs.has(id)) hub.unsubscribe(c, id);
      if (c.subs.size >= 100) throw new Error('at most 100 subscriptions per connection');
      const sub = { id, kinds: new Set(kinds as LiveKind[]), sensors: ids(req.sensors, 'sensors'), groups: ids(req.groups, 'groups') };
      c.sendJson({ type: 'subscribed', id, kinds: [...sub.kinds], sensors: sub.sensors ? [...sub.sensors] : null, groups: sub.groups ? [...sub.groups] : null });
      hub.subscribe(c, sub);
    } else if (req.op === 'unsubscribe') {
      if (typeof req.id !== 'string' || !hub.unsubscribe(c, req.id)) throw new Error(`id: no subscription ${JSON.stringify(req.id)} on this connection`);
      c.sendJson({ type: 'unsubscribed', id: req.id });
    } else throw new Error('op: expected "subscribe" or "unsubscribe"');
  } catch (err) {
    c.sendJson({ type: 'error', code: 'EW_API_INVALID', message: (err as Error).message });
  }
}

const sensorSummary = {
  type: 'object',
  required: ['sensorId', 'gatewayId', 'group', 'lastSeen', 'lastSeenUs'],
  properties: {
    sensorId: { type: 'string' },
    gatewayId: { type: 'string' },
    group: { type: 'string' },
    lastSeen: { type: 'string', format: 'date-time', description: 'end of its latest window (sample time)' },
    lastSeenUs: { type: 'integer' },
    label: { type: 'string', description: 'the class of its latest window, when classified' },
    confidence: { type: ['number', 'null'] },
  },
} as const;

function summary(id: string, json: string) {
  const r = parseInference(json);
  return {
    sensorId: id, gatewayId: r.gatewayId, group: r.group, lastSeen: new Date(Math.floor(r.t1 / 1000)).toISOString(), lastSeenUs: r.t1,
    ...(r.label !== undefined ? { label: r.label, confidence: r.confidence ?? null } : {}),
    record: r,
  };
}

/** `/sensors`, `/sensors/:id` (from the latest inferences this replica has read) and the `/ws` route. */
export function registerLiveRoutes(app: FastifyInstance, hub: Hub, heartbeatMs: number, findSession: (id: string) => Promise<Record<string, unknown> | null>): void {

  app.get<{ Querystring: { group?: string; limit: number } }>('/sensors', {
    config: { scope: 'read' },
    schema: {
      summary: 'Known sensors: those with an inference since this replica started, newest window first',
      tags: ['sensors'],
      querystring: { type: 'object', additionalProperties: false, properties: { group: { type: 'string', minLength: 1, maxLength: 128 }, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 } } },
      response: { 200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: sensorSummary } } }, 400: { $ref: 'Error#' }, 401: { $ref: 'Error#' }, 403: { $ref: 'Error#' }, 429: { $ref: 'Error#' } },
    },
  }, async (req) => {
    const items = [];
    for (const [id, x] of hub.sensors()) if (!req.query.group || x.group === req.query.group) items.push(summary(id, x.json));
    items.sort((a, b) => b.lastSeenUs - a.lastSeenUs || (a.sensorId < b.sensorId ? -1 : 1));
    return { items: items.slice(0, req.query.limit).map(({ record: _r, ...rest }) => rest) };
  });

  app.get<{ Params: { id: string } }>('/sensors/:id', {
    config: { scope: 'read' },
    schema: {
      summary: 'One sensor: its latest window\'s features by name and its latest inference',
      tags: ['sensors'],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } },
      response: {
        200: {
          type: 'object',
          required: [...sensorSummary.required, 'window', 'features', 'inference'],
          properties: {
            ...sensorSummary.properties,
            window: { type: 'object', required: ['t0', 't1', 'seq', 'source', 'layoutId', 'sampleRate'], properties: { t0: { type: 'integer' }, t1: { type: 'integer' }, seq: { type: 'integer' }, source: { type: 'string', enum: ['edge', 'processor'] }, layoutId: { type: 'integer' }, sampleRate: { type: 'number' } } },
            features: { type: 'object', additionalProperties: { type: ['number', 'null'] }, description: 'by name: from the birth of the gateway that sent the layout, or the shipped presets\' names; f0, f1, ... for a layout neither names' },
            inference: { type: ['object', 'null'], required: ['label', 'confidence', 'scores'], properties: { label: { type: 'string' }, confidence: { type: ['number', 'null'] }, scores: { type: 'object', additionalProperties: { type: ['number', 'null'] } } } },
          },
        },
        401: { $ref: 'Error#' }, 403: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 429: { $ref: 'Error#' },
      },
    },
  }, async (req) => {
    const x = hub.sensor(req.params.id);
    if (!x) throw new ApiError('EW_API_NOT_FOUND', `no sensor ${req.params.id} has sent a window since this API started`, { details: { sensorId: req.params.id } });
    const { record: r, ...head } = summary(req.params.id, x.json);
    const featureNames = hub.layoutNames.get(r.layoutId);
    const num = (v: number) => (Number.isFinite(v) ? v : null);
    const features = Object.fromEntries(Array.from(r.features, (v, i) => [featureNames?.length === r.features.length ? featureNames[i]! : `f${i}`, num(v)]));
    const inference = r.label !== undefined && r.scores && r.classes ? { label: r.label, confidence: r.confidence ?? null, scores: Object.fromEntries(r.classes.map((c, i) => [c, num(r.scores![i]!)])) } : null;
    return { ...head, window: { t0: r.t0, t1: r.t1, seq: r.seq, source: r.source, layoutId: r.layoutId, sampleRate: r.sampleRate }, features, inference };
  });

  /** One hub client per connection, with heartbeats; gone when the socket closes. */
  const connect = (socket: WebSocket): LiveClient => {
    const c = hub.add(socket);
    let alive = true;
    socket.on('pong', () => (alive = true));
    const ping = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
    }, heartbeatMs);
    socket.on('close', () => {
      clearInterval(ping);
      hub.remove(c);
    });
    socket.on('error', () => socket.terminate());
    return c;
  };

  app.get('/ws', { websocket: true, config: { scope: 'read' }, schema: { summary: 'Live results: subscribe by sensor, group and kind (see the API README for the protocol)', tags: ['live'], hide: true } }, (socket: WebSocket) => {
    const c = connect(socket);
    socket.on('message', (data, isBinary) => {
      if (isBinary) c.sendJson({ type: 'error', code: 'EW_API_INVALID', message: 'messages are JSON text frames' });
      else onClientMessage(hub, c, data.toString());
    });
  });

  // One session: its stored state first, then each of its events; closed with 4004 when there is no such session.
  app.get<{ Params: { id: string } }>('/ws/session/:id', { websocket: true, config: { scope: 'read' }, schema: { hide: true, params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 300 } } } } }, async (socket: WebSocket, req) => {
    const c = connect(socket);
    const id = req.params.id;
    // Subscribed before the lookup, so no event falls between the stored state and the live ones;
    // events that come meanwhile wait until the stored state is sent.
    c.holding = true;
    hub.subscribe(c, { id: 'session', kinds: new Set(['sessions']), sensors: null, groups: null, sessionId: id });
    const doc = await findSession(id).catch(() => null);
    if (!doc) {
      socket.close(4004, `no session ${id}`.slice(0, 120));
      return;
    }
    c.sendJson({ type: 'session', data: doc });
    c.holding = false;
    c.pump();
  });
}
