// The WebSocket fan-out on real Kafka with real `ws` clients: each subscriber gets exactly the
// sensors, groups and kinds it asked for, in order; a late joiner gets the current state first; a
// client that never reads is dropped to, told so, and closed with 4008 while the others get
// everything; a connection without a key is refused.

import { randomBytes } from 'node:crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import net from 'node:net';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { sha256Hex } from '../../../cloud/api/auth.js';
import { parseApiConfig } from '../../../cloud/api/config.js';
import { SLOW_CONSUMER_CLOSE } from '../../../cloud/api/hub.js';
import { startApi, type ApiHandle } from '../../../cloud/api/server.js';
import type { WindowResult } from '../../../cloud/processor/engine.js';
import { inferenceJson, inferenceMessages, sessionMessages } from '../../../cloud/processor/records.js';
import type { Session } from '../../../cloud/processor/sessions.js';
import { SessionStore } from '../../../cloud/store/sessions-store.js';
import { servers, uniqueName } from '../../config.js';

const s = servers();
const KEY = 'ew_live_test_key_0123456789';
const CLASSES = JSON.stringify(['idle', 'walking', 'running', 'jumping', 'fall']);

/** Windows of 400 features (about 2.3 KB): enough bytes that a client which stops reading fills the socket buffers and its queue. */
function inferenceWindow(sensor: number | string, n: number, layout?: { id: number; features: Float32Array; group: string }, seq = n): WindowResult {
  const group = layout?.group ?? `g${Number(sensor) % 3}`;
  const w: WindowResult = {
    sensorId: typeof sensor === 'number' ? `s${sensor}` : sensor, gatewayId: 'gw', group, seq, t0: 1_795_000_000_000_000 + n * 1_280_000, t1: 1_795_000_000_000_000 + (n + 1) * 1_280_000,
    sampleRate: 200, hop: 256, layoutId: layout?.id ?? 0xe8d33268, source: 'edge', features: layout?.features ?? new Float32Array(400).fill(n), label: 'walking', scores: new Float32Array([0.1, 0.6, 0.1, 0.1, 0.1]),
  };
  return w;
}

/** A record of one window. */
function inference(sensor: number | string, n: number, layout?: { id: number; features: Float32Array; group: string }, seq = n): { key: string; value: string } {
  return { key: layout?.group ?? `g${Number(sensor) % 3}`, value: inferenceJson(inferenceWindow(sensor, n, layout, seq), CLASSES) };
}

/** A test client: every message it received, parsed. */
class Client {
  readonly messages: { type: string; data?: { sensorId?: string; seq?: number; group?: string; type?: string; session?: { group: string } }; count?: number }[] = [];
  closeCode: number | null = null;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.messages.push(JSON.parse(d.toString())));
    ws.on('close', (code) => (this.closeCode = code));
  }
  static open(url: string, key: string | null = KEY, path = '/ws'): Promise<Client> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${path}`, key ? { headers: { 'x-api-key': key } } : {});
    const c = new Client(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`refused: ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }
  async subscribe(req: Record<string, unknown>): Promise<void> {
    const before = this.messages.length;
    this.ws.send(JSON.stringify({ op: 'subscribe', ...req }));
    await until(() => this.messages.slice(before).some((m) => m.type === 'subscribed' || m.type === 'error'), 5000, 'the subscription');
  }
  of(type: string) {
    return this.messages.filter((m) => m.type === type);
  }
}

/**
 * A WebSocket client on a bare TCP socket that stops reading when told to (a `ws` client resumes
 * its socket by itself). It parses what it got afterwards: text messages and the close code.
 */
