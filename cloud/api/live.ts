// The live side: this replica's own Kafka consumer over the processor's output topics, feeding the
// hub (hub.ts), and the `/ws` WebSocket route clients subscribe on. Every replica reads every
// partition (a consumer group of its own), so replicas scale out by clients, not by data.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Consumer, Kafka } from 'kafkajs';
import type { WebSocket } from 'ws';
import type { Logger } from '../../protocol/index.js';
import { LIVE_KINDS, type Hub, type LiveClient, type LiveKind } from './hub.js';

export interface LiveTopics {
  inferences: string;
  sessions: string;
  status: string;
}

/** Reads sensor and group from the head of an inference record as the processor writes it; else parses it. */
const INFERENCE_HEAD = /^\{"sensorId":"([^"\\]*)","gatewayId":"[^"\\]*","group":"([^"\\]*)"/;

export async function startLiveFeed(kafka: Kafka, groupPrefix: string, topics: LiveTopics, hub: Hub, log: Logger): Promise<{ stop(): Promise<void> }> {
  const consumer: Consumer = kafka.consumer({ groupId: `${groupPrefix}-${hostname()}-${randomBytes(4).toString('hex')}`, readUncommitted: false, maxWaitTimeInMs: 20, sessionTimeout: 10_000, heartbeatInterval: 2000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.inferences, topics.sessions, topics.status], fromBeginning: false });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const kind: LiveKind = batch.topic === topics.sessions ? 'sessions' : batch.topic === topics.status ? 'status' : 'inferences';
      for (const m of batch.messages) {
        if (!m.value) continue;
        const json = m.value.toString();
        try {
          if (kind === 'inferences') {
            const head = INFERENCE_HEAD.exec(json);
            if (head) hub.publish(kind, json, { sensorId: head[1]!, group: head[2]! });
            else {
              const v = JSON.parse(json) as { sensorId?: string; group?: string };
              hub.publish(kind, json, { ...(v.sensorId ? { sensorId: v.sensorId } : {}), ...(v.group ? { group: v.group } : {}) });
            }
          } else if (kind === 'status') {
            // A gateway's birth, health or death (keyed by gateway): for every status subscriber.
            JSON.parse(json);
            hub.publish(kind, json, { gatewayId: m.key?.toString() ?? '' });
          } else {
            const e = JSON.parse(json) as { type?: string; session?: { sessionId?: string; group?: string } };
            hub.publish(kind, json, { ...(e.session?.group ? { group: e.session.group } : {}), ...(e.session?.sessionId ? { sessionId: e.session.sessionId } : {}), ended: e.type === 'ended' });
          }
        } catch (err) {
          log.warn({ topic: batch.topic, partition: batch.partition, offset: m.offset, err: (err as Error).message }, 'a record that is not JSON; skipped');
        }
      }
    },
  });
  return { stop: () => consumer.disconnect() };
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

/** The `/ws` route: one hub client per connection, pings every `heartbeatMs`, gone after two unanswered. */
export function registerLiveRoutes(app: FastifyInstance, hub: Hub, heartbeatMs: number): void {
  app.get('/ws', { websocket: true, config: { scope: 'read' }, schema: { summary: 'Live results: subscribe by sensor, group and kind (see the API README for the protocol)', tags: ['live'], hide: true } }, (socket: WebSocket) => {
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
    socket.on('message', (data, isBinary) => {
      if (isBinary) c.sendJson({ type: 'error', code: 'EW_API_INVALID', message: 'messages are JSON text frames' });
      else onClientMessage(hub, c, data.toString());
    });
    socket.on('close', () => {
      clearInterval(ping);
      hub.remove(c);
    });
    socket.on('error', () => socket.terminate());
  });
}
