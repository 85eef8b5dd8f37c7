// The API under fan-out: EW_BENCH_CLIENTS WebSocket clients (default 1,000), each subscribed to 20
// of 1,000 sensors, while inference records arrive at 2 per sensor per second; delivery latency
// is from the record's production (its t1 carries the wall clock at send) to the client's
// receipt. Then `/sessions` under autocannon over 2,000 stored sessions (with the test server,
// FerretDB on SQLite, which sorts in memory, this measures the server more than the API).
//
// Starts Kafka and the MongoDB-wire server through scripts/servers; the API runs as its own
// process (`edgewave api`), pinned to one core with taskset when there is one; the clients and the
// producer run in this process.
// Run: npm run bench:api [-- --json] [--ws-only]   (EW_BENCH_CLIENTS, EW_BENCH_TRIAL_S=20, EW_BENCH_CPU=1)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import WebSocket from 'ws';
import { sha256Hex } from '../cloud/api/auth.js';
import type { WindowResult } from '../cloud/processor/engine.js';
import { inferenceLines, inferenceMessages } from '../cloud/processor/records.js';
import { newGroupState, observe, type SessionEvent } from '../cloud/processor/sessions.js';
import { SessionStore, toDocument } from '../cloud/store/sessions-store.js';
import { startServers, stopServers } from '../scripts/servers/index.js';
import { procUsage } from './proc.js';

const json = process.argv.includes('--json');
// --ws-only: the WebSocket fan-out alone (no sessions stored, no /sessions run).
const wsOnly = process.argv.includes('--ws-only');
const CLIENTS = Number(process.env.EW_BENCH_CLIENTS ?? 1000);
const SENSORS = 1000;
const PER_CLIENT = 20;
const RATE = 2; // records per sensor per second
const TRIAL_S = Number(process.env.EW_BENCH_TRIAL_S ?? 20);
const CPU = process.env.EW_BENCH_CPU ?? '1';
const KEY = 'ew_bench_key_0123456789abcdef';
const root = new URL('..', import.meta.url).pathname;
const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
const hasTaskset = spawnSync('taskset', ['-V']).status === 0;
const CLASSES = JSON.stringify(['idle', 'walking', 'running', 'jumping', 'fall']);