class RawClient {
  private readonly chunks: Buffer[] = [];
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => this.chunks.push(d));
  }
  static async open(url: string, key: string): Promise<RawClient> {
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => socket.once('connect', r));
    const c = new RawClient(socket);
    socket.write(`GET /ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nX-API-Key: ${key}\r\n\r\n`);
    await until(() => Buffer.concat(c.chunks).includes('\r\n\r\n'), 5000, 'the upgrade');
    expect(Buffer.concat(c.chunks).toString()).toMatch(/^HTTP\/1.1 101/);
    return c;
  }
  /** A masked text frame, as clients send. */
  send(text: string): void {
    const payload = Buffer.from(text);
    const mask = randomBytes(4);
    const head = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
    this.socket.write(Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
  }
  /** Text messages and the close code, from everything read after the upgrade. */
  frames(): { texts: string[]; closeCode: number | null } {
    const all = Buffer.concat(this.chunks);
    let i = all.indexOf('\r\n\r\n') + 4;
    const texts: string[] = [];
    let closeCode: number | null = null;
    while (i + 2 <= all.length) {
      const op = all[i]! & 0x0f;
      let len = all[i + 1]! & 0x7f;
      let at = i + 2;
      if (len === 126) [len, at] = [all.readUInt16BE(at), at + 2];
      else if (len === 127) [len, at] = [Number(all.readBigUInt64BE(at)), at + 8];
      if (at + len > all.length) break;
      const body = all.subarray(at, at + len);
      if (op === 1) texts.push(body.toString());
      if (op === 8) closeCode = body.readUInt16BE(0);
      i = at + len;
    }
    return { texts, closeCode };
  }
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(s.kafka && s.ferretdb)('WebSocket fan-out (Kafka)', () => {
  const name = uniqueName('live');
  const topics = { inferences: `${name}.inferences`, sessions: `${name}.sessions`, status: `${name}.status` };
  let api: ApiHandle;
  let producer: Producer;

  beforeAll(async () => {
    const kafka = new Kafka({ clientId: 'edgewave-test-live', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
    await admin.disconnect();
    producer = kafka.producer();
    await producer.connect();
    api = await startApi(
      parseApiConfig({
        http: { port: 0 },
        mongodb: { url: s.ferretdb!.url, database: name.replace(/-/g, '_') },
        kafka: { brokers: s.kafka!.brokers, topics, groupPrefix: name },
        auth: { keys: [{ id: 'live', sha256: sha256Hex(KEY), scopes: ['read'] }], ratePerMinute: 100_000 },
        live: { highWaterBytes: 64 * 1024, maxQueue: 200, closeAfterMs: 1500, heartbeatMs: 20_000 },
        logLevel: 'warn',
      }),
    );
    // The feed reads from the end: wait until it has joined, with probes.
    for (const end = Date.now() + 30_000; api.hub!.published === 0; ) {
      if (Date.now() > end) throw new Error('the live feed never joined');
      await producer.send({ topic: topics.inferences, messages: [inference(99, 0)] });
      await new Promise((r) => setTimeout(r, 300));
    }
  });
  afterAll(async () => {
    await producer?.disconnect();
    await api?.stop();
  });
  /** Another API replica on the same topics and database. */
  const replica = (groupPrefix: string, live: Record<string, unknown> = {}) =>
    startApi(
      parseApiConfig({
        http: { port: 0 },
        mongodb: { url: s.ferretdb!.url, database: name.replace(/-/g, '_') },
        kafka: { brokers: s.kafka!.brokers, topics, groupPrefix },
        auth: { keys: [{ id: 'live', sha256: sha256Hex(KEY), scopes: ['read'] }], ratePerMinute: 100_000 },
        live,
        logLevel: 'warn',
      }),
    );

  it('output topics Kafka does not have: the API refuses to start, naming them (EW_KAFKA_TOPICS), and creates none', async () => {
    const other = uniqueName('live-missing');
    const wanted = { inferences: topics.inferences, sessions: `${other}.sessions`, status: `${other}.status` };
    const start = startApi(
      parseApiConfig({
        http: { port: 0 },
        mongodb: { url: s.ferretdb!.url, database: name.replace(/-/g, '_') },
        kafka: { brokers: s.kafka!.brokers, topics: wanted, groupPrefix: other },
        logLevel: 'silent',
      }),
    );
    await expect(start).rejects.toMatchObject({ code: 'EW_KAFKA_TOPICS', details: { missing: [wanted.sessions, wanted.status] } });
    await expect(start).rejects.toThrow(`Kafka has no topic ${wanted.sessions}, ${wanted.status}: create them first`);
    const admin = new Kafka({ clientId: 'edgewave-test-live', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      expect((await admin.listTopics()).filter((t) => t.startsWith(`${other}.`))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });

  it('a connection without a key is refused with 401', async () => {
    await expect(Client.open(api.url, null)).rejects.toMatchObject({ status: 401 });
    await expect(Client.open(api.url, 'ew_unknown')).rejects.toMatchObject({ status: 401 });
  });

  it('each subscriber gets exactly what it asked for, in order; a slow one is dropped to and closed; a late joiner gets the current state first', async () => {
    const bySensor = await Client.open(api.url);
    await bySensor.subscribe({ kinds: ['inferences'], sensors: ['s1', 's2'] });
    const byGroup = await Client.open(api.url);
    await byGroup.subscribe({ id: 'mine', kinds: ['inferences', 'sessions'], groups: ['g2'] });
    const everything = await Client.open(api.url);
    await everything.subscribe({ kinds: ['inferences'] });
    const slow = await RawClient.open(api.url, KEY);
    slow.send(JSON.stringify({ op: 'subscribe', kinds: ['inferences'] }));
    await until(() => slow.frames().texts.some((t) => t.includes('"subscribed"')), 5000, 'the slow client\'s subscription');
    // The slow client stops reading from its socket.
    slow.socket.pause();

    const ROUNDS = 2500;
    const SENSORS = 9;
    const session = (type: string, group: string, sessionId = `${group}-1`) => ({ key: group, value: JSON.stringify({ type, session: { sessionId, group, status: type === 'ended' ? 'ended' : 'active' } }) });
    let records = 0;
    for (let n = 1; n <= ROUNDS; n += 50) {
      // As the processor writes them: a record holds many windows of one group, a line each.
      const windows = [];
      for (let k = n; k < n + 50; k++) for (let i = 0; i < SENSORS; i++) windows.push(inferenceWindow(i, k));
      const messages = inferenceMessages(windows, CLASSES);
      records += messages.length;
      await producer.send({ topic: topics.inferences, messages });
      if (n === 1) await producer.send({ topic: topics.sessions, messages: [session('started', 'g2'), session('started', 'g1')] });
    }
    const total = ROUNDS * SENSORS;
    expect(records).toBeLessThan(total / 10);
    await until(() => everything.of('inferences').filter((m) => m.data!.sensorId !== 's99').length >= total, 60_000, 'every inference at the everything client');
    await until(() => bySensor.of('inferences').length >= 2 * ROUNDS && byGroup.of('inferences').length >= 3 * ROUNDS, 20_000, 'the others');

    // Exactly the sensors asked for, each in order, nothing else.
    const seqs = (c: Client, sensor: string) => c.of('inferences').filter((m) => m.data!.sensorId === sensor).map((m) => m.data!.seq);
    const expected = Array.from({ length: ROUNDS }, (_, i) => i + 1);
    expect(new Set(bySensor.of('inferences').map((m) => m.data!.sensorId))).toEqual(new Set(['s1', 's2']));
    expect(seqs(bySensor, 's1')).toEqual(expected);
    expect(seqs(bySensor, 's2')).toEqual(expected);
    expect(new Set(byGroup.of('inferences').map((m) => m.data!.group))).toEqual(new Set(['g2']));
    for (const sensor of ['s2', 's5', 's8']) expect(seqs(byGroup, sensor)).toEqual(expected);
    expect(byGroup.of('sessions').map((m) => m.data!.session!.group)).toEqual(['g2']);
    expect(bySensor.of('sessions')).toEqual([]);
    for (let i = 0; i < SENSORS; i++) expect(seqs(everything, `s${i}`)).toEqual(expected);
    expect(everything.of('dropped')).toEqual([]);

    // The slow client: its queue overflowed, it was told how many were dropped, and closed with 4008.
    // (Closed on the server's side; the close frame waits behind what the client has not read.)
    await until(() => [...api.hub!.clients].some((c) => c.closed && c.stats.dropped > 0), 15_000, 'the slow client to be closed');
    slow.socket.resume();
    await until(() => slow.frames().closeCode !== null, 15_000, 'the close frame');
    const { texts, closeCode } = slow.frames();
    expect(closeCode).toBe(SLOW_CONSUMER_CLOSE);
    const got = texts.map((t) => JSON.parse(t) as { type: string; count?: number; data?: { sensorId: string } });
    const told = got.filter((m) => m.type === 'dropped').reduce((n, m) => n + m.count!, 0);
    expect(told).toBeGreaterThan(0);
    // Until its close, everything published to it either came or was counted as dropped (and it
    // got, as current state on subscribing, the startup probe's inference); after the close, nothing.
    const received = got.filter((m) => m.type === 'inferences').length;
    expect(got.find((m) => m.type === 'inferences')!.data!.sensorId).toBe('s99');
    const slowClient = [...api.hub!.clients].find((c) => c.closed)!;
    expect(received).toBe(slowClient.stats.sent);
    expect(told).toBe(slowClient.stats.dropped);
    expect(received + told).toBeLessThanOrEqual(total + 1);
    expect(received).toBeLessThan(total);
    slow.socket.destroy();

    // A late joiner: the latest inference of each asked-for sensor, then the active sessions.
    const late = await Client.open(api.url);
    await late.subscribe({ kinds: ['inferences', 'sessions'], sensors: ['s4'], groups: ['g1'] });
    await until(() => late.of('inferences').length >= 3 && late.of('sessions').length >= 1, 5000, 'the current state');
    const latest = late.of('inferences').map((m) => `${m.data!.sensorId}:${m.data!.seq}`).sort();
    expect(latest).toEqual([`s1:${ROUNDS}`, `s4:${ROUNDS}`, `s7:${ROUNDS}`]);
    expect(late.of('sessions').map((m) => m.data!.session!.group)).toEqual(['g1']);

    // Unsubscribing stops the flow; a bad request gets an error and the connection stays.
    byGroup.ws.send(JSON.stringify({ op: 'unsubscribe', id: 'mine' }));
    await until(() => byGroup.of('unsubscribed').length === 1, 5000, 'unsubscribed');
    const before = byGroup.of('inferences').length;
    byGroup.ws.send(JSON.stringify({ op: 'subscribe', kinds: ['nonsense'] }));
    await until(() => byGroup.of('error').length === 1, 5000, 'the error');
    expect(byGroup.of('error')[0]).toMatchObject({ code: 'EW_API_INVALID', message: expect.stringMatching(/kinds/) });
    await producer.send({ topic: topics.inferences, messages: [inference(2, ROUNDS + 1)] });
    await until(() => everything.of('inferences').some((m) => m.data!.seq === ROUNDS + 1), 10_000, 'one more');
    expect(byGroup.of('inferences').length).toBe(before);

    // /sensors: every sensor that sent a window, newest first; /sensors/:id its latest window by name.
    const get = (path: string) => fetch(`${api.url}${path}`, { headers: { 'x-api-key': KEY } });
    const sensors = (await (await get('/sensors')).json()) as { items: { sensorId: string; group: string; label: string; lastSeenUs: number }[] };
    expect(sensors.items.map((x) => x.sensorId).sort()).toEqual([...Array.from({ length: SENSORS }, (_, i) => `s${i}`), 's99'].sort());
    expect(sensors.items[0]!.sensorId).toBe('s2'); // the one more window, sent last
    const g1 = (await (await get('/sensors?group=g1')).json()) as { items: { sensorId: string }[] };
    expect(g1.items.map((x) => x.sensorId).sort()).toEqual(['s1', 's4', 's7']);
    const s4 = (await (await get('/sensors/s4')).json()) as { sensorId: string; group: string; window: { seq: number }; features: Record<string, number>; inference: { label: string; confidence: number; scores: Record<string, number> } };
    expect(s4).toMatchObject({ sensorId: 's4', group: 'g1', window: { seq: ROUNDS }, inference: { label: 'walking', confidence: Math.fround(0.6) } });
    expect(Object.keys(s4.features)).toHaveLength(400);
    expect(s4.features.f399).toBe(ROUNDS);
    expect(s4.inference.scores).toEqual({ idle: Math.fround(0.1), walking: Math.fround(0.6), running: Math.fround(0.1), jumping: Math.fround(0.1), fall: Math.fround(0.1) });
    const none = await get('/sensors/nobody');
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ code: 'EW_API_NOT_FOUND', details: { sensorId: 'nobody' } });

    // One session: its stored state first, then its events only; an unknown one is closed with 4004.
    const mongo = await new MongoClient(s.ferretdb!.url).connect();
    try {
      const store = await SessionStore.open(mongo.db(name.replace(/-/g, '_')));
      const stored: Session = { sessionId: 'g5-42', group: 'g5', status: 'active', start: 1_795_000_000_000_000, end: null, windows: 3, sensors: {}, labels: { walking: { windows: 3, durationS: 3.84 } }, dominant: 'walking', updatedAt: 1_795_000_003_840_000 };
      await store.write([{ type: 'started', session: stored }]);
      const one = await Client.open(api.url, KEY, '/ws/session/g5-42');
      await until(() => one.of('session').length === 1, 5000, 'the stored session');
      expect(one.of('session')[0]!.data).toMatchObject({ sessionId: 'g5-42', group: 'g5', status: 'active', windows: 3 });
      await producer.send({ topic: topics.sessions, messages: [session('updated', 'g5', 'g5-41'), session('ended', 'g5', 'g5-42')] });
      await until(() => one.of('sessions').length === 1, 10_000, 'the session event');
      expect(one.of('sessions')[0]!.data).toMatchObject({ type: 'ended', session: { sessionId: 'g5-42' } });
      expect(one.messages[0]!.type).toBe('session');
      one.ws.close();

      // An event in parts (as the processor writes one over its record size) goes out whole, once.
      const many: Session = { ...stored, sessionId: 'g5-43', sensors: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`s${i}`, { windows: 3, durationS: 3.84, labels: { walking: 3 }, dominant: 'walking', stats: { 'acc.mag_mean': { n: 3, mean: 9.8 + i / 100, m2: 0.01, min: 9.7, max: 9.9 } } }])) };
      await store.write([{ type: 'started', session: { ...many, sensors: {} } }]);
      const parted = await Client.open(api.url, KEY, '/ws/session/g5-43');
      await until(() => parted.of('session').length === 1, 5000, 'the stored session');
      const event = { type: 'updated' as const, session: many };
      const parts = sessionMessages([event], 2048);
      expect(parts.length).toBeGreaterThan(2);
      await producer.send({ topic: topics.sessions, messages: parts });
      await until(() => parted.of('sessions').length === 1, 10_000, 'the session event');
      await new Promise((r) => setTimeout(r, 500));
      expect(parted.of('sessions').map((m) => m.data)).toEqual([event]);
      parted.ws.close();
      const nobody = await Client.open(api.url, KEY, '/ws/session/nope');
      await until(() => nobody.closeCode !== null, 5000, 'the close');
      expect(nobody.closeCode).toBe(4004);
    } finally {
      await mongo.close();
    }

    // Status is per gateway: a status subscriber gets each gateway's latest, whatever its lists, then live ones.
    await producer.send({ topic: topics.status, messages: [{ key: 'gw-a', value: JSON.stringify({ gatewayId: 'gw-a', state: 'online' }) }] });
    await until(() => api.hub!.published >= total + 5, 10_000, 'the status record');
    const watcher = await Client.open(api.url);
    await watcher.subscribe({ kinds: ['status'], groups: ['g1'] });
    await until(() => watcher.of('status').length === 1, 5000, 'the current status');
    await producer.send({ topic: topics.status, messages: [{ key: 'gw-a', value: JSON.stringify({ gatewayId: 'gw-a', state: 'stopped' }) }] });
    await until(() => watcher.of('status').length === 2, 10_000, 'the live status');
    expect(watcher.of('status').map((m) => (m.data as { state: string }).state)).toEqual(['online', 'stopped']);
    expect(bySensor.of('status')).toEqual([]);
    for (const c of [bySensor, byGroup, everything, late, watcher]) c.ws.close();
  }, 120_000);

  it('with Kafka, the OpenAPI document validates and has the sensor routes, and each answers with a status it documents', async () => {
    const doc = await (await fetch(`${api.url}/docs/json`)).json();
    await SwaggerParser.validate(structuredClone(doc));
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/sensors', '/sensors/{id}']));
    for (const [url, status] of [['/sensors', 200], ['/sensors?group=g1&limit=2', 200], ['/sensors/s0', 200], ['/sensors/nope', 404], ['/sensors?limit=0', 400]] as const) {
      const r = await fetch(`${api.url}${url}`, { headers: { 'x-api-key': KEY } });
      expect(r.status, url).toBe(status);
      const op = url.startsWith('/sensors/') ? paths['/sensors/{id}']!.get! : paths['/sensors']!.get!;
      expect(Object.keys(op.responses), url).toContain(String(r.status));
    }
    const list = (await (await fetch(`${api.url}/sensors?group=g1&limit=2`, { headers: { 'x-api-key': KEY } })).json()) as { items: { group: string }[] };
    expect(list.items).toHaveLength(2);
    expect(list.items.every((x) => x.group === 'g1')).toBe(true);
  });

  it('a replica started later has the current state at once: latest inferences, active sessions, gateway statuses and the feature names from their births; none of it replayed as live', async () => {
    const LAYOUT = 0x1234abcd;
    const names = ['x.mean', 'x.std', 'y.mean'];
    const group = 'g-late';
    await producer.send({ topic: topics.status, messages: [{ key: 'gw-late', value: JSON.stringify({ state: 'online', gatewayId: 'gw-late', layouts: [{ id: LAYOUT, sampleRate: 100, window: 128, hop: 64, names, units: ['g', 'g', 'g'] }] }) }] });
    const features = (n: number) => new Float32Array([n, n / 2, -n]);
    for (let n = 1; n <= 5; n++) await producer.send({ topic: topics.inferences, messages: [inference('s-late', n, { id: LAYOUT, features: features(n), group })] });
    await producer.send({ topic: topics.sessions, messages: [{ key: group, value: JSON.stringify({ type: 'started', session: { sessionId: `${group}-1`, group, status: 'active' } }) }, { key: group, value: JSON.stringify({ type: 'started', session: { sessionId: `${group}-0`, group, status: 'active' } }) }, { key: group, value: JSON.stringify({ type: 'ended', session: { sessionId: `${group}-0`, group, status: 'ended' } }) }] });
    // The first replica has them all, live.
    await until(() => api.hub!.sensor('s-late')?.json.includes('"seq":5') === true, 10_000, `the first replica to read the records (it has ${api.hub!.sensor('s-late')?.json.slice(0, 200)}; published ${api.hub!.published})`);

    const second = await replica(`${name}-second`);
    try {
      const get = (path: string) => fetch(`${second.url}${path}`, { headers: { 'x-api-key': KEY } });
      // Every sensor the first replica knows, the second knows, with the same latest record.
      const latest = (h: NonNullable<ApiHandle['hub']>) => Object.fromEntries([...h.sensors()].map(([id, x]) => [id, /"seq":(\d+)/.exec(x.json)![1]]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
      await until(() => JSON.stringify(latest(second.hub!)) === JSON.stringify(latest(api.hub!)), 30_000, 'the second replica to read back the recent records').catch((err: Error) => {
        throw new Error(`${err.message}: first ${JSON.stringify(latest(api.hub!))}, second ${JSON.stringify(latest(second.hub!))}`);
      });
      expect(Object.keys(latest(second.hub!)).length).toBeGreaterThanOrEqual(10);
      for (const [id, x] of api.hub!.sensors()) expect(second.hub!.sensor(id)?.json, id).toBe(x.json);
      const sensor = await (await get('/sensors/s-late')).json();
      expect(sensor).toMatchObject({ sensorId: 's-late', group, window: { seq: 5, layoutId: LAYOUT }, features: { 'x.mean': 5, 'x.std': 2.5, 'y.mean': -5 } });

      const joiner = await Client.open(second.url);
      await joiner.subscribe({ kinds: ['inferences', 'sessions'], sensors: ['s-late'], groups: [group] });
      const status = await Client.open(second.url);
      await status.subscribe({ kinds: ['status'] });
      await until(() => joiner.of('inferences').length === 1 && joiner.of('sessions').length === 1 && status.of('status').some((m) => (m.data as { gatewayId?: string }).gatewayId === 'gw-late'), 5000, 'the current state');
      // Nothing read back goes out as live: a second later, still just the current state.
      await new Promise((r) => setTimeout(r, 1000));
      expect(joiner.of('inferences').map((m) => m.data!.seq)).toEqual([5]);
      expect(joiner.of('sessions').map((m) => (m.data as unknown as { session: { sessionId: string } }).session.sessionId)).toEqual([`${group}-1`]);
      expect(status.of('status').filter((m) => (m.data as { gatewayId?: string }).gatewayId === 'gw-late')).toHaveLength(1);
      // Then live.
      await producer.send({ topic: topics.inferences, messages: [inference('s-late', 6, { id: LAYOUT, features: features(6), group })] });
      await until(() => joiner.of('inferences').length === 2, 10_000, 'the live inference');
      expect(joiner.of('inferences').map((m) => m.data!.seq)).toEqual([5, 6]);
      joiner.ws.close();
      status.ws.close();
    } finally {
      await second.stop();
    }
  }, 90_000);

  it('inferences go out as soon as the processor writes them, each window once across an aborted transaction; with readUncommitted false, only committed ones', async () => {
    const committedApi = await replica(`${name}-committed`, { lookbackS: 0, readUncommitted: false });
    const kafka = new Kafka({ clientId: 'edgewave-test-live-tx', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
    const tx = kafka.producer({ transactionalId: `${name}-tx`, idempotent: true, maxInFlightRequests: 1 });
    await tx.connect();
    try {
      for (let n = 1000, end = Date.now() + 30_000; committedApi.hub!.published === 0; n++) {
        if (Date.now() > end) throw new Error('the committed feed never joined');
        await producer.send({ topic: topics.inferences, messages: [inference(99, n)] });
        await new Promise((r) => setTimeout(r, 300));
      }
      const group = 'g-tx';
      // Window n starts n hops in; windows 3 and 2 share a seq (one frame completed both).
      const window = (n: number) => inference('s-tx', n, { id: 0xe8d33268, features: new Float32Array(4).fill(n), group }, n >= 3 ? n - 1 : n);
      const early = await Client.open(api.url);
      await early.subscribe({ kinds: ['inferences'], sensors: ['s-tx'] });
      const late = await Client.open(committedApi.url);
      await late.subscribe({ kinds: ['inferences'], sensors: ['s-tx'] });
      const seqs = (c: Client) => c.of('inferences').map((m) => m.data!.seq);
      const starts = (c: Client) => c.of('inferences').map((m) => ((m.data as { t0: number }).t0 - 1_795_000_000_000_000) / 1_280_000);
      const repeatsBefore = api.feed!.stats().repeats;

      // Written, not committed: the early feed sends them, the committed one does not.
      const first = await tx.transaction();
      await first.send({ topic: topics.inferences, messages: [window(1), window(2), window(3)] });
      await until(() => seqs(early).length === 3, 10_000, 'the uncommitted windows at the early client');
      expect(seqs(early)).toEqual([1, 2, 2]);
      await new Promise((r) => setTimeout(r, 1000));
      expect(seqs(late)).toEqual([]);
      // The transaction is aborted; the same windows are written again with the next one, and
      // committed, in records of two windows each (a JSON line each): the second holds a repeat and a new one.
      await first.abort();
      const second = await tx.transaction();
      const lines = (...ws: { value: string }[]) => ({ key: group, value: ws.map((w) => w.value).join('\n') });
      await second.send({ topic: topics.inferences, messages: [lines(window(1), window(2)), lines(window(3), window(4))] });
      await second.commit();
      await until(() => seqs(late).length === 4, 10_000, 'the committed windows at the committed client');
      await until(() => seqs(early).length === 4, 10_000, 'the new window at the early client');
      // Each window once at both; the early feed recognised the three written again.
      await new Promise((r) => setTimeout(r, 1000));
      expect(starts(early)).toEqual([1, 2, 3, 4]);
      expect(seqs(early)).toEqual([1, 2, 2, 3]);
      expect(starts(late)).toEqual([1, 2, 3, 4]);
      expect(api.feed!.stats().repeats - repeatsBefore).toBe(3);
      // The same sensor's windows cut by the processor from raw frames are another stream, with
      // seqs of their own: an earlier seq there is no repeat.
      const fromRaw = JSON.parse(window(1).value) as WindowResult & { features: string };
      const cut: WindowResult = { ...fromRaw, source: 'processor', features: new Float32Array(4).fill(1), scores: new Float32Array([0.1, 0.6, 0.1, 0.1, 0.1]), label: 'walking' };
      await producer.send({ topic: topics.inferences, messages: [{ key: group, value: inferenceJson(cut, CLASSES) }] });
      await until(() => seqs(early).length === 5, 10_000, 'the window cut from raw frames');
      expect(early.of('inferences').map((m) => (m.data as { source: string }).source)).toEqual(['edge', 'edge', 'edge', 'edge', 'processor']);
      expect(committedApi.feed!.stats().repeats).toBe(0);
      const metrics = await (await fetch(`${api.url}/metrics`, { headers: { 'x-api-key': KEY } })).text();
      expect(Number(/^edgewave_api_live_repeats_total (\d+)$/m.exec(metrics)?.[1])).toBe(api.feed!.stats().repeats);
      early.ws.close();
      late.ws.close();
    } finally {
      await tx.disconnect();
      await committedApi.stop();
    }
  }, 90_000);
});