const started = await startServers(['kafka', 'ferretdb']);
if (started.failed.length) throw new Error(`servers did not start: ${started.failed.map((f) => `${f.name}: ${f.error.message}`).join('; ')} (run npm run servers:install)`);
const env = Object.assign({}, ...started.started.map((s) => s.env)) as Record<string, string>;
const brokers = [env.EW_KAFKA_BROKERS!];
const run = `bench-api-${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'edgewave-bench-api-'));
const topics = { inferences: `${run}.inferences`, sessions: `${run}.sessions`, status: `${run}.status` };
const kafka = new Kafka({ clientId: 'bench-api', brokers, logLevel: logLevel.NOTHING });
let child: ChildProcess | undefined;
const sockets: WebSocket[] = [];

function window(sensor: number, seq: number): WindowResult {
  const group = `g${sensor % 50}`;
  const now = Date.now() * 1000;
  const w: WindowResult = {
    sensorId: `s${sensor}`, gatewayId: `gw${sensor % 20}`, group, seq, t0: now - 1_280_000, t1: now, sampleRate: 200, hop: 256, layoutId: 0xe8d33268, source: 'edge',
    features: new Float32Array(16).fill(seq % 7), label: 'walking', scores: new Float32Array([0.1, 0.6, 0.1, 0.1, 0.1]),
  };
  return w;
}

/** 2,000 sessions in 50 groups, made by the processor's own session logic. */
async function seedSessions(db: string): Promise<number> {
  const mongo = await new MongoClient(env.EW_MONGODB_URL!).connect();
  const store = await SessionStore.open(mongo.db(db));
  const events: SessionEvent[] = [];
  const T0 = Date.UTC(2026, 10, 1) * 1000;
  for (let g = 0; g < 50; g++) {
    const state = newGroupState();
    for (let t = 0; t < 40 * 60; t += 1.28) {
      const active = t % 60 < 30;
      for (const sensorId of [`s${g}`, `s${g + 50}`]) {
        events.push(...observe(state, { sensorId, group: `g${g}`, t0: T0 + Math.round(t * 1e6), t1: T0 + Math.round((t + 1.28) * 1e6), stepS: 1.28, label: active ? 'walking' : 'idle', score: 0.9, features: {} }, { minSensors: 2, startAfterS: 2, idleGapS: 5, summaries: [], updateEveryS: 60, staleUs: 3e6 }, ['idle', 'walking', 'running', 'jumping', 'fall']));
      }
    }
  }
  // The database is new: the newest version of each session in one insertMany (the store's
  // versioned upserts cost FerretDB a scan each).
  const newest = new Map<string, ReturnType<typeof toDocument>>();
  for (const e of events) newest.set(e.session.sessionId, toDocument(e.session));
  await store.collection.insertMany([...newest.values()]);
  const n = await store.collection.countDocuments();
  await mongo.close();
  return n;
}

const percentile = (sorted: Float64Array, p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);

try {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  await admin.disconnect();
  const db = run.replace(/-/g, '_');
  const sessions = wsOnly ? 0 : await seedSessions(db);
  say(`bench:api: ${CLIENTS} WebSocket clients x ${PER_CLIENT} sensors, ${SENSORS} sensors at ${RATE}/s; ${sessions} sessions stored; API pinned to CPU ${hasTaskset ? CPU : '(not pinned)'}`);

  const file = join(dir, 'api.json');
  writeFileSync(file, JSON.stringify({
    http: { port: 0 },
    mongodb: { url: env.EW_MONGODB_URL, database: db },
    kafka: { brokers, topics, groupPrefix: run },
    auth: { keys: [{ id: 'bench', sha256: sha256Hex(KEY), scopes: ['read'] }], ratePerMinute: 100_000_000 },
    logLevel: 'warn',
  }));
  const args = [...(process.env.EW_BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean), join(root, 'bin/edgewave.js'), 'api', '--config', file];
  child = hasTaskset ? spawn('taskset', ['-c', CPU, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child!.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /REST on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child!.once('exit', (code) => reject(new Error(`api exited ${code}: ${err}`)));
  });
  const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;

  // The clients: each to 20 sensors spread over the pool, so each sensor has about CLIENTS * 20 / 1,000 subscribers.
  let measuring = false;
  let delivered = 0;
  let dropped = 0;
  const latencies: number[] = [];
  const T1 = /"t1":(\d+)/;
  for (let i = 0; i < CLIENTS; i++) {
    const ws = new WebSocket(wsUrl, { headers: { 'x-api-key': KEY }, perMessageDeflate: false });
    sockets.push(ws);
    ws.on('message', (d) => {
      const text = d.toString();
      if (text.startsWith('{"type":"dropped"')) dropped += (JSON.parse(text) as { count: number }).count;
      if (!measuring || !text.startsWith('{"type":"inferences"')) return;
      delivered++;
      latencies.push(Date.now() - Number(T1.exec(text)![1]) / 1000);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const sensors = Array.from({ length: PER_CLIENT }, (_, k) => `s${(i * 7 + k * 53) % SENSORS}`);
    ws.send(JSON.stringify({ op: 'subscribe', kinds: ['inferences'], sensors }));
  }
  say(`${CLIENTS} clients connected and subscribed`);

  // The producer: every 50 ms, a tenth of a second's records for a twentieth of... all sensors at RATE/s.
  // The baseline: a bare kafkajs consumer of the same topic (read_committed, the same fetch wait as
  // the API's feed, and as it no commit in the way of the next fetch), timed the same way, from
  // production to receipt.
  const bareLatencies: number[] = [];
  const bare = kafka.consumer({ groupId: `${run}-bare`, readUncommitted: false, maxWaitTimeInMs: 20 });
  await bare.connect();
  await bare.subscribe({ topic: topics.inferences, fromBeginning: false });
  await bare.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      if (!measuring) return;
      for (const m of batch.messages) for (const line of inferenceLines(m.value!.toString())) bareLatencies.push(now - Number(T1.exec(line)![1]) / 1000);
    },
  });
  const producer = kafka.producer();
  await producer.connect();
  let seq = 0;
  let producing = true;
  const perTick = (SENSORS * RATE) / 20;
  const ticker = (async () => {
    let next = performance.now();
    let cursor = 0;
    while (producing) {
      // As the processor writes them: windows of a group together, a JSON line each.
      const windows = [];
      for (let k = 0; k < perTick; k++) windows.push(window((cursor++) % SENSORS, seq++));
      await producer.send({ topic: topics.inferences, messages: inferenceMessages(windows, CLASSES) });
      next += 50;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  // The API's feed joins from the end: warm up until clients receive.
  await new Promise((r) => setTimeout(r, 8000));
  const cpu0 = procUsage(child.pid!).cpuS;
  const t0 = performance.now();
  measuring = true;
  let rss = 0;
  for (let s = 0; s < TRIAL_S * 4; s++) {
    await new Promise((r) => setTimeout(r, 250));
    rss = Math.max(rss, procUsage(child.pid!).rssMb);
  }
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (procUsage(child.pid!).cpuS - cpu0) / seconds;
  producing = false;
  await ticker;
  await producer.disconnect();
  const sorted = Float64Array.from(latencies).sort();
  const bareSorted = Float64Array.from(bareLatencies).sort();
  await bare.disconnect();
  for (const ws of sockets) ws.close();
  say(`delivered ${delivered} messages in ${seconds.toFixed(1)} s (expected about ${CLIENTS * PER_CLIENT * RATE}/s); dropped ${dropped}`);

  let rest: { rps: number; p99: number; non2xx: number; reads: number; pageReadMs: number } | null = null;
  if (!wsOnly) {
    const tp = performance.now();
    const probe = await fetch(`${url}/sessions?limit=20`, { headers: { 'x-api-key': KEY } });
    const pageReadMs = performance.now() - tp;
    say(`/sessions probe (read from MongoDB): ${probe.status}, ${(await probe.text()).length} bytes in ${pageReadMs.toFixed(1)} ms`);
    // How many answers MongoDB made (the rest were shared: rest.cacheMs, default 1 s).
    const mongoReads = async () => Number(/edgewave_api_cache_total\{result="miss"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
    const readsBefore = await mongoReads();
    // REST: /sessions pages, 10 connections, 10 s (30 s timeout), by autocannon in a process of its own.
    const run = spawnSync(join(root, 'node_modules/.bin/autocannon'), ['--json', '-c', '10', '-t', '30', '-d', String(process.env.EW_BENCH_REST_S ?? 10), '-H', `x-api-key=${KEY}`, `${url}/sessions?limit=20`], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const cannon = JSON.parse(run.stdout) as { requests: { average: number; total: number }; latency: { p99: number }; errors: number; timeouts: number; non2xx: number };
    const non2xx = cannon.non2xx;
    const reads = (await mongoReads()) - readsBefore;
    say(`/sessions: ${cannon.requests.total} requests, ${cannon.errors} errors, ${cannon.timeouts} timeouts, ${non2xx} not 2xx; ${reads} read from MongoDB, the rest shared`);
    rest = { rps: Math.round(cannon.requests.average), p99: cannon.latency.p99, non2xx, reads, pageReadMs: +pageReadMs.toFixed(1) };
  }

  const result = {
    ws_clients: CLIENTS,
    sensors_per_client: PER_CLIENT,
    msgs_per_s_delivered: Math.round(delivered / seconds),
    msgs_per_s_expected: CLIENTS * PER_CLIENT * RATE,
    p50_ms: +percentile(sorted, 0.5).toFixed(1),
    p99_ms: +percentile(sorted, 0.99).toFixed(1),
    bare_consumer_p50_ms: +percentile(bareSorted, 0.5).toFixed(1),
    bare_consumer_p99_ms: +percentile(bareSorted, 0.99).toFixed(1),
    max_ms: +percentile(sorted, 1).toFixed(1),
    dropped,
    api_cpu: +cpu.toFixed(3),
    api_rss_mb: Math.round(rss),
    ...(rest ? { rest_sessions_rps: rest.rps, rest_sessions_mongo_reads: rest.reads, rest_page_read_ms: rest.pageReadMs, rest_p99_ms: rest.p99, rest_non2xx: rest.non2xx } : {}),
  };
  if (json) console.log(JSON.stringify(result));
  else {
    console.log(`\n${'measure'.padEnd(34)} ${'value'.padStart(12)} ${'target'.padStart(10)}`);
    const rows: [string, number, string][] = [
      ['WebSocket clients', result.ws_clients, '1000'],
      ['messages/s delivered', result.msgs_per_s_delivered, String(result.msgs_per_s_expected)],
      ['delivery p50 ms', result.p50_ms, ''],
      ['delivery p99 ms', result.p99_ms, '<= 50'],
      ['bare consumer p50 ms (baseline)', result.bare_consumer_p50_ms, ''],
      ['bare consumer p99 ms (baseline)', result.bare_consumer_p99_ms, ''],
      ['dropped', result.dropped, '0'],
      ['API CPU (share of one core)', result.api_cpu, ''],
      ['API RSS MB', result.api_rss_mb, ''],
      ...(rest
        ? ([
            ['/sessions requests/s', rest.rps, '>= 2000'],
            ['/sessions p99 ms', rest.p99, ''],
            ['/sessions MongoDB reads in the run', rest.reads, ''],
            ['/sessions one page read ms', rest.pageReadMs, ''],
          ] as [string, number, string][])
        : []),
    ];
    for (const [k, v, t] of rows) console.log(`${k.padEnd(34)} ${String(v).padStart(12)} ${t.padStart(10)}`);
  }
} finally {
  for (const ws of sockets) ws.terminate();
  child?.kill('SIGTERM');
  if (child) await new Promise((r) => (child!.exitCode !== null ? r(null) : child!.once('exit', r)));
  rmSync(dir, { recursive: true, force: true });
  await stopServers(started.started);
}
